/* test_stream.c - the streaming pipeline (issue 6).
 *
 * First the state machine (src/stream.c) alone, no threads: the order of
 * jobs, slot reuse, wrap-around across tokens for N = 1..4, that a copy
 * never lands on a slot the compute side still holds, run-ahead into the
 * next token, failures. The expected job of every step comes from the
 * definition (job s: layer layers[s % S], slot s % N, token s / S), not
 * from the code under test.
 *
 * Then the CPU engine with its copy thread (src/cpu/stream_cpu.c): streamed
 * runs (all streamed, mixed, from disk, N = 2..4) give logits bit-identical
 * to a resident run on the bundled model and every model in
 * ../shared/models; a short read or a read error makes engine_forward
 * return NULL with one line, under alarm() so that a hang fails the run;
 * and no allocation happens across 20 tokens, counted by the malloc family
 * defined below. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "model.h"
#include "quant.h"
#include "stream.h"
#include "util.h"

/* ---- counting allocations --------------------------------------------------------
 * The test binary links the library statically and glibc dynamically;
 * these definitions take the place of glibc's for every caller (the
 * library, CUnit, glibc itself: pthread_create and stdio allocate through
 * them), so while alloc_counting is set every allocation in any thread is
 * counted. Sanitizer builds bring their own allocator: there the counting
 * test is skipped and these are not defined. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

static atomic_int alloc_counting;
static atomic_ulong alloc_count;

#if COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static void alloc_note(void)
{
    if (atomic_load_explicit(&alloc_counting, memory_order_relaxed))
        atomic_fetch_add(&alloc_count, 1);
}

void *malloc(size_t n)
{
    alloc_note();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    alloc_note();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    alloc_note();
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    alloc_note();
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    alloc_note();
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void free(void *p)
{
    __libc_free(p);
}
#endif

/* ---- the state machine, no threads -------------------------------------------- */

/* The job s must be, by stream.h's definition. */
static int job_is(const struct stream_job *j, uint64_t s, const uint32_t *layers,
                  uint32_t n_layers, uint32_t n_slots)
{
    return j->seq == s && j->layer == layers[s % n_layers] &&
           j->index == s % n_layers && j->slot == s % n_slots &&
           j->token == s / n_layers;
}

static void test_ring_init_bad(void)
{
    struct stream_ring r;
    struct st_err err = {{0}};
    uint32_t layers[2] = {0, 1};
    CU_ASSERT_EQUAL(stream_ring_init(&r, layers, 2, 0, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "slots: found 0"));
    CU_ASSERT_EQUAL(stream_ring_init(&r, layers, 2, STREAM_MAX_SLOTS + 1, &err), -1);
    CU_ASSERT_EQUAL(stream_ring_init(&r, layers, 0, 2, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "streamed layers: found 0"));
    CU_ASSERT_EQUAL(stream_ring_init(&r, layers, 2, STREAM_MAX_SLOTS, &err), 0);
}

/* Lock-step use (fill every free slot, compute one layer, repeat) over 7
 * tokens: every job is the defined one, slots wrap around, tokens follow
 * one another without a gap. */
static void test_ring_order(void)
{
    static const uint32_t layers[] = {1, 3, 4, 6, 7};
    for (uint32_t n = 1; n <= 4; n++)
        for (uint32_t S = 1; S <= 5; S++) {
            struct stream_ring r;
            struct st_err err = {{0}};
            CU_ASSERT_EQUAL_FATAL(stream_ring_init(&r, layers, S, n, &err), 0);
            uint64_t next_copy = 0, bad = 0;
            for (uint64_t s = 0; s < 7 * S; s++) {
                struct stream_job cj, j;
                /* at most n copies can be in the ring (bounded: a ring that
                 * overwrote slots would never say "full") */
                for (uint32_t k = 0; k <= n && stream_copy_begin(&r, &cj) == 1; k++) {
                    bad += !job_is(&cj, next_copy++, layers, S, n);
                    bad += stream_copy_end(&r, &cj) != 0;
                }
                /* exactly n jobs ahead of the compute side: the ring is full */
                bad += next_copy != s + n;
                bad += stream_compute_begin(&r, layers[s % S], &j, &err) != 1;
                bad += !job_is(&j, s, layers, S, n);
                bad += stream_compute_end(&r, &j) != 0;
            }
            CU_ASSERT_EQUAL(bad, 0);
            if (bad)
                printf("\n  ring order: N=%u S=%u: %llu wrong steps\n", n, S,
                       (unsigned long long)bad);
        }
}

