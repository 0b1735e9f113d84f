/* gguf_write.c - the streaming GGUF v3 writer (see gguf_write.h).
 *
 * Everything before the tensor data is serialized into memory (meta: the
 * key/value bytes; the tensor table as structs) and written at begin. The
 * data goes through one 8 MiB buffer; a caller chunk as large as the
 * buffer bypasses it (after a flush, so order holds). */
#include "gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "quant.h"

#define GW_OUT_BUF (8u << 20) /* bytes per write() for small pieces */

struct gw_bytes {
    uint8_t *p;
    size_t len, cap;
};

struct gw_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t offset;  /* in the data section */
    uint64_t n_bytes;
};

struct gguf_writer {
    uint32_t alignment;
    uint64_t n_kv;
    struct gw_bytes meta;      /* serialized key/value pairs */
    uint64_t arr_left;         /* elements still owed to the open array */
    uint32_t arr_type;
    struct gw_tensor *t;
    uint32_t n_t, cap_t;
    uint64_t data_end;         /* unpadded end of the last tensor */
    char bad[160];             /* first misuse / allocation failure */

    /* writing */
    char *path;
    int fd;
    struct gw_bytes out;
    uint32_t cur;              /* tensor being written */
    uint64_t cur_done;         /* its bytes so far */
    uint64_t data_written;
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

static void gw_fail(struct gguf_writer *w, const char *what, const char *key)
{
    if (!w->bad[0])
        snprintf(w->bad, sizeof w->bad, "%s%s%s", what, key ? ": " : "",
                 key ? key : "");
}

/* ---- the metadata buffer ------------------------------------------------ */

static void bytes_put(struct gguf_writer *w, const void *p, size_t n)
{
    struct gw_bytes *b = &w->meta;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            gw_fail(w, "out of memory", NULL);
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* GGUF is little-endian; so are the machines strata targets (x86-64,
 * aarch64), so values are copied as they are in memory. */
static void put_u32(struct gguf_writer *w, uint32_t v) { bytes_put(w, &v, 4); }
static void put_u64(struct gguf_writer *w, uint64_t v) { bytes_put(w, &v, 8); }

static void put_str(struct gguf_writer *w, const char *s, size_t len)
{
    put_u64(w, len);
    bytes_put(w, s, len);
}

/* Starts a key: refuses it while an array is still open. */
static int key_begin(struct gguf_writer *w, const char *key, uint32_t vtype)
{
    if (w->arr_left) {
        gw_fail(w, "array elements missing before key", key);
        return -1;
    }
    put_str(w, key, strlen(key));
    put_u32(w, vtype);
    w->n_kv++;
    return 0;
}

void gguf_writer_kv_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
    if (key_begin(w, key, GGUF_TYPE_UINT32) == 0)
        put_u32(w, v);
}

void gguf_writer_kv_i32(struct gguf_writer *w, const char *key, int32_t v)
{
    if (key_begin(w, key, GGUF_TYPE_INT32) == 0)
        bytes_put(w, &v, 4);
}

void gguf_writer_kv_u64(struct gguf_writer *w, const char *key, uint64_t v)
{
    if (key_begin(w, key, GGUF_TYPE_UINT64) == 0)
        put_u64(w, v);
}

void gguf_writer_kv_f32(struct gguf_writer *w, const char *key, float v)
{
    if (key_begin(w, key, GGUF_TYPE_FLOAT32) == 0)
        bytes_put(w, &v, 4);
}

void gguf_writer_kv_bool(struct gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v ? 1 : 0;
    if (key_begin(w, key, GGUF_TYPE_BOOL) == 0)
        bytes_put(w, &b, 1);
}

void gguf_writer_kv_str(struct gguf_writer *w, const char *key, const char *v)
{
    if (key_begin(w, key, GGUF_TYPE_STRING) == 0)
        put_str(w, v, strlen(v));
}

void gguf_writer_kv_arr(struct gguf_writer *w, const char *key,
                        uint32_t elem_type, uint64_t n)
{
    if (elem_type == GGUF_TYPE_ARRAY || elem_type >= GGUF_TYPE_COUNT) {
        gw_fail(w, "bad array element type", key);
        return;
    }
    if (key_begin(w, key, GGUF_TYPE_ARRAY) != 0)
        return;
    put_u32(w, elem_type);
    put_u64(w, n);
    w->arr_left = n;
    w->arr_type = elem_type;
}

static int arr_elem(struct gguf_writer *w, uint32_t type)
{
    if (!w->arr_left || w->arr_type != type) {
        gw_fail(w, "array element outside an array of its type", NULL);
        return -1;
    }
    w->arr_left--;
    return 0;
}

void gguf_writer_arr_str(struct gguf_writer *w, const char *s, size_t len)
{
    if (arr_elem(w, GGUF_TYPE_STRING) == 0)
        put_str(w, s, len);
}

void gguf_writer_arr_f32(struct gguf_writer *w, float v)
{
    if (arr_elem(w, GGUF_TYPE_FLOAT32) == 0)
        bytes_put(w, &v, 4);
}

void gguf_writer_arr_i32(struct gguf_writer *w, int32_t v)
{
    if (arr_elem(w, GGUF_TYPE_INT32) == 0)
        bytes_put(w, &v, 4);
}

/* ---- the tensor table ---------------------------------------------------- */

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
                           uint32_t type, uint32_t n_dims, const uint64_t *ne)
{
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) {
        gw_fail(w, "tensor dims not in 1..4", name);
        return -1;
    }
    uint64_t rows = 1;
    for (uint32_t d = 1; d < n_dims; d++)
        rows *= ne[d];
    size_t row = ggml_row_size(type, ne[0]);
    if (!row || !rows) {
        gw_fail(w, "tensor row not whole blocks of its type", name);
        return -1;
    }
    if (w->n_t == w->cap_t) {
        uint32_t cap = w->cap_t ? 2 * w->cap_t : 64;
        struct gw_tensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) {
            gw_fail(w, "out of memory", NULL);
            return -1;
        }
        w->t = t;
        w->cap_t = cap;
    }
    struct gw_tensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) {
        gw_fail(w, "out of memory", NULL);
        return -1;
    }
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->offset = w->n_t ? align_up(w->data_end, w->alignment) : 0;
    t->n_bytes = (uint64_t)row * rows;
    w->data_end = t->offset + t->n_bytes;
    return (int)w->n_t++;
}

