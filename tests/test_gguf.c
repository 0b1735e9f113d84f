/* test_gguf.c - the GGUF reader on real files and on files built here.
 *
 * A tiny GGUF file is written byte by byte by the builder below, straight
 * from the format's definition (not by strata code), with the position of
 * every interesting field recorded; each malformed case is that file with
 * one field patched. Every case must fail with rc -1 and a message that
 * names the field. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "quant.h"
#include "util.h"

/* ---- the builder ------------------------------------------------------ */

#define GB_CAP 4096

struct gb {
    uint8_t b[GB_CAP];
    size_t n;
    /* positions of fields (byte offsets into b) */
    size_t n_tensors, n_kv;
    size_t name_len;         /* general.name string length */
    size_t strs_count;       /* test.strs array count */
    size_t strs_etype;       /* test.strs element type */
    size_t u32s_count;       /* test.u32s array count */
    size_t u16_vtype;        /* test.u16 value type */
    size_t bool_val;         /* test.bool value */
    size_t align_vtype, align_val;
    size_t i8_key;           /* first byte of "test.i8" */
    size_t t_name[3], t_ndims[3], t_ne[3][4], t_type[3], t_off[3];
    size_t header_bytes, data_offset;
    uint64_t off[3];         /* tensor offsets as written */
    uint32_t alignment;
};

static void put(struct gb *g, const void *p, size_t n)
{
    CU_ASSERT_FATAL(g->n + n <= GB_CAP);
    memcpy(g->b + g->n, p, n);
    g->n += n;
}

/* little-endian explicitly, byte by byte, whatever the host */
static void put_le(struct gb *g, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(g, &c, 1);
    }
}
static void put_u32(struct gb *g, uint32_t v) { put_le(g, v, 4); }
static void put_u64(struct gb *g, uint64_t v) { put_le(g, v, 8); }

static void put_str(struct gb *g, const char *s)
{
    put_u64(g, strlen(s));
    put(g, s, strlen(s));
}

static void put_f32(struct gb *g, float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    put_u32(g, u);
}

/* key + value type; returns the position of the value type */
static size_t put_key(struct gb *g, const char *key, uint32_t vtype)
{
    put_str(g, key);
    size_t at = g->n;
    put_u32(g, vtype);
    return at;
}

static void patch_u32(uint8_t *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[at + i] = (uint8_t)(v >> (8 * i));
}

static void patch_u64(uint8_t *b, size_t at, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[at + i] = (uint8_t)(v >> (8 * i));
}

/* The tensors of the tiny file: F32 {4,2} (32 bytes), Q8_0 {32,2}
 * (2 blocks of 34 = 68 bytes), F16 {2,2,2,2} (32 bytes). */
static const char *const tiny_names[3] = {"tensor_a", "tensor_b", "tensor_c"};
static const uint32_t tiny_types[3] = {0 /* F32 */, 8 /* Q8_0 */, 1 /* F16 */};
static const uint32_t tiny_ndims[3] = {2, 2, 4};
static const uint64_t tiny_bytes[3] = {32, 68, 32};

/* Writes a valid GGUF v3 file into g; c_ne overrides tensor_c's shape
 * (NULL: {2,2,2,2}). */