/* A slot is reused only after its compute released it. */
static void test_ring_no_overwrite(void)
{
    static const uint32_t layers[] = {0, 1, 2};
    struct stream_ring r;
    struct st_err err = {{0}};
    struct stream_job c0, c1, c2, j;
    CU_ASSERT_EQUAL_FATAL(stream_ring_init(&r, layers, 3, 2, &err), 0);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c0), 1);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c1), 1);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c2), 0); /* both slots taken */
    /* the compute side may not take a job whose copy has not finished */
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 0, &j, &err), 0);
    CU_ASSERT_EQUAL(stream_copy_end(&r, &c1), 0); /* out of order is fine */
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 0, &j, &err), 0);
    CU_ASSERT_EQUAL(stream_copy_end(&r, &c0), 0);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c2), 0); /* filled, not computed */
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 0, &j, &err), 1);
    CU_ASSERT_EQUAL(j.slot, 0);
    CU_ASSERT_EQUAL(r.state[0], STREAM_SLOT_COMPUTING);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c2), 0); /* being computed on */
    CU_ASSERT_EQUAL(stream_compute_end(&r, &j), 0);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c2), 1); /* released: reused */
    CU_ASSERT_EQUAL(c2.slot, 0);
    CU_ASSERT_EQUAL(c2.layer, 2);
    /* ending the wrong job is refused and changes nothing */
    CU_ASSERT_EQUAL(stream_compute_end(&r, &j), -1);
    CU_ASSERT_EQUAL(stream_copy_end(&r, &j), -1);
    CU_ASSERT_EQUAL(r.state[0], STREAM_SLOT_COPYING);
}

/* Layers 1 and 3 of 4 stream through 2 slots: once token 0's layer 1 is
 * released, token 1's layer 1 is copied while token 0's layer 3 still
 * computes (and resident layers 0 and 2 would in between). */
static void test_ring_run_ahead(void)
{
    static const uint32_t layers[] = {1, 3};
    struct stream_ring r;
    struct st_err err = {{0}};
    struct stream_job c, j0, j1;
    CU_ASSERT_EQUAL_FATAL(stream_ring_init(&r, layers, 2, 2, &err), 0);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(stream_copy_begin(&r, &c), 1);
        stream_copy_end(&r, &c);
    }
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 1, &j0, &err), 1);
    CU_ASSERT_EQUAL(stream_compute_end(&r, &j0), 0);
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 3, &j1, &err), 1); /* token 0's last */
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c), 1);
    CU_ASSERT_EQUAL(c.token, 1);
    CU_ASSERT_EQUAL(c.layer, 1);
    CU_ASSERT_EQUAL(c.slot, 0);
    CU_ASSERT_EQUAL(j1.token, 0);
    CU_ASSERT_EQUAL(r.state[1], STREAM_SLOT_COMPUTING);
}

/* Random interleavings of the four actions, copies finishing out of
 * order, for N = 1..4 and 1..5 streamed layers. A model of the slots'
 * bytes checks that the compute side always reads the layer and token it
 * asked for, and that no copy begins on a slot holding unread or in-use
 * weights. */
