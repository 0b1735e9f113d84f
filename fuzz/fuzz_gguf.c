/* fuzz_gguf.c - libFuzzer target for the GGUF reader.
 *
 * Parses the input as a whole GGUF file. When the reader accepts it, every
 * value it hands out is read in full (keys, strings, array elements,
 * tensor names, first and last byte of each tensor's data), so ASan sees
 * any pointer the reader let escape the buffer, and the lookups and getters
 * run on every key. The input is copied to an exact-size heap buffer so a
 * read one byte past the end is caught. See fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

static volatile uint64_t sink;

static void touch(const void *p, uint64_t n)
{
    const uint8_t *q = p;
    uint64_t h = 0;
    for (uint64_t i = 0; i < n; i++)
        h += q[i];
    sink += h;
}

static void walk_kv(const struct gguf_file *f, const struct gguf_kv *kv)
{
    struct st_err err;
    touch(kv->key, strlen(kv->key) + 1);
    if (gguf_find_kv(f, kv->key) != kv)
        abort(); /* keys are unique: lookup must find this very entry */
    uint32_t u32; uint64_t u64; int32_t i32; float x; bool b;
    struct gguf_str s;
    sink += (uint64_t)gguf_get_u32(f, kv->key, &u32, &err);
    sink += (uint64_t)gguf_get_u64(f, kv->key, &u64, &err);
    sink += (uint64_t)gguf_get_i32(f, kv->key, &i32, &err);
    sink += (uint64_t)gguf_get_f32(f, kv->key, &x, &err);
    sink += (uint64_t)gguf_get_bool(f, kv->key, &b, &err);
    if (gguf_get_str(f, kv->key, &s, &err) == 0)
        touch(s.ptr, s.len);
    if (kv->type != GGUF_TYPE_ARRAY)
        return;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        if (kv->arr_type == GGUF_TYPE_STRING) {
            struct gguf_str e = gguf_arr_str(kv, i);
            touch(e.ptr, e.len);
        } else {
            sink += (uint64_t)gguf_arr_i32(kv, i);
            float v = gguf_arr_f32(kv, i);
            touch(&v, sizeof v);
        }
    }
}

static void walk_tensor(const struct gguf_file *f, const struct gguf_tensor *t)
{
    touch(t->name, strlen(t->name) + 1);
    if (gguf_find_tensor(f, t->name) != t)
        abort();
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS || t->n_bytes == 0)
        abort(); /* the reader promised these */
    const uint8_t *d = t->data;
    sink += d[0] + d[t->n_bytes - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct gguf_file f;
    struct st_err err = {""};
    if (gguf_parse(&f, buf, size, "fuzz.gguf", &err) == 0) {
        for (uint64_t i = 0; i < f.n_kv; i++)
            walk_kv(&f, &f.kv[i]);
        for (uint64_t i = 0; i < f.n_tensors; i++)
            walk_tensor(&f, &f.tensors[i]);
        sink += gguf_fingerprint(&f);
        gguf_close(&f);
    } else if (memchr(err.msg, 0, sizeof err.msg) == NULL || err.msg[0] == 0) {
        abort(); /* a refusal must come with a message */
    }
    free(buf);
    return 0;
}