static void gb_build(struct gb *g, uint32_t alignment, const uint64_t *c_ne)
{
    static const uint64_t ne_default[3][4] = {{4, 2, 1, 1}, {32, 2, 1, 1}, {2, 2, 2, 2}};
    memset(g, 0, sizeof *g);
    g->alignment = alignment;
    put_u32(g, 0x46554747u); /* "GGUF" */
    put_u32(g, 3);
    g->n_tensors = g->n;
    put_u64(g, 3);
    g->n_kv = g->n;
    put_u64(g, 18);

    /* 18 kv: every scalar type, a string, three arrays */
    put_key(g, "general.architecture", 8);
    put_str(g, "llama");
    g->align_vtype = put_key(g, "general.alignment", 4);
    g->align_val = g->n;
    put_u32(g, alignment);
    put_key(g, "test.u8", 0);
    put_le(g, 200, 1);
    g->i8_key = g->n + 8;
    put_key(g, "test.i8", 1);
    put_le(g, (uint8_t)-100, 1);
    g->u16_vtype = put_key(g, "test.u16", 2);
    put_le(g, 60000, 2);
    put_key(g, "test.i16", 3);
    put_le(g, (uint16_t)-30000, 2);
    put_key(g, "test.u32", 4);
    put_u32(g, 4000000000u);
    put_key(g, "test.i32", 5);
    put_u32(g, (uint32_t)-2000000000);
    put_key(g, "test.f32", 6);
    put_f32(g, 1.5f);
    put_key(g, "test.bool", 7);
    g->bool_val = g->n;
    put_le(g, 1, 1);
    put_key(g, "test.u64", 10);
    put_u64(g, (1ull << 40) + 3);
    put_key(g, "test.i64", 11);
    put_u64(g, (uint64_t)-(1ll << 40));
    put_key(g, "test.f64", 12);
    double d = -0.25;
    uint64_t du;
    memcpy(&du, &d, 8);
    put_u64(g, du);
    put_key(g, "general.name", 8);
    g->name_len = g->n;
    put_str(g, "tiny");
    put_key(g, "test.strs", 9);
    g->strs_etype = g->n;
    put_u32(g, 8);
    g->strs_count = g->n;
    put_u64(g, 3);
    put_str(g, "a");
    put_str(g, "bc");
    put_str(g, "");
    put_key(g, "test.u32s", 9);
    put_u32(g, 4);
    g->u32s_count = g->n;
    put_u64(g, 3);
    put_u32(g, 7);
    put_u32(g, 0xffffffffu);
    put_u32(g, 9);
    put_key(g, "test.f32s", 9);
    put_u32(g, 6);
    put_u64(g, 2);
    put_f32(g, 0.5f);
    put_f32(g, -2.0f);
    put_key(g, "test.big", 10);
    put_u64(g, 5000000000ull);

    /* tensor infos; offsets packed with padding to the alignment */
    uint64_t off = 0;
    for (int t = 0; t < 3; t++) {
        g->t_name[t] = g->n + 8;
        put_str(g, tiny_names[t]);
        g->t_ndims[t] = g->n;
        put_u32(g, tiny_ndims[t]);
        for (uint32_t k = 0; k < tiny_ndims[t]; k++) {
            g->t_ne[t][k] = g->n;
            put_u64(g, t == 2 && c_ne ? c_ne[k] : ne_default[t][k]);
        }
        g->t_type[t] = g->n;
        put_u32(g, tiny_types[t]);
        g->t_off[t] = g->n;
        g->off[t] = off;
        put_u64(g, off);
        off += (tiny_bytes[t] + alignment - 1) / alignment * alignment;
    }
    g->header_bytes = g->n;
    while (g->n % alignment)
        put_le(g, 0, 1);
    g->data_offset = g->n;
    /* data: byte k of tensor t is t * 64 + k; the last tensor ends the file */
    for (int t = 0; t < 3; t++) {
        while (g->n < g->data_offset + g->off[t])
            put_le(g, 0, 1);
        for (uint64_t k = 0; k < tiny_bytes[t]; k++)
            put_le(g, (uint64_t)(t * 64 + k) & 0xff, 1);
    }
}

/* Parses a patched copy; asserts failure and that the message holds word
 * (and word2 when given). */
static void expect_fail(const uint8_t *buf, size_t n, const char *word,
                        const char *word2)
{
    struct gguf_file f;
    struct st_err err = {""};
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    int rc = gguf_parse(&f, copy, n, "bad.gguf", &err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad.gguf: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, word));
    if (word2)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, word2));
    if (!strstr(err.msg, word) || (word2 && !strstr(err.msg, word2)))
        printf("\n  expected '%s'%s%s in: %s\n", word, word2 ? " and " : "",
               word2 ? word2 : "", err.msg);
    if (rc == 0)
        gguf_close(&f);
    free(copy);
}

static struct gb G; /* the valid tiny file, rebuilt by each test */

static void patch_case32(size_t at, uint32_t v, const char *word, const char *word2)
{
    uint8_t *b = malloc(G.n);
    memcpy(b, G.b, G.n);
    patch_u32(b, at, v);
    expect_fail(b, G.n, word, word2);
    free(b);
}

static void patch_case64(size_t at, uint64_t v, const char *word, const char *word2)
{
    uint8_t *b = malloc(G.n);
    memcpy(b, G.b, G.n);
    patch_u64(b, at, v);
    expect_fail(b, G.n, word, word2);
    free(b);
}

/* ---- (b) the tiny file: valid, then malformed ------------------------- */