uint32_t gguf_writer_n_tensors(const struct gguf_writer *w) { return w->n_t; }

uint64_t gguf_writer_tensor_bytes(const struct gguf_writer *w, uint32_t i)
{
    return i < w->n_t ? w->t[i].n_bytes : 0;
}

uint64_t gguf_writer_tensor_offset(const struct gguf_writer *w, uint32_t i)
{
    return i < w->n_t ? w->t[i].offset : 0;
}

/* header: magic, version, n_tensors, n_kv; info: name, n_dims, ne, type,
 * offset */
static uint64_t header_bytes(const struct gguf_writer *w)
{
    uint64_t n = 4 + 4 + 8 + 8 + w->meta.len;
    for (uint32_t i = 0; i < w->n_t; i++)
        n += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
    return n;
}

uint64_t gguf_writer_data_offset(const struct gguf_writer *w)
{
    return align_up(header_bytes(w), w->alignment);
}

/* Every tensor, the last one included, is padded to the alignment, as
 * ggml's gguf writer does. */
uint64_t gguf_writer_file_size(const struct gguf_writer *w)
{
    return gguf_writer_data_offset(w) + align_up(w->data_end, w->alignment);
}

/* ---- lifetime ---------------------------------------------------------------- */

struct gguf_writer *gguf_writer_new(uint32_t alignment)
{
    if (alignment < 8 || (alignment & (alignment - 1)))
        return NULL;
    struct gguf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->alignment = alignment;
    w->fd = -1;
    return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) { /* never finished: the file is incomplete */
        close(w->fd);
        unlink(w->path);
    }
    for (uint32_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    free(w->meta.p);
    free(w->out.p);
    free(w->path);
    free(w);
}

/* ---- writing -------------------------------------------------------------------- */

static int write_fail(struct gguf_writer *w, struct st_err *err, const char *what)
{
    int e = errno;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
        unlink(w->path);
    }
    return st_errmsg(err, "%s: %s: %s", w->path ? w->path : "(gguf)", what,
                     e ? strerror(e) : "failed");
}