static void test_ring_random(void)
{
    static const uint32_t layers[] = {0, 2, 5, 6, 9};
    uint64_t rng = 0x5eed;
    for (uint32_t n = 1; n <= 4; n++)
        for (uint32_t S = 1; S <= 5; S++) {
            struct stream_ring r;
            struct st_err err = {{0}};
            CU_ASSERT_EQUAL_FATAL(stream_ring_init(&r, layers, S, n, &err), 0);
            struct stream_job inflight[STREAM_MAX_SLOTS], cur;
            int n_inflight = 0, computing = 0;
            int64_t bytes[STREAM_MAX_SLOTS];   /* what each slot holds: token*100+layer */
            int busy[STREAM_MAX_SLOTS] = {0}; /* copying, filled or computing */
            uint64_t computed = 0, copies = 0, bad = 0;
            for (uint32_t i = 0; i < STREAM_MAX_SLOTS; i++)
                bytes[i] = -1;
            for (int step = 0; step < 4000; step++) {
                switch (test_rand_u64(&rng) % 4) {
                case 0: { /* copy begin */
                    struct stream_job c;
                    int rc = stream_copy_begin(&r, &c);
                    if (rc == 1) {
                        bad += !job_is(&c, copies++, layers, S, n);
                        bad += busy[c.slot] != 0; /* would overwrite */
                        busy[c.slot] = 1;
                        inflight[n_inflight++] = c;
                    }
                    /* 0 only when the defined slot is really busy */
                    if (rc == 0)
                        bad += !busy[copies % n];
                    break;
                }
                case 1: /* one in-flight copy finishes, any of them */
                    if (n_inflight) {
                        int k = (int)(test_rand_u64(&rng) % (uint64_t)n_inflight);
                        struct stream_job c = inflight[k];
                        inflight[k] = inflight[--n_inflight];
                        bytes[c.slot] = (int64_t)c.token * 100 + c.layer;
                        bad += stream_copy_end(&r, &c) != 0;
                    }
                    break;
                case 2: /* compute begin */
                    if (!computing) {
                        uint32_t want = layers[computed % S];
                        int rc = stream_compute_begin(&r, want, &cur, &err);
                        if (rc == 1) {
                            bad += !job_is(&cur, computed, layers, S, n);
                            bad += bytes[cur.slot] !=
                                   (int64_t)(computed / S) * 100 + want;
                            computing = 1;
                        }
                        bad += rc < 0;
                    }
                    break;
                case 3: /* compute end */
                    if (computing) {
                        bad += stream_compute_end(&r, &cur) != 0;
                        busy[cur.slot] = 0;
                        computing = 0;
                        computed++;
                    }
                    break;
                }
            }
            CU_ASSERT_EQUAL(bad, 0);
            CU_ASSERT(computed > 5 * S); /* it wrapped around over tokens */
            if (bad)
                printf("\n  ring random: N=%u S=%u: %llu violations\n", n, S,
                       (unsigned long long)bad);
        }
}

/* After a failure filled jobs still compute; the first unfilled one, and
 * every call after it, get the failure's line; the copy side stops. */
static void test_ring_fail(void)
{
    static const uint32_t layers[] = {4, 7};
    struct stream_ring r;
    struct st_err err = {{0}};
    struct stream_job c, j;
    CU_ASSERT_EQUAL_FATAL(stream_ring_init(&r, layers, 2, 3, &err), 0);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c), 1);
    stream_copy_end(&r, &c);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c), 1);
    stream_fail(&r, "m.gguf: tensor 'blk.7.ffn_up.weight' read: found 3 bytes, expected 9 bytes");
    stream_fail(&r, "a second failure is not kept");
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c), -1);
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 4, &j, &err), 1);
    stream_compute_end(&r, &j);
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 7, &j, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "blk.7.ffn_up.weight"));
    memset(&err, 0, sizeof err);
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 4, &j, &err), -1); /* sticky */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "blk.7.ffn_up.weight"));
}

static void test_ring_wrong_layer(void)
{
    static const uint32_t layers[] = {2, 5};
    struct stream_ring r;
    struct st_err err = {{0}};
    struct stream_job c, j;
    CU_ASSERT_EQUAL_FATAL(stream_ring_init(&r, layers, 2, 2, &err), 0);
    CU_ASSERT_EQUAL(stream_copy_begin(&r, &c), 1);
    stream_copy_end(&r, &c);
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 5, &j, &err), -1);
    CU_ASSERT_STRING_EQUAL(err.msg,
                           "stream: layer: found 5, expected 2 (streamed layers run in order)");
    CU_ASSERT_EQUAL(stream_compute_begin(&r, 2, &j, &err), 1);
}

/* ---- the CPU engine with its copy thread ----------------------------------------- */

#define RUN_TOKENS 6
#define RUN_CTX 32

/* Feeds RUN_TOKENS tokens and keeps every position's logits in out
 * (RUN_TOKENS, n_vocab): the first n_prefill as one prefill batch (the
 * streamed layers then pass their slots once for the batch), the rest one
 * by one. tier NULL: resident. Returns 0 or -1. */