static void test_tiny_valid(void)
{
    for (uint32_t al = 8; al <= 64; al *= 2) {
        gb_build(&G, al, NULL);
        struct gguf_file f;
        struct st_err err = {""};
        CU_ASSERT_EQUAL_FATAL(gguf_parse(&f, G.b, G.n, "tiny.gguf", &err), 0);
        CU_ASSERT_EQUAL(f.version, 3);
        CU_ASSERT_EQUAL(f.n_kv, 18);
        CU_ASSERT_EQUAL(f.n_tensors, 3);
        CU_ASSERT_EQUAL(f.alignment, al);
        CU_ASSERT_EQUAL(f.header_bytes, G.header_bytes);
        CU_ASSERT_EQUAL(f.data_offset, G.data_offset);
        CU_ASSERT_EQUAL(f.size, G.n);
        CU_ASSERT_EQUAL(f.fd, -1);
        CU_ASSERT_STRING_EQUAL(f.path, "tiny.gguf");
        CU_ASSERT_STRING_EQUAL(f.kv[0].key, "general.architecture");
        CU_ASSERT_STRING_EQUAL(f.kv[17].key, "test.big");
        for (int t = 0; t < 3; t++) {
            const struct gguf_tensor *x = gguf_find_tensor(&f, tiny_names[t]);
            CU_ASSERT_PTR_EQUAL_FATAL(x, &f.tensors[t]);
            CU_ASSERT_STRING_EQUAL(x->name, tiny_names[t]);
            CU_ASSERT_EQUAL(x->type, tiny_types[t]);
            CU_ASSERT_EQUAL(x->n_dims, tiny_ndims[t]);
            CU_ASSERT_EQUAL(x->n_bytes, tiny_bytes[t]);
            CU_ASSERT_EQUAL(x->offset, G.off[t]);
            CU_ASSERT_PTR_EQUAL(x->data, G.b + G.data_offset + G.off[t]);
            const uint8_t *d = x->data;
            CU_ASSERT_EQUAL(d[0], t * 64);
            CU_ASSERT_EQUAL(d[x->n_bytes - 1], (t * 64 + x->n_bytes - 1) & 0xff);
        }
        CU_ASSERT_EQUAL(f.tensors[0].ne[0], 4);
        CU_ASSERT_EQUAL(f.tensors[0].ne[1], 2);
        CU_ASSERT_EQUAL(f.tensors[0].ne[2], 1); /* unused dims are 1 */
        CU_ASSERT_EQUAL(f.tensors[0].ne[3], 1);
        CU_ASSERT_EQUAL(f.tensors[0].n_elems, 8);
        CU_ASSERT_EQUAL(f.tensors[1].n_elems, 64);
        CU_ASSERT_EQUAL(f.tensors[2].n_elems, 16);
        CU_ASSERT_PTR_NULL(gguf_find_tensor(&f, "tensor_d"));
        CU_ASSERT_PTR_NULL(gguf_find_kv(&f, "test"));
        gguf_close(&f);
        CU_ASSERT_PTR_NULL(f.tables);
        gguf_close(&f); /* twice is harmless */
    }
}

static void test_tiny_open_file(void)
{
    gb_build(&G, 32, NULL);
    const char *path = test_write_temp("tiny.gguf", G.b, G.n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    CU_ASSERT(f.fd >= 0);
    CU_ASSERT_EQUAL(f.size, G.n);
    CU_ASSERT_EQUAL(memcmp(f.map, G.b, G.n), 0);
    CU_ASSERT_STRING_EQUAL(f.path, path);
    gguf_close(&f);

    CU_ASSERT_EQUAL(gguf_open(&f, "/nonexistent/dir/x.gguf", &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "x.gguf"));
    const char *empty = test_write_temp("empty.gguf", "", 0);
    CU_ASSERT_EQUAL(gguf_open(&f, empty, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "magic"));
    gguf_close(&f); /* a failed open leaves a closable struct */
}

static void test_bad_header(void)
{
    gb_build(&G, 32, NULL);
    patch_case32(0, 0x46554746u, "magic", NULL);
    patch_case32(0, 0x47475546u, "magic", "big-endian");
    patch_case32(4, 1, "version", "1");
    patch_case32(4, 4, "version", "4");
    patch_case32(4, 0x03000000u, "version", "big-endian");
    patch_case64(G.n_tensors, 1ull << 63, "n_tensors", "9223372036854775808");
    patch_case64(G.n_kv, 1ull << 63, "n_kv", "9223372036854775808");
    patch_case64(G.n_kv, UINT64_MAX, "n_kv", NULL);
    /* plausible but wrong counts run into the tensor infos / end of file */
    patch_case64(G.n_tensors, 4, "tensor 3", NULL);
    patch_case64(G.n_kv, 19, "found", NULL); /* the tensor infos read as a kv */
}

static void test_truncated(void)
{
    gb_build(&G, 32, NULL);
    /* every prefix fails cleanly: the header region byte by byte, and the
     * data (the last tensor ends the file) */
    for (size_t n = 0; n < G.n; n++) {
        struct gguf_file f;
        struct st_err err = {""};
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, G.b, n);
        int rc = gguf_parse(&f, copy, n, "cut.gguf", &err);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT(strncmp(err.msg, "cut.gguf: ", 10) == 0);
        if (rc == 0) {
            printf("\n  prefix of %zu bytes accepted\n", n);
            gguf_close(&f);
        }
        free(copy);
    }
    /* a cut inside the data names the offset; inside a string its length */
    expect_fail(G.b, G.n - 1, "offset", "tensor_c");
    expect_fail(G.b, G.name_len + 10, "string length", "general.name");
    expect_fail(G.b, 3, "magic", NULL);
}

