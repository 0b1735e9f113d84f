/* stream_cpu.c - the CPU engine's copy thread and slots (see stream_cpu.h).
 *
 * The ordering is src/stream.c's; this file adds the lock, the two
 * condition variables and the bytes. One mutex guards the ring; the copy
 * thread drops it while it moves a layer, the compute thread while it
 * computes one, so the two overlap exactly as far as the ring allows. */
#include "cpu/stream_cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aio.h"
#include "model.h"
#include "quantize.h"
#include "stream.h"

/* The matrices of a block: what travels through a slot. */
#define SC_N_MATS 7
static const size_t sc_mat_field[SC_N_MATS] = {
    offsetof(struct llm_layer, wq),       offsetof(struct llm_layer, wk),
    offsetof(struct llm_layer, wv),       offsetof(struct llm_layer, wo),
    offsetof(struct llm_layer, ffn_gate), offsetof(struct llm_layer, ffn_up),
    offsetof(struct llm_layer, ffn_down),
};

#define SC_HOST_ALIGN 64u  /* tensor starts in the host arena and tier-1 slots */
#define SC_DIO_ALIGN 4096u /* O_DIRECT: buffer, file offset and length multiple
                              (covers 512-byte and 4 KiB sectors) */

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static const struct gguf_tensor **mat_slot(struct llm_layer *L, int k)
{
    return (const struct gguf_tensor **)((char *)L + sc_mat_field[k]);
}

static const struct gguf_tensor *mat_of(const struct llm_layer *L, int k)
{
    return *(const struct gguf_tensor *const *)((const char *)L + sc_mat_field[k]);
}

/* One streamed layer: where its matrices sit in a slot and where the copy
 * thread takes them from. */
struct sc_src {
    uint32_t layer;
    uint8_t tier;                  /* 1 host arena, 2 model file */
    uint32_t type[SC_N_MATS];      /* tensor k as the slot holds it (tier 1:
                                      re-quantized by --stream-type) */
    uint64_t bytes[SC_N_MATS];
    uint64_t image_bytes;          /* bytes of a slot it fills */
    uint64_t data_off[SC_N_MATS];  /* tensor k's data, from the slot start */
    uint64_t host_off;             /* tier 1: its image in the host arena */
    /* tier 2: one aligned read per matrix */
    uint64_t span_off[SC_N_MATS];  /* where the read lands, from the slot start */
    uint64_t file_off[SC_N_MATS];  /* aligned file offset of the read */
    uint64_t span_len[SC_N_MATS];  /* bytes asked (aligned) */
    uint64_t need[SC_N_MATS];      /* bytes that must arrive: up to the tensor's end */
};

/* A streamed layer as seen in one slot: the model's llm_layer with its
 * matrices replaced by copies whose data points into the slot. */
struct sc_view {
    struct llm_layer L;
    struct gguf_tensor t[SC_N_MATS];
};