static int run_logits(const struct llm_model *m, const uint8_t *tier, uint32_t n_slots,
                      uint32_t n_prefill, float *out, struct st_err *err)
{
    struct engine_opts o = {RUN_CTX, 2, tier, n_slots};
    struct engine *e = engine_init(m, &o, err);
    if (!e)
        return -1;
    uint32_t nv = m->cfg.n_vocab;
    int32_t toks[RUN_TOKENS];
    for (uint32_t p = 0; p < RUN_TOKENS; p++)
        toks[p] = (int32_t)((p * 37u + 1) % nv);
    struct engine_timeline t0, t1;
    engine_timeline(e, &t0);
    if (n_prefill && !engine_forward_batch(e, toks, n_prefill, 0, out, err)) {
        engine_free(e);
        return -1;
    }
    engine_timeline(e, &t1);
    if (n_prefill && tier) { /* each streamed layer passed its slot once for the batch */
        uint64_t streamed = 0;
        for (uint32_t l = 0; l < m->cfg.n_layers; l++)
            streamed += tier[l] != 0;
        CU_ASSERT_EQUAL(t1.streamed_layers - t0.streamed_layers, streamed);
    }
    for (uint32_t p = n_prefill; p < RUN_TOKENS; p++) {
        int32_t tok = toks[p];
        const float *lg = engine_forward(e, tok, p, err);
        if (!lg) {
            engine_free(e);
            return -1;
        }
        memcpy(out + (size_t)p * nv, lg, nv * sizeof(float));
    }
    engine_free(e);
    return 0;
}

enum pattern { ALL_RAM, EVERY_OTHER, ALL_DISK, MIXED, N_PATTERNS };
static const char *pattern_name[N_PATTERNS] = {"all RAM", "every other RAM",
                                               "all disk", "resident/RAM/disk"};

static void fill_tiers(uint8_t *tier, uint32_t n_layers, enum pattern p)
{
    for (uint32_t l = 0; l < n_layers; l++)
        tier[l] = p == ALL_RAM ? 1 : p == EVERY_OTHER ? (uint8_t)(l % 2)
                : p == ALL_DISK ? 2 : (uint8_t)(l % 3);
}

/* Every pattern at N = 2..4 against the resident run, bit for bit. */
static void check_identical(const char *path)
{
    struct llm_model m;
    struct st_err err = {{0}};
    if (model_load(&m, path, &err)) {
        CU_FAIL("model_load");
        printf("\n  %s\n", err.msg);
        return;
    }
    size_t n = (size_t)RUN_TOKENS * m.cfg.n_vocab;
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    uint8_t tier[256];
    CU_ASSERT_FATAL(ref && got && m.cfg.n_layers <= 256);
    alarm(120);
    CU_ASSERT_EQUAL_FATAL(run_logits(&m, NULL, 0, 0, ref, &err), 0);
    for (int p = 0; p < N_PATTERNS; p++)
        for (uint32_t slots = 2; slots <= 4; slots++)
            for (uint32_t n_prefill = 0; n_prefill <= 4; n_prefill += 4) {
                fill_tiers(tier, m.cfg.n_layers, (enum pattern)p);
                memset(got, 0xff, n * sizeof(float));
                int rc = run_logits(&m, tier, slots, n_prefill, got, &err);
                CU_ASSERT_EQUAL(rc, 0);
                int same = rc == 0 && memcmp(ref, got, n * sizeof(float)) == 0;
                CU_ASSERT(same);
                if (!same)
                    printf("\n  %s: %s, N=%u, prefill %u: %s\n", path, pattern_name[p],
                           slots, n_prefill, rc ? err.msg : "logits differ from the resident run");
            }
    alarm(0);
    free(ref);
    free(got);
    model_free(&m);
}

/* --stream-type: the blocks of the host tier re-quantized (here F32 ->
 * Q8_0 on the bundled model). Not bit-identical any more, but close; the
 * plan counts the same bytes the engine stores (quantize_stream_type). */