static void test_bad_values(void)
{
    gb_build(&G, 32, NULL);
    patch_case64(G.name_len, 1ull << 63, "length", "general.name");
    patch_case64(G.name_len, 1000, "length", "general.name");
    patch_case64(G.strs_count, 1ull << 63, "count", "test.strs");
    patch_case64(G.strs_count, 1000, "count", "test.strs");
    /* 2^62 uint32 elements: 2^64 bytes, the multiply overflows */
    patch_case64(G.u32s_count, 1ull << 62, "count", "test.u32s");
    patch_case64(G.u32s_count, UINT64_MAX, "count", "test.u32s");
    patch_case32(G.strs_etype, 9, "array", "nested");
    patch_case32(G.strs_etype, 13, "element type", "13");
    patch_case32(G.u16_vtype, 13, "value type", "test.u16");
    patch_case32(G.u16_vtype, 0xffffffffu, "value type", "4294967295");
    {
        uint8_t *b = malloc(G.n);
        memcpy(b, G.b, G.n);
        b[G.bool_val] = 2;
        expect_fail(b, G.n, "bool", "test.bool");
        /* duplicate keys: "test.i8" -> "test.u8" */
        memcpy(b, G.b, G.n);
        b[G.i8_key + 5] = 'u';
        expect_fail(b, G.n, "duplicate key", "test.u8");
        /* an empty key: length 0 where "general.architecture" was */
        memcpy(b, G.b, G.n);
        patch_u64(b, 24, 0);
        expect_fail(b, G.n, "key", NULL);
        free(b);
    }
    patch_case32(G.align_val, 0, "general.alignment", "power of two");
    patch_case32(G.align_val, 3, "general.alignment", "power of two");
    patch_case32(G.align_vtype, 5 /* int32 */, "general.alignment", "int32");
}

static void test_bad_tensors(void)
{
    gb_build(&G, 32, NULL);
    /* unknown type ids: a removed one and one past the table */
    patch_case32(G.t_type[1], 4, "type", "tensor_b");
    patch_case32(G.t_type[1], 99, "type", "99");
    patch_case32(G.t_ndims[0], 0, "n_dims", "tensor_a");
    patch_case32(G.t_ndims[2], 5, "n_dims", "tensor_c");
    patch_case64(G.t_ne[0][1], 0, "ne[1]", "tensor_a");
    {
        uint8_t *b = malloc(G.n);
        memcpy(b, G.b, G.n);
        patch_u64(b, G.t_ne[2][1], 1ull << 32);
        patch_u64(b, G.t_ne[2][2], 1ull << 32);
        expect_fail(b, G.n, "ne", "overflow");
        /* a product that fits in 64 bits but not in the file */
        memcpy(b, G.b, G.n);
        patch_u64(b, G.t_ne[2][3], 1ull << 40);
        expect_fail(b, G.n, "offset", "tensor_c");
        free(b);
    }
    patch_case64(G.t_ne[1][0], 33, "ne[0]", "block");
    patch_case64(G.t_ne[1][0], 16, "ne[0]", "Q8_0");
    patch_case64(G.t_off[1], G.off[1] + 1, "offset", "multiple of 32");
    patch_case64(G.t_off[2], G.off[2] + 32, "offset", "inside the file");
    patch_case64(G.t_off[2], UINT64_MAX - 31, "offset", "tensor_c");
    {
        uint8_t *b = malloc(G.n);
        memcpy(b, G.b, G.n);
        b[G.t_name[1] + 7] = 'a'; /* tensor_b -> tensor_a */
        expect_fail(b, G.n, "duplicate tensor name", "tensor_a");
        memcpy(b, G.b, G.n);
        b[G.t_name[1] + 7] = 0;
        expect_fail(b, G.n, "name", "NUL");
        free(b);
    }
    patch_case64(G.t_name[0] - 8, 65, "name length", "at most 64");
}