struct stream_cpu {
    const struct llm_model *m;
    uint32_t n_streamed, n_slots;
    uint32_t *streamed;     /* (n_streamed,) model layer of each, in order */
    uint32_t *index_of;     /* (n_layers,) streamed index, UINT32_MAX if resident */
    struct sc_src *src;     /* (n_streamed,) */
    struct sc_view *views;  /* (n_slots, n_streamed) */
    uint8_t *host;          /* the tier-1 host arena */
    uint8_t *slots;         /* (n_slots, slot_bytes), SC_DIO_ALIGN-aligned */
    uint64_t slot_bytes;
    int fd, fd_owned, direct; /* tier 2: the model file */
    struct aio *aio;          /* its reads, several in flight */
    const char *path;
    pthread_t thread;
    int thread_started, stop;
    pthread_mutex_t mu;
    pthread_cond_t can_copy;    /* a slot was released, or stop */
    pthread_cond_t can_compute; /* a slot was filled, or the copy side failed */
    struct stream_ring ring;
    struct stream_job cur;      /* the job being computed */
    struct stream_cpu_stats stats;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the copy thread ---------------------------------------------------------- */

/* Reads one aligned span, several requests in flight (aio.h); fails on an
 * error or when fewer than need bytes arrive (a truncated file). */
static int read_span(const struct stream_cpu *s, const struct gguf_tensor *t,
                     uint8_t *buf, uint64_t file_off, uint64_t len, uint64_t need,
                     struct st_err *err)
{
    char field[192], exp[64];
    snprintf(field, sizeof field, "tensor '%s' read at byte %llu", t->name,
             (unsigned long long)file_off);
    snprintf(exp, sizeof exp, "%llu bytes", (unsigned long long)need);
    int64_t got = aio_read(s->aio, buf, len, file_off, err);
    if (got < 0) /* the line names the tensor */
        return st_errf(err, s->path, field, exp, "a read error (%s)", strerror(errno));
    if ((uint64_t)got < need)
        return st_errf(err, s->path, field, exp, "%llu bytes (the file ends early)",
                       (unsigned long long)got);
    return 0;
}

/* Moves job's layer into job's slot. Runs without the lock: the ring made
 * the slot this thread's alone. */
static int copy_layer(struct stream_cpu *s, const struct stream_job *job,
                      uint64_t *bytes, struct st_err *err)
{
    const struct sc_src *src = &s->src[job->index];
    uint8_t *dst = s->slots + job->slot * s->slot_bytes;
    if (src->tier == 1) {
        memcpy(dst, s->host + src->host_off, src->image_bytes);
        *bytes = src->image_bytes;
        return 0;
    }
    const struct llm_layer *L = &s->m->layers[src->layer];
    *bytes = 0;
    for (int k = 0; k < SC_N_MATS; k++) {
        if (read_span(s, mat_of(L, k), dst + src->span_off[k], src->file_off[k],
                      src->span_len[k], src->need[k], err))
            return -1;
        *bytes += src->need[k];
    }
    return 0;
}

static void *copy_main(void *arg)
{
    struct stream_cpu *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct stream_job job;
        int rc = stream_copy_begin(&s->ring, &job);
        if (rc < 0)
            break;
        if (rc == 0) { /* every slot full: wait for a release */
            pthread_cond_wait(&s->can_copy, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        struct st_err err = {{0}};
        uint64_t t0 = now_ns(), bytes = 0;
        int bad = copy_layer(s, &job, &bytes, &err);
        uint64_t t1 = now_ns();
        pthread_mutex_lock(&s->mu);
        s->stats.copy_ns += t1 - t0;
        if (bad) {
            stream_fail(&s->ring, err.msg);
            pthread_cond_broadcast(&s->can_compute);
            break;
        }
        s->stats.bytes[s->src[job.index].tier] += bytes;
        stream_copy_end(&s->ring, &job);
        pthread_cond_broadcast(&s->can_compute);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- compute side -------------------------------------------------------------- */

int stream_cpu_streams(const struct stream_cpu *s, uint32_t l)
{
    return s && l < s->m->cfg.n_layers && s->index_of[l] != UINT32_MAX;
}

const struct llm_layer *stream_cpu_acquire(struct stream_cpu *s, uint32_t l,
                                           struct st_err *err)
{
    struct stream_job job;
    pthread_mutex_lock(&s->mu);
    int rc = stream_compute_begin(&s->ring, l, &job, err);
    if (rc == 0) { /* the copy is behind: a stall, counted */
        uint64_t t0 = now_ns();
        while ((rc = stream_compute_begin(&s->ring, l, &job, err)) == 0)
            pthread_cond_wait(&s->can_compute, &s->mu);
        s->stats.stall_ns += now_ns() - t0;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc < 0)
        return NULL;
    s->cur = job;
    return &s->views[(size_t)job.slot * s->n_streamed + job.index].L;
}

void stream_cpu_release(struct stream_cpu *s)
{
    pthread_mutex_lock(&s->mu);
    stream_compute_end(&s->ring, &s->cur);
    s->stats.layers++;
    pthread_cond_signal(&s->can_copy);
    pthread_mutex_unlock(&s->mu);
}

void stream_cpu_stats(struct stream_cpu *s, struct stream_cpu_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* ---- set-up ---------------------------------------------------------------------- */

/* Lays out streamed layer src->layer in a slot. Tier 1: matrices packed
 * SC_HOST_ALIGN-aligned, the same image as in the host arena (one memcpy).
 * Tier 2: each matrix in its own SC_DIO_ALIGN-aligned span covering the
 * aligned file range around it, the tensor at its offset inside. */
static void src_layout(const struct llm_model *m, struct sc_src *src, uint32_t stream_type)
{
    const struct llm_layer *L = &m->layers[src->layer];
    uint64_t at = 0;
    for (int k = 0; k < SC_N_MATS; k++) {
        const struct gguf_tensor *t = mat_of(L, k);
        src->type[k] = t->type;
        src->bytes[k] = t->n_bytes;
        if (src->tier == 1) {
            /* the host tier may hold it re-quantized (quantize.h: the rule
             * the plan counts with) */
            src->type[k] = quantize_stream_type(t->type, t->ne[0], stream_type);
            if (src->type[k] != t->type)
                src->bytes[k] = ggml_row_size(src->type[k], t->ne[0]) * t->ne[1];
            at = align_up(at, SC_HOST_ALIGN);
            src->data_off[k] = at;
            at += src->bytes[k];
            continue;
        }
        uint64_t fo = m->gguf.data_offset + t->offset;
        uint64_t lo = fo / SC_DIO_ALIGN * SC_DIO_ALIGN;
        at = align_up(at, SC_DIO_ALIGN);
        src->span_off[k] = at;
        src->file_off[k] = lo;
        src->need[k] = fo + t->n_bytes - lo;
        src->span_len[k] = align_up(src->need[k], SC_DIO_ALIGN);
        src->data_off[k] = at + (fo - lo);
        at += src->span_len[k];
    }
    src->image_bytes = at;
}

/* The tier-2 reader's descriptor: the model file reopened with O_DIRECT
 * (its own descriptor, so the mapping's is untouched), or, where the file
 * system refuses direct I/O, reopened plain, or the mapping's own. */
static void open_reader(struct stream_cpu *s)
{
    int fd = s->m->gguf.fd;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    s->fd = open(proc, O_RDONLY | O_DIRECT | O_CLOEXEC);
    s->direct = s->fd >= 0;
    if (s->fd < 0)
        s->fd = open(proc, O_RDONLY | O_CLOEXEC);
    s->fd_owned = s->fd >= 0;
    if (s->fd < 0)
        s->fd = fd;
}

static int check_tiers(const struct llm_model *m, const uint8_t *tier,
                       uint32_t *n_streamed, int *any_disk, struct st_err *err)
{
    *n_streamed = 0;
    *any_disk = 0;
    for (uint32_t l = 0; l < m->cfg.n_layers; l++) {
        if (tier[l] > 2) {
            char field[48];
            snprintf(field, sizeof field, "layer %u tier", l);
            return st_errf(err, "engine", field, "0 (resident), 1 (RAM) or 2 (disk)",
                           "%u", tier[l]);
        }
        *n_streamed += tier[l] != 0;
        *any_disk |= tier[l] == 2;
    }
    if (*any_disk && m->gguf.fd < 0)
        return st_errf(err, m->gguf.path ? m->gguf.path : "engine", "layer tier",
                       "0 or 1 (the model was not opened from a file)", "2 (disk)");
    return 0;
}

/* Builds the slot view of every (slot, streamed layer). */
static void build_views(struct stream_cpu *s)
{
    for (uint32_t slot = 0; slot < s->n_slots; slot++)
        for (uint32_t i = 0; i < s->n_streamed; i++) {
            const struct sc_src *src = &s->src[i];
            struct sc_view *v = &s->views[(size_t)slot * s->n_streamed + i];
            uint8_t *base = s->slots + slot * s->slot_bytes;
            v->L = s->m->layers[src->layer];
            for (int k = 0; k < SC_N_MATS; k++) {
                v->t[k] = *mat_of(&v->L, k);
                v->t[k].data = base + src->data_off[k];
                v->t[k].type = src->type[k];
                v->t[k].n_bytes = src->bytes[k];
                *mat_slot(&v->L, k) = &v->t[k];
            }
        }
}

struct stream_cpu *stream_cpu_init(const struct llm_model *m,
                                   const uint8_t *layer_tier, uint32_t n_slots,
                                   uint32_t stream_type, struct st_err *err)
{
    uint32_t n_layers = m->cfg.n_layers, n_streamed;
    int any_disk;
    if (err)
        err->msg[0] = 0;
    if (!layer_tier || check_tiers(m, layer_tier, &n_streamed, &any_disk, err))
        return NULL;
    if (n_streamed == 0)
        return NULL; /* err cleared: run resident */

    struct stream_cpu *s = calloc(1, sizeof *s);
    if (!s) {
        st_errmsg(err, "engine: out of memory for the streaming pipeline");
        return NULL;
    }
    s->m = m;
    s->path = m->gguf.path ? m->gguf.path : "model";
    s->fd = -1;
    s->n_streamed = n_streamed;
    s->n_slots = n_slots ? n_slots : 2;
    s->streamed = calloc(n_streamed, sizeof *s->streamed);
    s->index_of = calloc(n_layers, sizeof *s->index_of);
    s->src = calloc(n_streamed, sizeof *s->src);
    if (!s->streamed || !s->index_of || !s->src)
        goto oom;

    uint64_t host_bytes = 0, slot_bytes = 0;
    for (uint32_t l = 0, i = 0; l < n_layers; l++) {
        s->index_of[l] = layer_tier[l] ? i : UINT32_MAX;
        if (!layer_tier[l])
            continue;
        struct sc_src *src = &s->src[i];
        s->streamed[i++] = l;
        src->layer = l;
        src->tier = layer_tier[l];
        src_layout(m, src, stream_type);
        if (src->tier == 1) {
            src->host_off = host_bytes;
            host_bytes = align_up(host_bytes + src->image_bytes, SC_HOST_ALIGN);
        }
        if (src->image_bytes > slot_bytes)
            slot_bytes = src->image_bytes;
    }
    if (stream_ring_init(&s->ring, s->streamed, n_streamed, s->n_slots, err))
        goto fail;
    s->slot_bytes = align_up(slot_bytes, SC_DIO_ALIGN);

    s->views = calloc((size_t)s->n_slots * n_streamed, sizeof *s->views);
    s->slots = aligned_alloc(SC_DIO_ALIGN, s->n_slots * s->slot_bytes);
    if (host_bytes)
        s->host = aligned_alloc(SC_HOST_ALIGN, host_bytes);
    if (!s->views || !s->slots || (host_bytes && !s->host))
        goto oom;
    memset(s->slots, 0, s->n_slots * s->slot_bytes); /* deterministic, and faulted in */

    /* the host arena: tier-1 layers from the mapping, once (re-quantized
     * through an f32 row where --stream-type says so) */
    float *row = NULL;
    for (uint32_t i = 0; i < n_streamed; i++) {
        const struct sc_src *src = &s->src[i];
        if (src->tier != 1)
            continue;
        uint8_t *img = s->host + src->host_off;
        memset(img, 0, src->image_bytes);
        for (int k = 0; k < SC_N_MATS; k++) {
            const struct gguf_tensor *t = mat_of(&m->layers[src->layer], k);
            if (src->type[k] == t->type) {
                memcpy(img + src->data_off[k], t->data, t->n_bytes);
                continue;
            }
            if (!row) { /* one f32 row of the widest matrix, start-up only */
                uint64_t w = m->cfg.dim > m->cfg.ffn_dim ? m->cfg.dim : m->cfg.ffn_dim;
                uint64_t q = (uint64_t)m->cfg.n_heads * m->cfg.head_dim;
                if (!(row = malloc((w > q ? w : q) * sizeof *row)))
                    goto oom;
            }
            quantize_matrix(t->type, t->data, src->type[k], img + src->data_off[k], t->ne[1],
                            t->ne[0], row);
        }
    }
    free(row);
    build_views(s);
    if (any_disk) {
        open_reader(s);
        if (!(s->aio = aio_open(s->fd, s->path, AIO_DEFAULT_DEPTH, AIO_ANY, err)))
            goto fail;
    }

    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->can_copy, NULL);
    pthread_cond_init(&s->can_compute, NULL);
    if (pthread_create(&s->thread, NULL, copy_main, s)) {
        st_errmsg(err, "engine: cannot start the streaming copy thread");
        goto fail;
    }
    s->thread_started = 1;
    return s;
oom:
    st_errmsg(err, "engine: out of memory for the streaming pipeline (%u slots)",
              s->n_slots);
fail:
    stream_cpu_free(s);
    return NULL;
}

void stream_cpu_free(struct stream_cpu *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_broadcast(&s->can_copy);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    aio_close(s->aio);
    if (s->m && s->fd >= 0 && s->fd_owned)
        close(s->fd);
    free(s->streamed);
    free(s->index_of);
    free(s->src);
    free(s->views);
    free(s->slots);
    free(s->host);
    free(s);
}