static void test_stream_type(void)
{
    struct llm_model m;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(model_load(&m, test_bundled_model(), &err), 0);
    uint32_t nv = m.cfg.n_vocab;
    float *ref = malloc(nv * sizeof(float)), *got = malloc(nv * sizeof(float));
    uint8_t tier[64];
    for (uint32_t l = 0; l < m.cfg.n_layers; l++)
        tier[l] = 1;
    for (int pass = 0; pass < 2; pass++) {
        struct engine_opts o = {RUN_CTX, 2, pass ? tier : NULL, 2,
                                pass ? (uint32_t)GGML_TYPE_Q8_0 : 0};
        struct engine *e = engine_init(&m, &o, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        const float *lg = NULL;
        for (uint32_t p = 0; p < RUN_TOKENS; p++)
            lg = engine_forward(e, (int32_t)((p * 37u + 1) % nv), p, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(lg);
        memcpy(pass ? got : ref, lg, nv * sizeof(float));
        engine_free(e);
    }
    double num = 0, den = 0;
    for (uint32_t i = 0; i < nv; i++) {
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    double rel = sqrt(num / den);
    printf("\n  stream type Q8_0 vs resident F32: logits rel L2 %.2e\n", rel);
    CU_ASSERT_TRUE(rel > 0);    /* the blocks were re-quantized */
    CU_ASSERT_TRUE(rel < 2e-2); /* and 8-bit blocks stay close */
    free(ref);
    free(got);
    model_free(&m);
}

static void test_identical_bundled(void)
{
    check_identical(test_bundled_model());
}

static void test_identical_shared(void)
{
    static const char *files[] = {"stories260K.gguf",      "stories260K-q8_0.gguf",
                                  "stories260K-q4_0.gguf", "stories260K-f16.gguf",
                                  "stories260K-bf16.gguf", "zoo-llama-bpe.gguf",
                                  "zoo-qwen2-bpe.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        const char *path = test_shared_model(files[i]);
        if (!path) {
            char what[128];
            snprintf(what, sizeof what, "stream/identical %s", files[i]);
            test_skip(what, "not in ../shared/models");
            continue;
        }
        check_identical(path);
    }
}

/* Loads a private copy of the bundled model (so it can be damaged). */
static const char *private_copy(const char *name)
{
    FILE *f = fopen(test_bundled_model(), "rb");
    if (!f)
        return NULL;
    static char buf[2 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return test_write_temp(name, buf, len);
}

/* The file loses the end of the last layer after start-up: the forward
 * that needs it returns NULL naming the tensor, and so does the next. */
static void test_short_read(void)
{
    const char *path = private_copy("stream-short.gguf");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", path);
    struct llm_model m;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(model_load(&m, copy, &err), 0);
    uint8_t tier[64];
    uint32_t last = m.cfg.n_layers - 1;
    fill_tiers(tier, m.cfg.n_layers, ALL_DISK);
    struct engine_opts o = {RUN_CTX, 2, tier, 2};
    struct engine *e = engine_init(&m, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    /* cut 1000 bytes into the last layer's ffn_up: with 2 slots its read
     * cannot have started yet (it waits for layer 2's slot) */
    const struct gguf_tensor *up = m.layers[last].ffn_up;
    CU_ASSERT_EQUAL_FATAL(truncate(copy, (off_t)(m.gguf.data_offset + up->offset + 1000)), 0);
    alarm(20);
    const float *lg = engine_forward(e, 1, 0, &err);
    CU_ASSERT_PTR_NULL(lg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, up->name));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "the file ends early"));
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
    memset(&err, 0, sizeof err);
    CU_ASSERT_PTR_NULL(engine_forward(e, 1, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, up->name));
    engine_free(e);
    alarm(0);
    model_free(&m);
}

/* The reader's file turns out to be a directory: a read error (EISDIR),
 * reported on the first streamed layer, no hang. */
static void test_read_error(void)
{
    struct llm_model m;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(model_load(&m, test_bundled_model(), &err), 0);
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    CU_ASSERT_FATAL(dir >= 0 && m.gguf.fd >= 0);
    CU_ASSERT_FATAL(dup2(dir, m.gguf.fd) == m.gguf.fd);
    close(dir);
    uint8_t tier[64];
    fill_tiers(tier, m.cfg.n_layers, MIXED); /* layer 2 is the first from disk */
    struct engine_opts o = {RUN_CTX, 2, tier, 3};
    struct engine *e = engine_init(&m, &o, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    alarm(20);
    CU_ASSERT_PTR_NULL(engine_forward(e, 1, 0, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "blk.2."));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "read error"));
    printf("\n  error line: %s\n", err.msg);
    engine_free(e);
    alarm(0);
    model_free(&m);
}

static void test_bad_opts(void)
{
    struct llm_model m;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(model_load(&m, test_bundled_model(), &err), 0);
    uint8_t tier[64] = {0, 3};
    struct engine_opts o = {RUN_CTX, 1, tier, 2};
    CU_ASSERT_PTR_NULL(engine_init(&m, &o, &err));
    CU_ASSERT_STRING_EQUAL(err.msg,
                           "engine: layer 1 tier: found 3, expected 0 (resident), 1 (RAM) or 2 (disk)");
    tier[1] = 1;
    o.n_slots = STREAM_MAX_SLOTS + 1;
    CU_ASSERT_PTR_NULL(engine_init(&m, &o, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "slots: found 17"));
    /* every tier 0: resident, no error */
    tier[1] = 0;
    o.n_slots = 0;
    struct engine *e = engine_init(&m, &o, &err);
    CU_ASSERT_PTR_NOT_NULL(e);
    engine_free(e);
    model_free(&m);
}

/* 20 tokens allocate nothing, streamed (every tier, 3 slots) or resident. */
static void test_no_alloc(void)
{
    if (!COUNT_ALLOCS) {
        test_skip("stream/no allocation", "sanitizer build (its own allocator)");
        return;
    }
    struct llm_model m;
    struct st_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(model_load(&m, test_bundled_model(), &err), 0);
    uint8_t tier[64];
    fill_tiers(tier, m.cfg.n_layers, MIXED);
    for (int streamed = 1; streamed >= 0; streamed--) {
        struct engine_opts o = {RUN_CTX, 2, streamed ? tier : NULL, 3};
        /* the counter sees the library's allocations (engine_init's) */
        atomic_store(&alloc_count, 0);
        atomic_store(&alloc_counting, 1);
        struct engine *e = engine_init(&m, &o, &err);
        atomic_store(&alloc_counting, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT(atomic_load(&alloc_count) > 0);
        int ok = 1;
        atomic_store(&alloc_count, 0);
        atomic_store(&alloc_counting, 1);
        for (uint32_t p = 0; p < 20; p++)
            ok &= engine_forward(e, (int32_t)(p * 11 + 1), p, &err) != NULL;
        atomic_store(&alloc_counting, 0);
        unsigned long n = atomic_load(&alloc_count);
        engine_free(e);
        CU_ASSERT(ok);
        CU_ASSERT_EQUAL(n, 0);
        if (n)
            printf("\n  %s: %lu allocations in 20 tokens\n",
                   streamed ? "streamed" : "resident", n);
    }
    model_free(&m);
}

void suite_stream(void)
{
    CU_pSuite s = CU_add_suite("stream", NULL, NULL);
    CU_add_test(s, "ring rejects bad sizes", test_ring_init_bad);
    CU_add_test(s, "ring order and wrap-around, N=1..4", test_ring_order);
    CU_add_test(s, "ring never overwrites a held slot", test_ring_no_overwrite);
    CU_add_test(s, "ring runs ahead into the next token", test_ring_run_ahead);
    CU_add_test(s, "ring random interleavings", test_ring_random);
    CU_add_test(s, "ring failure is sticky", test_ring_fail);
    CU_add_test(s, "ring refuses the wrong layer", test_ring_wrong_layer);
    CU_add_test(s, "engine rejects bad tiers and slots", test_bad_opts);
    CU_add_test(s, "streamed = resident logits, bundled model", test_identical_bundled);
    CU_add_test(s, "--stream-type re-quantizes the host tier", test_stream_type);
    CU_add_test(s, "streamed = resident logits, shared models", test_identical_shared);
    CU_add_test(s, "short read ends the forward, no hang", test_short_read);
    CU_add_test(s, "read error ends the forward, no hang", test_read_error);
    CU_add_test(s, "no allocation after start-up", test_no_alloc);
}