/* Types strata cannot compute with are still read (the loader refuses). */
static void test_unsupported_type_accepted(void)
{
    gb_build(&G, 32, NULL);
    uint8_t *b = malloc(G.n);
    memcpy(b, G.b, G.n);
    /* tensor_b: Q8_0 {32,2} -> IQ4_NL {32,2}: 2 blocks of 18 bytes */
    patch_u32(b, G.t_type[1], 20);
    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_parse(&f, b, G.n, "iq.gguf", &err), 0);
    CU_ASSERT_EQUAL(f.tensors[1].type, 20);
    CU_ASSERT_EQUAL(f.tensors[1].n_bytes, 36);
    CU_ASSERT_FALSE(ggml_type_get(f.tensors[1].type)->supported);
    gguf_close(&f);
    free(b);
}

/* ---- (c) getters ---------------------------------------------------- */

static void test_getters(void)
{
    gb_build(&G, 32, NULL);
    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_parse(&f, G.b, G.n, "tiny.gguf", &err), 0);
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    int32_t i32 = 0;
    float x = 0;
    bool bl = false;
    struct gguf_str s = {0, NULL};

    /* widening */
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "test.u8", &u32, &err), 0);
    CU_ASSERT_EQUAL(u32, 200);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "test.u16", &u32, &err), 0);
    CU_ASSERT_EQUAL(u32, 60000);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "test.u32", &u32, &err), 0);
    CU_ASSERT_EQUAL(u32, 4000000000u);
    CU_ASSERT_EQUAL(gguf_get_u64(&f, "test.u64", &u64, &err), 0);
    CU_ASSERT_EQUAL(u64, (1ull << 40) + 3);
    CU_ASSERT_EQUAL(gguf_get_u64(&f, "test.u8", &u64, &err), 0);
    CU_ASSERT_EQUAL(u64, 200);
    CU_ASSERT_EQUAL(gguf_get_i32(&f, "test.i8", &i32, &err), 0);
    CU_ASSERT_EQUAL(i32, -100);
    CU_ASSERT_EQUAL(gguf_get_i32(&f, "test.i16", &i32, &err), 0);
    CU_ASSERT_EQUAL(i32, -30000);
    CU_ASSERT_EQUAL(gguf_get_i32(&f, "test.i32", &i32, &err), 0);
    CU_ASSERT_EQUAL(i32, -2000000000);
    CU_ASSERT_EQUAL(gguf_get_i32(&f, "test.u16", &i32, &err), 0);
    CU_ASSERT_EQUAL(i32, 60000);
    CU_ASSERT_EQUAL(gguf_get_f32(&f, "test.f32", &x, &err), 0);
    CU_ASSERT_EQUAL(x, 1.5f);
    CU_ASSERT_EQUAL(gguf_get_f32(&f, "test.f64", &x, &err), 0);
    CU_ASSERT_EQUAL(x, -0.25f);
    CU_ASSERT_EQUAL(gguf_get_f32(&f, "test.i16", &x, &err), 0);
    CU_ASSERT_EQUAL(x, -30000.0f);
    CU_ASSERT_EQUAL(gguf_get_bool(&f, "test.bool", &bl, &err), 0);
    CU_ASSERT_TRUE(bl);
    CU_ASSERT_EQUAL(gguf_get_str(&f, "general.name", &s, &err), 0);
    CU_ASSERT_EQUAL(s.len, 4);
    CU_ASSERT_EQUAL(memcmp(s.ptr, "tiny", 4), 0);
    char buf[8];
    CU_ASSERT_STRING_EQUAL(gguf_str_copy(s, buf, sizeof buf), "tiny");
    CU_ASSERT_STRING_EQUAL(gguf_str_copy(s, buf, 3), "ti");

    /* the widened union fields */
    const struct gguf_kv *kv = gguf_find_kv(&f, "test.i64");
    CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
    CU_ASSERT_EQUAL(kv->type, GGUF_TYPE_INT64);
    CU_ASSERT_EQUAL(kv->v.i, -(1ll << 40));

    /* missing key: 1, out untouched */
    u32 = 12345;
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.block_count", &u32, &err), 1);
    CU_ASSERT_EQUAL(u32, 12345);
    x = 7.0f;
    CU_ASSERT_EQUAL(gguf_get_f32(&f, "nope", &x, &err), 1);
    CU_ASSERT_EQUAL(x, 7.0f);
    CU_ASSERT_EQUAL(gguf_get_str(&f, "nope", &s, &err), 1);

    /* wrong type or out of range: -1, naming the key; out untouched */
    u32 = 1;
    err.msg[0] = 0;
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "general.name", &u32, &err), -1);
    CU_ASSERT_EQUAL(u32, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "general.name"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "string"));
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "test.i8", &u32, &err), -1); /* negative */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "-100"));
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "test.big", &u32, &err), -1); /* 5e9 */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "5000000000"));
    CU_ASSERT_EQUAL(gguf_get_u64(&f, "test.i64", &u64, &err), -1);
    CU_ASSERT_EQUAL(gguf_get_i32(&f, "test.u32", &i32, &err), -1);
    CU_ASSERT_EQUAL(gguf_get_f32(&f, "general.name", &x, &err), -1);
    CU_ASSERT_EQUAL(gguf_get_bool(&f, "test.u8", &bl, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "test.u8"));
    CU_ASSERT_EQUAL(gguf_get_str(&f, "test.u8", &s, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "uint8"));
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "test.strs", &u32, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "array"));

    /* arrays */
    kv = gguf_find_kv(&f, "test.strs");
    CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
    CU_ASSERT_EQUAL(kv->type, GGUF_TYPE_ARRAY);
    CU_ASSERT_EQUAL(kv->arr_type, GGUF_TYPE_STRING);
    CU_ASSERT_EQUAL(kv->arr_n, 3);
    s = gguf_arr_str(kv, 0);
    CU_ASSERT(s.len == 1 && s.ptr[0] == 'a');
    s = gguf_arr_str(kv, 1);
    CU_ASSERT(s.len == 2 && memcmp(s.ptr, "bc", 2) == 0);
    CU_ASSERT_EQUAL(gguf_arr_str(kv, 2).len, 0);
    CU_ASSERT_EQUAL(kv->arr_str_off[1], 9); /* 8-byte length + "a" */
    kv = gguf_find_kv(&f, "test.u32s");
    CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
    CU_ASSERT_EQUAL(kv->arr_type, GGUF_TYPE_UINT32);
    CU_ASSERT_EQUAL(gguf_arr_i32(kv, 0), 7);
    CU_ASSERT_EQUAL(gguf_arr_i32(kv, 1), -1); /* 0xffffffff read as int32 */
    CU_ASSERT_EQUAL(gguf_arr_i32(kv, 2), 9);
    kv = gguf_find_kv(&f, "test.f32s");
    CU_ASSERT_PTR_NOT_NULL_FATAL(kv);
    CU_ASSERT_EQUAL(gguf_arr_f32(kv, 0), 0.5f);
    CU_ASSERT_EQUAL(gguf_arr_f32(kv, 1), -2.0f);

    CU_ASSERT_STRING_EQUAL(gguf_vtype_name(GGUF_TYPE_FLOAT64), "float64");
    CU_ASSERT_STRING_EQUAL(gguf_vtype_name(99), "unknown");
    gguf_close(&f);
}