static int write_all(struct gguf_writer *w, const void *p, size_t n,
                     struct st_err *err)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(w->fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return write_fail(w, err, "write");
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int out_flush(struct gguf_writer *w, struct st_err *err)
{
    if (!w->out.len)
        return 0;
    int rc = write_all(w, w->out.p, w->out.len, err);
    w->out.len = 0;
    return rc;
}

static int out_put(struct gguf_writer *w, const void *p, size_t n,
                   struct st_err *err)
{
    if (w->out.len + n > w->out.cap && out_flush(w, err))
        return -1;
    if (n >= w->out.cap)
        return write_all(w, p, n, err);
    if (p)
        memcpy(w->out.p + w->out.len, p, n);
    else
        memset(w->out.p + w->out.len, 0, n);
    w->out.len += n;
    return 0;
}

int gguf_writer_begin(struct gguf_writer *w, const char *path,
                      struct st_err *err)
{
    if (w->arr_left)
        gw_fail(w, "array elements missing at the end of the metadata", NULL);
    if (w->bad[0])
        return st_errmsg(err, "%s: gguf writer: %s", path, w->bad);
    if (w->fd >= 0)
        return st_errmsg(err, "%s: gguf writer: begun twice", path);
    /* a writer may write its file more than once (same bytes each time) */
    free(w->path);
    free(w->out.p);
    w->out.len = 0;
    w->cur = 0;
    w->cur_done = 0;
    w->data_written = 0;
    w->path = strdup(path);
    w->out.p = malloc(GW_OUT_BUF);
    if (!w->path || !w->out.p)
        return st_errmsg(err, "%s: out of memory", path);
    w->out.cap = GW_OUT_BUF;
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return write_fail(w, err, "open");

    /* the header, the metadata and the tensor infos, then padding: all
     * small enough to go through the buffer except a huge vocabulary's
     * metadata, which out_put writes directly */
    uint8_t head[24];
    uint32_t magic = GGUF_MAGIC, version = 3;
    uint64_t n_t = w->n_t, n_kv = w->n_kv;
    memcpy(head, &magic, 4);
    memcpy(head + 4, &version, 4);
    memcpy(head + 8, &n_t, 8);
    memcpy(head + 16, &n_kv, 8);
    if (out_put(w, head, sizeof head, err) ||
        out_put(w, w->meta.p, w->meta.len, err))
        return -1;
    for (uint32_t i = 0; i < w->n_t; i++) {
        const struct gw_tensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        if (out_put(w, &len, 8, err) || out_put(w, t->name, len, err) ||
            out_put(w, &t->n_dims, 4, err) ||
            out_put(w, t->ne, 8 * (size_t)t->n_dims, err) ||
            out_put(w, &t->type, 4, err) || out_put(w, &t->offset, 8, err))
            return -1;
    }
    uint64_t hb = header_bytes(w);
    return out_put(w, NULL, align_up(hb, w->alignment) - hb, err);
}

int gguf_writer_data(struct gguf_writer *w, const void *buf, size_t n,
                     struct st_err *err)
{
    const uint8_t *p = buf;
    if (w->fd < 0)
        return st_errmsg(err, "%s: gguf writer: data outside begin/finish",
                         w->path ? w->path : "(gguf)");
    while (n) {
        if (w->cur >= w->n_t) {
            errno = 0;
            return write_fail(w, err, "more tensor data than the tensor table holds");
        }
        const struct gw_tensor *t = &w->t[w->cur];
        uint64_t left = t->n_bytes - w->cur_done;
        size_t take = n < left ? n : (size_t)left;
        if (out_put(w, p, take, err))
            return -1;
        p += take;
        n -= take;
        w->cur_done += take;
        w->data_written += take;
        if (w->cur_done == t->n_bytes) {
            uint64_t end = t->offset + t->n_bytes;
            if (out_put(w, NULL, align_up(end, w->alignment) - end, err))
                return -1;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return 0;
}

uint64_t gguf_writer_data_written(const struct gguf_writer *w)
{
    return w->data_written;
}

int gguf_writer_finish(struct gguf_writer *w, struct st_err *err)
{
    if (w->fd < 0)
        return st_errmsg(err, "%s: gguf writer: finish without begin",
                         w->path ? w->path : "(gguf)");
    if (w->cur != w->n_t) {
        char what[200];
        snprintf(what, sizeof what, "tensor '%s' incomplete (%llu of %llu bytes)",
                 w->t[w->cur].name, (unsigned long long)w->cur_done,
                 (unsigned long long)w->t[w->cur].n_bytes);
        errno = 0;
        return write_fail(w, err, what);
    }
    if (out_flush(w, err))
        return -1;
    if (close(w->fd) != 0) {
        w->fd = -1;
        unlink(w->path);
        return st_errmsg(err, "%s: close: %s", w->path, strerror(errno));
    }
    w->fd = -1;
    return 0;
}

void gguf_writer_abort(struct gguf_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
        unlink(w->path);
    }
}