/* ---- (d) fingerprint ------------------------------------------------- */

/* FNV-1a 64, written from its definition */
static uint64_t ref_fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t fingerprint_of(const uint8_t *b, size_t n)
{
    struct gguf_file f;
    struct st_err err = {""};
    if (gguf_parse(&f, b, n, "fp.gguf", &err) != 0) {
        CU_FAIL("fingerprint input did not parse");
        return 0;
    }
    uint64_t h = gguf_fingerprint(&f);
    gguf_close(&f);
    return h;
}

static void test_fingerprint(void)
{
    static struct gb a, b;
    gb_build(&a, 32, NULL);
    gb_build(&b, 32, NULL);
    uint64_t ha = fingerprint_of(a.b, a.n);
    CU_ASSERT_EQUAL(ha, ref_fnv1a(a.b, a.header_bytes));
    CU_ASSERT_EQUAL(ha, fingerprint_of(b.b, b.n)); /* same bytes, other buffer */
    b.b[b.n - 1] ^= 0xff;                          /* data is not fingerprinted */
    CU_ASSERT_EQUAL(ha, fingerprint_of(b.b, b.n));
    static const uint64_t other_ne[4] = {4, 2, 2, 1}; /* same bytes, other shape */
    gb_build(&b, 32, other_ne);
    CU_ASSERT_EQUAL(b.n, a.n);
    CU_ASSERT_NOT_EQUAL(ha, fingerprint_of(b.b, b.n));
}

/* ---- (a) real models -------------------------------------------------- */

static const struct gguf_kv *arr_kv(const struct gguf_file *f, const char *key,
                                    uint32_t etype, uint64_t n)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    CU_ASSERT_PTR_NOT_NULL(kv);
    if (!kv)
        return NULL;
    CU_ASSERT_EQUAL(kv->type, GGUF_TYPE_ARRAY);
    CU_ASSERT_EQUAL(kv->arr_type, etype);
    CU_ASSERT_EQUAL(kv->arr_n, n);
    return kv;
}

static int str_is(struct gguf_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* What every llama.cpp-written file satisfies: tensors packed in order,
 * each offset the previous end rounded up to the alignment. */
static void check_packed(const struct gguf_file *f)
{
    uint64_t next = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        CU_ASSERT_EQUAL(t->offset, next);
        CU_ASSERT_PTR_EQUAL(t->data, f->map + f->data_offset + t->offset);
        next = (t->offset + t->n_bytes + f->alignment - 1) / f->alignment * f->alignment;
    }
    CU_ASSERT(f->data_offset + next >= f->size - f->alignment);
    CU_ASSERT_EQUAL(f->data_offset % f->alignment, 0);
    CU_ASSERT(f->data_offset >= f->header_bytes);
}

/* stories260K and its re-encodings; emb_type/emb_bytes: token_embd.weight
 * {64, 512} (512 rows of 64: F32 256 B, F16/BF16 128 B, Q8_0 2 blocks of
 * 34 B, Q4_0 2 blocks of 18 B). */
static void check_stories(const char *path, uint32_t emb_type, uint64_t emb_bytes)
{
    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    struct gguf_str s;
    uint32_t u = 0;
    CU_ASSERT_EQUAL(gguf_get_str(&f, "general.architecture", &s, &err), 0);
    CU_ASSERT(str_is(s, "llama"));
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.embedding_length", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 64);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.block_count", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 5);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.attention.head_count", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 8);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.attention.head_count_kv", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 4);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, "llama.feed_forward_length", &u, &err), 0);
    CU_ASSERT_EQUAL(u, 172);
    CU_ASSERT_EQUAL(gguf_get_str(&f, "tokenizer.ggml.model", &s, &err), 0);
    CU_ASSERT(str_is(s, "llama"));
    const struct gguf_kv *tok = arr_kv(&f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, 512);
    if (tok) {
        CU_ASSERT(str_is(gguf_arr_str(tok, 0), "<unk>"));
        CU_ASSERT(str_is(gguf_arr_str(tok, 1), "<s>"));
        CU_ASSERT(str_is(gguf_arr_str(tok, 2), "</s>"));
        CU_ASSERT(str_is(gguf_arr_str(tok, 3), "<0x00>"));
    }
    arr_kv(&f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, 512);
    arr_kv(&f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, 512);
    CU_ASSERT_EQUAL(f.n_tensors, 3 + 5 * 9);
    const struct gguf_tensor *t = gguf_find_tensor(&f, "token_embd.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->type, emb_type);
    CU_ASSERT_EQUAL(t->n_dims, 2);
    CU_ASSERT_EQUAL(t->ne[0], 64);
    CU_ASSERT_EQUAL(t->ne[1], 512);
    CU_ASSERT_EQUAL(t->n_bytes, emb_bytes);
    t = gguf_find_tensor(&f, "blk.4.ffn_down.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->type, GGML_TYPE_F32); /* rows of 172: never quantized */
    CU_ASSERT_EQUAL(t->ne[0], 172);
    CU_ASSERT_EQUAL(t->ne[1], 64);
    t = gguf_find_tensor(&f, "output_norm.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(t->type == GGML_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 64);
    if (emb_type == GGML_TYPE_F32) {
        /* the bundled F32 file: the data pointer reads real floats */
        float first;
        memcpy(&first, t->data, 4);
        CU_ASSERT(first == first && first > -100 && first < 100);
    }
    check_packed(&f);
    CU_ASSERT_EQUAL(gguf_fingerprint(&f),
                    ref_fnv1a(f.map, f.header_bytes));
    gguf_close(&f);
}

static void test_models_stories(void)
{
    check_stories(test_bundled_model(), GGML_TYPE_F32, 512 * 64 * 4);
    static const struct {
        const char *file;
        uint32_t type;
        uint64_t bytes;
    } m[] = {
        {"stories260K.gguf", GGML_TYPE_F32, 512 * 64 * 4},
        {"stories260K-f16.gguf", GGML_TYPE_F16, 512 * 64 * 2},
        {"stories260K-bf16.gguf", GGML_TYPE_BF16, 512 * 64 * 2},
        {"stories260K-q8_0.gguf", GGML_TYPE_Q8_0, 512 * 2 * 34},
        {"stories260K-q4_0.gguf", GGML_TYPE_Q4_0, 512 * 2 * 18},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        const char *path = test_shared_model(m[i].file);
        if (!path) {
            test_skip("gguf/stories", m[i].file);
            continue;
        }
        check_stories(path, m[i].type, m[i].bytes);
    }
}

/* The zoo files: one tensor of every type the README lists. */
static void check_zoo(const char *file, const char *arch, const char *pre,
                      const char *const *types, int has_output)
{
    const char *path = test_shared_model(file);
    if (!path) {
        test_skip("gguf/zoo", file);
        return;
    }
    struct gguf_file f;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gguf_open(&f, path, &err), 0);
    struct gguf_str s;
    CU_ASSERT_EQUAL(gguf_get_str(&f, "general.architecture", &s, &err), 0);
    CU_ASSERT(str_is(s, arch));
    CU_ASSERT_EQUAL(gguf_get_str(&f, "tokenizer.ggml.model", &s, &err), 0);
    CU_ASSERT(str_is(s, "gpt2"));
    CU_ASSERT_EQUAL(gguf_get_str(&f, "tokenizer.ggml.pre", &s, &err), 0);
    CU_ASSERT(str_is(s, pre));
    bool add_bos = true;
    CU_ASSERT_EQUAL(gguf_get_bool(&f, "tokenizer.ggml.add_bos_token", &add_bos, &err), 0);
    CU_ASSERT_FALSE(add_bos);
    char key[64];
    uint32_t u = 0;
    snprintf(key, sizeof key, "%s.embedding_length", arch);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, key, &u, &err), 0);
    CU_ASSERT_EQUAL(u, 256);
    snprintf(key, sizeof key, "%s.block_count", arch);
    CU_ASSERT_EQUAL(gguf_get_u32(&f, key, &u, &err), 0);
    CU_ASSERT_EQUAL(u, 2);
    const struct gguf_kv *tok = arr_kv(&f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, 49152);
    if (tok)
        CU_ASSERT(str_is(gguf_arr_str(tok, 0), "<|endoftext|>"));
    const struct gguf_kv *merges = gguf_find_kv(&f, "tokenizer.ggml.merges");
    CU_ASSERT_PTR_NOT_NULL(merges);
    if (merges) {
        CU_ASSERT_EQUAL(merges->arr_type, GGUF_TYPE_STRING);
        CU_ASSERT(merges->arr_n > 1000);
    }
    for (int i = 0; types[i]; i++) {
        int want = ggml_type_from_name(types[i]), found = 0;
        for (uint64_t k = 0; k < f.n_tensors; k++)
            found |= f.tensors[k].type == (uint32_t)want;
        if (!found)
            printf("\n  %s: no tensor of type %s\n", file, types[i]);
        CU_ASSERT(found);
    }
    const struct gguf_tensor *t = gguf_find_tensor(&f, "blk.0.attn_q.weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->ne[0], 256);
    CU_ASSERT_EQUAL(t->ne[1], 256);
    /* bytes from the format: rows of 256 are whole 256-blocks (K types) */
    const struct ggml_type_info *ti = ggml_type_get(t->type);
    CU_ASSERT_EQUAL(t->n_bytes, 256ull * (256 / ti->blck_size) * ti->type_size);
    CU_ASSERT_EQUAL(gguf_find_tensor(&f, "output.weight") != NULL, has_output);
    check_packed(&f);
    gguf_close(&f);
}

static void test_models_zoo(void)
{
    static const char *const all[] = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
                                      "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                      "F16", "BF16", "F32", NULL};
    static const char *const no_q6k[] = {"Q2_K", "Q3_K", "Q4_K", "Q5_K",
                                         "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                         "F16", "BF16", "F32", NULL};
    check_zoo("zoo-llama-bpe.gguf", "llama", "smollm", all, 1);
    check_zoo("zoo-qwen2-bpe.gguf", "qwen2", "qwen2", no_q6k, 0);
}

void suite_gguf(void)
{
    CU_pSuite s = CU_add_suite("gguf", NULL, NULL);
    CU_add_test(s, "tiny file parses", test_tiny_valid);
    CU_add_test(s, "tiny file through open/mmap", test_tiny_open_file);
    CU_add_test(s, "bad header", test_bad_header);
    CU_add_test(s, "truncated at every byte", test_truncated);
    CU_add_test(s, "bad metadata values", test_bad_values);
    CU_add_test(s, "bad tensor infos", test_bad_tensors);
    CU_add_test(s, "unsupported types are read", test_unsupported_type_accepted);
    CU_add_test(s, "getters", test_getters);
    CU_add_test(s, "fingerprint", test_fingerprint);
    CU_add_test(s, "stories models", test_models_stories);
    CU_add_test(s, "zoo models", test_models_zoo);
}
