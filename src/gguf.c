/* gguf.c - the GGUF v2/v3 reader (see gguf.h).
 *
 * Layout of a GGUF file (all little-endian):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 vtype, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type,
 *                 u64 offset },
 *   padding to general.alignment, tensor data.
 * A string is u64 length + bytes (no NUL); an array value is u32 element
 * type + u64 count + elements.
 *
 * Parsing is two walks over the same bytes with the same code: the first
 * validates the structure and counts what the tables need (keys, names,
 * string-array elements), then ONE allocation is made, and the second walk
 * fills it. Checks that need the whole header (data offset, duplicates)
 * run after the second walk. Nothing is read before its bounds are known
 * to lie inside the buffer. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian fields with memcpy: a little-endian host is assumed"
#endif

#define GGUF_HEADER_BYTES 24    /* magic, version, n_tensors, n_kv */
#define GGUF_KV_MIN_BYTES 13    /* key length 8 + key >= 1 + vtype 4; the value
                                   adds >= 1 more, so 13 is a safe floor */
#define GGUF_TENSOR_MIN_BYTES 33 /* name length 8 + name >= 1 + n_dims 4 +
                                    ne 8 + type 4 + offset 8 */
#define GGUF_MAX_KEY 65535u
#define GGUF_MAX_NAME 64u       /* the spec: tensor names are at most 64 bytes */

/* Private header at the start of f->tables: hash sets for key and tensor
 * name lookups (open addressing, slot = index + 1, 0 = empty), and whether
 * f owns a mapping and a file descriptor. */
struct gguf_tables {
    uint64_t kv_mask;
    uint64_t t_mask;
    uint32_t *kv_hash;
    uint32_t *t_hash;
    int owns_map;
};

/* ---- the parse state ------------------------------------------------- */

struct parse {
    const uint8_t *b;      /* buffer */
    uint64_t size;         /* bytes */
    uint64_t pos;          /* read cursor */
    const char *file;      /* for messages */
    struct st_err *err;
    struct gguf_file *f;
    int fill;              /* 0: counting walk, 1: filling walk */

    /* what the message should name */
    const char *what;      /* "kv" or "tensor" */
    uint64_t idx;
    struct gguf_str name;  /* key or tensor name, once read */
    char field[192];

    /* counted by the first walk */
    uint64_t key_bytes;    /* keys + NULs */
    uint64_t name_bytes;   /* tensor names + NULs */
    uint64_t n_arr_str;    /* string-array elements */
    uint32_t alignment;

    /* filled by the second walk */
    char *chars;           /* next free byte for key/name copies */
    uint64_t *str_off;     /* next free string-array offset slot */
};

static const char *field(struct parse *p, const char *what)
{
    if (!p->what)
        snprintf(p->field, sizeof p->field, "%s", what);
    else if (p->name.ptr)
        snprintf(p->field, sizeof p->field, "%s %llu '%.*s' %s", p->what,
                 (unsigned long long)p->idx,
                 (int)(p->name.len > 64 ? 64 : p->name.len), p->name.ptr, what);
    else
        snprintf(p->field, sizeof p->field, "%s %llu %s", p->what,
                 (unsigned long long)p->idx, what);
    return p->field;
}

static int fail_short(struct parse *p, const char *what, uint64_t need)
{
    char exp[64];
    snprintf(exp, sizeof exp, "%llu bytes", (unsigned long long)need);
    return st_errf(p->err, p->file, field(p, what), exp,
                   "%llu bytes left at offset %llu",
                   (unsigned long long)(p->size - p->pos),
                   (unsigned long long)p->pos);
}

static uint64_t left(const struct parse *p)
{
    return p->size - p->pos;
}

static int rd(struct parse *p, void *out, uint64_t n, const char *what)
{
    if (left(p) < n)
        return fail_short(p, what, n);
    memcpy(out, p->b + p->pos, n);
    p->pos += n;
    return 0;
}

static int rd_u32(struct parse *p, uint32_t *v, const char *what)
{
    return rd(p, v, 4, what);
}

static int rd_u64(struct parse *p, uint64_t *v, const char *what)
{
    return rd(p, v, 8, what);
}

/* a*b into *r; 0 on success, -1 on uint64 overflow */
static int mul_u64(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_mul_overflow(a, b, r) ? -1 : 0;
}

static int add_u64(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_add_overflow(a, b, r) ? -1 : 0;
}

/* Reads a string's length and checks it against max and the bytes left;
 * s points into the buffer. */
static int rd_str(struct parse *p, struct gguf_str *s, uint64_t max,
                  const char *what)
{
    char w[64];
    snprintf(w, sizeof w, "%s length", what);
    uint64_t len = 0;
    if (rd_u64(p, &len, w) < 0)
        return -1;
    if (len > max) {
        char exp[64];
        snprintf(exp, sizeof exp, "at most %llu", (unsigned long long)max);
        return st_errf(p->err, p->file, field(p, w), exp, "%llu",
                       (unsigned long long)len);
    }
    if (len > left(p)) {
        char exp[80];
        snprintf(exp, sizeof exp, "at most the %llu bytes left at offset %llu",
                 (unsigned long long)left(p), (unsigned long long)p->pos);
        return st_errf(p->err, p->file, field(p, w), exp, "%llu",
                       (unsigned long long)len);
    }
    s->len = len;
    s->ptr = (const char *)p->b + p->pos;
    p->pos += len;
    return 0;
}

/* Keys and tensor names: 1..max bytes, no NUL inside (they are copied as C
 * strings and compared as such). */
static int rd_name(struct parse *p, struct gguf_str *s, uint64_t max,
                   const char *what)
{
    if (rd_str(p, s, max, what) < 0)
        return -1;
    if (s->len == 0)
        return st_errf(p->err, p->file, field(p, what), "a non-empty string",
                       "an empty string");
    if (memchr(s->ptr, 0, s->len))
        return st_errf(p->err, p->file, field(p, what),
                       "no NUL byte inside", "a NUL byte");
    return 0;
}

/* Copies a name into the character area (filling walk only). */
static const char *copy_name(struct parse *p, struct gguf_str s)
{
    char *c = p->chars;
    memcpy(c, s.ptr, s.len);
    c[s.len] = 0;
    p->chars += s.len + 1;
    return c;
}

/* ---- metadata values ------------------------------------------------- */

static const char *const vtype_names[GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

const char *gguf_vtype_name(uint32_t type)
{
    return type < GGUF_TYPE_COUNT ? vtype_names[type] : "unknown";
}

/* Bytes of a fixed-size value; 0 for string and array. */
static uint64_t vtype_size(uint32_t t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static int is_int_type(uint32_t t)
{
    return t <= GGUF_TYPE_INT32 || t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

static int is_signed_type(uint32_t t)
{
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 ||
           t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

static int check_vtype(struct parse *p, uint32_t t, const char *what)
{
    if (t >= GGUF_TYPE_COUNT)
        return st_errf(p->err, p->file, field(p, what),
                       "a value type 0..12", "%u", t);
    return 0;
}

/* Decodes a fixed-size scalar at q into kv->v (widened as gguf.h says). */
static void scalar_set(struct gguf_kv *kv, uint32_t t, const uint8_t *q)
{
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;
    float f32; double f64;
    switch (t) {
    case GGUF_TYPE_UINT8: kv->v.u = q[0]; break;
    case GGUF_TYPE_INT8: kv->v.i = (int8_t)q[0]; break;
    case GGUF_TYPE_BOOL: memcpy(&u8, q, 1); kv->v.b = u8 != 0; break;
    case GGUF_TYPE_UINT16: memcpy(&u16, q, 2); kv->v.u = u16; break;
    case GGUF_TYPE_INT16: memcpy(&u16, q, 2); kv->v.i = (int16_t)u16; break;
    case GGUF_TYPE_UINT32: memcpy(&u32, q, 4); kv->v.u = u32; break;
    case GGUF_TYPE_INT32: memcpy(&u32, q, 4); kv->v.i = (int32_t)u32; break;
    case GGUF_TYPE_FLOAT32: memcpy(&f32, q, 4); kv->v.f = f32; break;
    case GGUF_TYPE_UINT64: memcpy(&u64, q, 8); kv->v.u = u64; break;
    case GGUF_TYPE_INT64: memcpy(&u64, q, 8); kv->v.i = (int64_t)u64; break;
    case GGUF_TYPE_FLOAT64: memcpy(&f64, q, 8); kv->v.f = f64; break;
    }
}

/* An array value: element type, count, elements. */
static int parse_array(struct parse *p, struct gguf_kv *kv)
{
    uint32_t et = 0;
    uint64_t n = 0;
    if (rd_u32(p, &et, "array element type") < 0)
        return -1;
    if (et == GGUF_TYPE_ARRAY)
        return st_errf(p->err, p->file, field(p, "array element type"),
                       "a scalar or string type (nested arrays are not supported)",
                       "array");
    if (check_vtype(p, et, "array element type") < 0)
        return -1;
    if (rd_u64(p, &n, "array count") < 0)
        return -1;
    /* every element takes at least esize bytes (a string its length) */
    uint64_t esize = et == GGUF_TYPE_STRING ? 8 : vtype_size(et);
    uint64_t bytes;
    if (mul_u64(n, esize, &bytes) < 0 || bytes > left(p)) {
        char exp[96];
        snprintf(exp, sizeof exp, "at most %llu %s elements in the %llu bytes left",
                 (unsigned long long)(left(p) / esize), gguf_vtype_name(et),
                 (unsigned long long)left(p));
        return st_errf(p->err, p->file, field(p, "array count"), exp, "%llu",
                       (unsigned long long)n);
    }
    const uint8_t *data = p->b + p->pos;
    if (kv) {
        kv->arr_type = et;
        kv->arr_n = n;
        kv->arr_data = data;
    }
    if (et == GGUF_TYPE_STRING) {
        uint64_t *off = p->fill ? p->str_off : NULL;
        if (kv)
            kv->arr_str_off = off;
        for (uint64_t i = 0; i < n; i++) {
            struct gguf_str s;
            if (off)
                off[i] = (uint64_t)(p->b + p->pos - data);
            if (rd_str(p, &s, UINT64_MAX, "array string") < 0)
                return -1;
        }
        if (p->fill)
            p->str_off += n;
        else
            p->n_arr_str += n;
        return 0;
    }
    if (et == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (data[i] > 1)
                return st_errf(p->err, p->file, field(p, "array bool element"),
                               "0 or 1", "%u", data[i]);
    p->pos += bytes;
    return 0;
}

/* general.alignment: a nonzero power of two, stored as uint32. */
static int check_alignment(struct parse *p, const struct gguf_kv *kv)
{
    if (kv->type != GGUF_TYPE_UINT32)
        return st_errf(p->err, p->file, "general.alignment",
                       "a uint32 value", "type %s",
                       gguf_vtype_name(kv->type));
    if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)))
        return st_errf(p->err, p->file, "general.alignment",
                       "a nonzero power of two", "%llu",
                       (unsigned long long)kv->v.u);
    p->alignment = (uint32_t)kv->v.u;
    return 0;
}

static int parse_kv(struct parse *p, struct gguf_kv *kv)
{
    struct gguf_kv tmp;
    memset(&tmp, 0, sizeof tmp);
    struct gguf_kv *k = kv ? kv : &tmp;
    struct gguf_str key;
    if (rd_name(p, &key, GGUF_MAX_KEY, "key") < 0)
        return -1;
    p->name = key;
    if (rd_u32(p, &k->type, "value type") < 0 || check_vtype(p, k->type, "value type") < 0)
        return -1;
    if (k->type == GGUF_TYPE_ARRAY) {
        if (parse_array(p, k) < 0)
            return -1;
    } else if (k->type == GGUF_TYPE_STRING) {
        if (rd_str(p, &k->v.s, UINT64_MAX, "string") < 0)
            return -1;
    } else {
        uint64_t n = vtype_size(k->type);
        if (left(p) < n)
            return fail_short(p, "value", n);
        if (k->type == GGUF_TYPE_BOOL && p->b[p->pos] > 1)
            return st_errf(p->err, p->file, field(p, "bool value"), "0 or 1",
                           "%u", p->b[p->pos]);
        scalar_set(k, k->type, p->b + p->pos);
        p->pos += n;
    }
    if (key.len == 17 && memcmp(key.ptr, "general.alignment", 17) == 0 &&
        check_alignment(p, k) < 0)
        return -1;
    if (p->fill)
        k->key = copy_name(p, key);
    else
        p->key_bytes += key.len + 1;
    return 0;
}

/* ---- tensor infos ---------------------------------------------------- */

/* Shape and type: n_dims 1..4, each ne >= 1, element count and byte size
 * without overflow, ne[0] whole blocks, a known type id. */
static int check_tensor_shape(struct parse *p, struct gguf_tensor *t)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        char w[16];
        snprintf(w, sizeof w, "ne[%u]", d);
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return st_errf(p->err, p->file, field(p, w),
                           "1 .. 2^63-1", "%llu", (unsigned long long)t->ne[d]);
        if (mul_u64(n, t->ne[d], &n) < 0 || n > (uint64_t)INT64_MAX)
            return st_errf(p->err, p->file, field(p, "ne"),
                           "an element count below 2^63",
                           "a product of ne that overflows 64 bits at ne[%u]", d);
    }
    t->n_elems = n;
    const struct ggml_type_info *ti = ggml_type_get(t->type);
    if (!ti)
        return st_errf(p->err, p->file, field(p, "type"),
                       "a GGML type id (see quant.h)", "%u", t->type);
    if (t->ne[0] % ti->blck_size)
        return st_errf(p->err, p->file, field(p, "ne[0]"), "a multiple of the block size",
                       "%llu (%s blocks hold %u elements)",
                       (unsigned long long)t->ne[0], ti->name, ti->blck_size);
    uint64_t row, bytes;
    if (mul_u64(t->ne[0] / ti->blck_size, ti->type_size, &row) < 0 ||
        mul_u64(row, n / t->ne[0], &bytes) < 0)
        return st_errf(p->err, p->file, field(p, "size"),
                       "a byte size below 2^64", "an overflow (%llu elements of %s)",
                       (unsigned long long)n, ti->name);
    t->n_bytes = bytes;
    return 0;
}

static int parse_tensor(struct parse *p, struct gguf_tensor *t)
{
    struct gguf_tensor tmp;
    struct gguf_tensor *x = t ? t : &tmp;
    memset(x, 0, sizeof *x);
    struct gguf_str name;
    if (rd_name(p, &name, GGUF_MAX_NAME, "name") < 0)
        return -1;
    p->name = name;
    if (rd_u32(p, &x->n_dims, "n_dims") < 0)
        return -1;
    if (x->n_dims < 1 || x->n_dims > GGUF_MAX_DIMS)
        return st_errf(p->err, p->file, field(p, "n_dims"), "1..4", "%u", x->n_dims);
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        x->ne[d] = 1;
    for (uint32_t d = 0; d < x->n_dims; d++)
        if (rd_u64(p, &x->ne[d], "ne") < 0)
            return -1;
    if (rd_u32(p, &x->type, "type") < 0 || rd_u64(p, &x->offset, "offset") < 0)
        return -1;
    if (check_tensor_shape(p, x) < 0)
        return -1;
    if (p->fill)
        x->name = copy_name(p, name);
    else
        p->name_bytes += name.len + 1;
    return 0;
}

/* Data placement, once the data offset is known: aligned offset, and
 * data_offset + offset + n_bytes inside the buffer. */
static int check_tensor_data(struct parse *p, struct gguf_tensor *t)
{
    struct gguf_file *f = p->f;
    if (t->offset % f->alignment) {
        char exp[64];
        snprintf(exp, sizeof exp, "a multiple of %u", f->alignment);
        return st_errf(p->err, p->file, field(p, "offset"), exp, "%llu",
                       (unsigned long long)t->offset);
    }
    uint64_t start, end;
    if (add_u64(f->data_offset, t->offset, &start) < 0 ||
        add_u64(start, t->n_bytes, &end) < 0 || end > f->size) {
        char exp[96];
        snprintf(exp, sizeof exp, "data inside the file (%llu bytes, data at %llu)",
                 (unsigned long long)f->size, (unsigned long long)f->data_offset);
        return st_errf(p->err, p->file, field(p, "offset"), exp,
                       "offset %llu + %llu bytes",
                       (unsigned long long)t->offset, (unsigned long long)t->n_bytes);
    }
    t->data = f->map + start;
    return 0;
}

/* ---- the walks --------------------------------------------------------- */

static int parse_header(struct parse *p)
{
    struct gguf_file *f = p->f;
    uint32_t magic = 0;
    if (rd_u32(p, &magic, "magic") < 0)
        return -1;
    if (magic != GGUF_MAGIC) {
        if (magic == __builtin_bswap32(GGUF_MAGIC))
            return st_errf(p->err, p->file, "magic",
                           "\"GGUF\" (a little-endian GGUF file)",
                           "\"FUGG\" (a big-endian file)");
        return st_errf(p->err, p->file, "magic", "0x46554747 (\"GGUF\")",
                       "0x%08x", magic);
    }
    if (rd_u32(p, &f->version, "version") < 0)
        return -1;
    if (f->version == 1)
        return st_errf(p->err, p->file, "version",
                       "2 or 3 (GGUF v1 is not supported: convert the file again)",
                       "1");
    if (f->version != 2 && f->version != 3) {
        uint32_t sw = __builtin_bswap32(f->version);
        if (sw >= 1 && sw <= 3)
            return st_errf(p->err, p->file, "version", "2 or 3, little-endian",
                           "0x%08x (version %u of a big-endian file)",
                           f->version, sw);
        return st_errf(p->err, p->file, "version", "2 or 3", "%u", f->version);
    }
    if (rd_u64(p, &f->n_tensors, "n_tensors") < 0 ||
        rd_u64(p, &f->n_kv, "n_kv") < 0)
        return -1;
    /* refuse counts the file cannot hold before anything is sized by them */
    uint64_t room = left(p);
    char exp[96];
    if (f->n_kv > room / GGUF_KV_MIN_BYTES || f->n_kv > UINT32_MAX - 1) {
        snprintf(exp, sizeof exp, "at most %llu for a file of %llu bytes",
                 (unsigned long long)(room / GGUF_KV_MIN_BYTES),
                 (unsigned long long)p->size);
        return st_errf(p->err, p->file, "n_kv", exp, "%llu",
                       (unsigned long long)f->n_kv);
    }
    room -= f->n_kv * GGUF_KV_MIN_BYTES;
    if (f->n_tensors > room / GGUF_TENSOR_MIN_BYTES || f->n_tensors > UINT32_MAX - 1) {
        snprintf(exp, sizeof exp, "at most %llu for a file of %llu bytes",
                 (unsigned long long)(room / GGUF_TENSOR_MIN_BYTES),
                 (unsigned long long)p->size);
        return st_errf(p->err, p->file, "n_tensors", exp, "%llu",
                       (unsigned long long)f->n_tensors);
    }
    return 0;
}

/* One walk over header, kvs and tensor infos; fill selects the pass. */
static int walk(struct parse *p, int fill)
{
    struct gguf_file *f = p->f;
    p->fill = fill;
    p->pos = 0;
    p->what = NULL;
    p->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (parse_header(p) < 0)
        return -1;
    p->what = "kv";
    for (uint64_t i = 0; i < f->n_kv; i++) {
        p->idx = i;
        p->name.ptr = NULL;
        if (parse_kv(p, fill ? &f->kv[i] : NULL) < 0)
            return -1;
    }
    p->what = "tensor";
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        p->idx = i;
        p->name.ptr = NULL;
        if (parse_tensor(p, fill ? &f->tensors[i] : NULL) < 0)
            return -1;
    }
    p->what = NULL;
    f->alignment = p->alignment;
    f->header_bytes = p->pos;
    uint64_t pad = (f->alignment - p->pos % f->alignment) % f->alignment;
    if (add_u64(p->pos, pad, &f->data_offset) < 0)
        return st_errf(p->err, p->file, "data offset", "below 2^64", "an overflow");
    return 0;
}

/* ---- hash sets for names --------------------------------------------- */

static uint64_t fnv1a(const void *buf, size_t n, uint64_t h)
{
    const uint8_t *q = buf;
    for (size_t i = 0; i < n; i++) {
        h ^= q[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ull

static uint64_t hash_cap(uint64_t n)
{
    uint64_t cap = 1;
    while (cap < 2 * n)
        cap <<= 1;
    return cap;
}

/* Inserts names[idx]; returns the index of an equal name already present,
 * or -1. get(i) yields the i-th name. */
static int64_t hash_insert(uint32_t *slots, uint64_t mask, const char *name,
                           uint32_t idx, const char *(*get)(const struct gguf_file *, uint32_t),
                           const struct gguf_file *f)
{
    uint64_t h = fnv1a(name, strlen(name), FNV_OFFSET) & mask;
    while (slots[h]) {
        uint32_t j = slots[h] - 1;
        if (strcmp(get(f, j), name) == 0)
            return j;
        h = (h + 1) & mask;
    }
    slots[h] = idx + 1;
    return -1;
}

static const char *kv_name(const struct gguf_file *f, uint32_t i)
{
    return f->kv[i].key;
}

static const char *tensor_name(const struct gguf_file *f, uint32_t i)
{
    return f->tensors[i].name;
}

static int64_t hash_find(const uint32_t *slots, uint64_t mask, const char *name,
                         const char *(*get)(const struct gguf_file *, uint32_t),
                         const struct gguf_file *f)
{
    uint64_t h = fnv1a(name, strlen(name), FNV_OFFSET) & mask;
    while (slots[h]) {
        uint32_t j = slots[h] - 1;
        if (strcmp(get(f, j), name) == 0)
            return j;
        h = (h + 1) & mask;
    }
    return -1;
}

/* ---- open / parse / close ------------------------------------------- */

static uint64_t round8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static int parse_buffer(struct gguf_file *f, const void *buf, size_t size,
                        const char *name, struct st_err *err)
{
    struct parse p;
    memset(&p, 0, sizeof p);
    p.b = buf;
    p.size = size;
    p.file = name;
    p.err = err;
    p.f = f;
    f->map = buf;
    f->size = size;
    if (walk(&p, 0) < 0)
        return -1;

    /* one allocation: header, kv, tensors, string-array offsets, hash
     * slots, then key/name/path characters. Every term is bounded by the
     * file size (each counted item occupies file bytes). */
    uint64_t cap_kv = hash_cap(f->n_kv), cap_t = hash_cap(f->n_tensors);
    size_t path_len = strlen(name) + 1;
    uint64_t o_kv = round8(sizeof(struct gguf_tables));
    uint64_t o_t = o_kv + round8(f->n_kv * sizeof(struct gguf_kv));
    uint64_t o_off = o_t + round8(f->n_tensors * sizeof(struct gguf_tensor));
    uint64_t o_hkv = o_off + p.n_arr_str * 8;
    uint64_t o_ht = o_hkv + round8(cap_kv * 4);
    uint64_t o_ch = o_ht + round8(cap_t * 4);
    uint64_t total = o_ch + p.key_bytes + p.name_bytes + path_len;
    uint8_t *mem = calloc(1, total);
    if (!mem)
        return st_errmsg(err, "%s: out of memory (%llu bytes for the tables)",
                         name, (unsigned long long)total);
    struct gguf_tables *tab = (struct gguf_tables *)mem;
    tab->kv_mask = cap_kv - 1;
    tab->t_mask = cap_t - 1;
    tab->kv_hash = (uint32_t *)(mem + o_hkv);
    tab->t_hash = (uint32_t *)(mem + o_ht);
    f->tables = mem;
    f->kv = (struct gguf_kv *)(mem + o_kv);
    f->tensors = (struct gguf_tensor *)(mem + o_t);
    p.str_off = (uint64_t *)(mem + o_off);
    p.chars = (char *)(mem + o_ch);
    f->path = memcpy(mem + total - path_len, name, path_len);
    p.file = f->path;

    if (walk(&p, 1) < 0)
        return -1;

    p.what = "kv";
    for (uint64_t i = 0; i < f->n_kv; i++) {
        int64_t j = hash_insert(tab->kv_hash, tab->kv_mask, f->kv[i].key,
                                (uint32_t)i, kv_name, f);
        if (j >= 0) {
            char exp[64];
            snprintf(exp, sizeof exp, "unique keys (kv %lld has it too)", (long long)j);
            return st_errf(err, f->path, "duplicate key", exp, "'%s' at kv %llu",
                           f->kv[i].key, (unsigned long long)i);
        }
    }
    p.what = "tensor";
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        int64_t j = hash_insert(tab->t_hash, tab->t_mask, t->name,
                                (uint32_t)i, tensor_name, f);
        if (j >= 0) {
            char exp[64];
            snprintf(exp, sizeof exp, "unique names (tensor %lld has it too)", (long long)j);
            return st_errf(err, f->path, "duplicate tensor name", exp,
                           "'%s' at tensor %llu", t->name, (unsigned long long)i);
        }
        p.idx = i;
        p.name.ptr = t->name;
        p.name.len = strlen(t->name);
        if (check_tensor_data(&p, t) < 0)
            return -1;
    }
    return 0;
}

int gguf_parse(struct gguf_file *f, const void *buf, size_t size,
               const char *name, struct st_err *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!name)
        name = "(buffer)";
    if (parse_buffer(f, buf, size, name, err) < 0) {
        free(f->tables);
        memset(f, 0, sizeof *f);
        f->fd = -1;
        return -1;
    }
    return 0;
}

int gguf_open(struct gguf_file *f, const char *path, struct st_err *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_errmsg(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return st_errf(err, path, "file", "a regular file", "%s",
                       "something else (a directory, device or pipe)");
    }
    uint64_t size = (uint64_t)st.st_size;
    const void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return st_errmsg(err, "%s: cannot map %llu bytes: %s", path,
                             (unsigned long long)size, strerror(e));
        }
    }
    if (gguf_parse(f, map, size, path, err) < 0) {
        if (map)
            munmap((void *)map, size);
        close(fd);
        return -1;
    }
    f->fd = fd;
    ((struct gguf_tables *)f->tables)->owns_map = map != NULL;
    return 0;
}

void gguf_close(struct gguf_file *f)
{
    struct gguf_tables *tab = f->tables;
    if (tab) {
        if (tab->owns_map)
            munmap((void *)f->map, f->size);
        if (f->fd >= 0)
            close(f->fd);
        free(tab);
    }
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* ---- lookups and getters -------------------------------------------- */

const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key)
{
    const struct gguf_tables *tab = f->tables;
    if (!tab || !key)
        return NULL;
    int64_t i = hash_find(tab->kv_hash, tab->kv_mask, key, kv_name, f);
    return i >= 0 ? &f->kv[i] : NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f,
                                           const char *name)
{
    const struct gguf_tables *tab = f->tables;
    if (!tab || !name)
        return NULL;
    int64_t i = hash_find(tab->t_hash, tab->t_mask, name, tensor_name, f);
    return i >= 0 ? &f->tensors[i] : NULL;
}

static int wrong_type(const struct gguf_file *f, const struct gguf_kv *kv,
                      const char *expected, struct st_err *err)
{
    return st_errf(err, f->path, kv->key, expected, "type %s",
                   gguf_vtype_name(kv->type));
}

/* Any integer kv as (neg, u, i): neg when below 0; u the value when not
 * negative; i the value clamped to int64. -1 for non-integer types. */
static int kv_int(const struct gguf_kv *kv, int *neg, uint64_t *u, int64_t *i)
{
    if (kv->type == GGUF_TYPE_ARRAY || !is_int_type(kv->type))
        return -1;
    if (is_signed_type(kv->type)) {
        *i = kv->v.i;
        *neg = kv->v.i < 0;
        *u = *neg ? 0 : (uint64_t)kv->v.i;
    } else {
        *u = kv->v.u;
        *neg = 0;
        *i = kv->v.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)kv->v.u;
    }
    return 0;
}

static int out_of_range(const struct gguf_file *f, const struct gguf_kv *kv,
                        const char *expected, struct st_err *err)
{
    if (is_signed_type(kv->type))
        return st_errf(err, f->path, kv->key, expected, "%lld", (long long)kv->v.i);
    return st_errf(err, f->path, kv->key, expected, "%llu",
                   (unsigned long long)kv->v.u);
}

/* The integer at key as kv_int gives it: 1 when absent, an error (one
 * line in err) when the value is not an integer. */
static int find_int(const struct gguf_file *f, const char *key, const struct gguf_kv **kv,
                    int *neg, uint64_t *u, int64_t *i, struct st_err *err)
{
    *kv = gguf_find_kv(f, key);
    if (!*kv)
        return 1;
    if (kv_int(*kv, neg, u, i) < 0)
        return wrong_type(f, *kv, "an integer", err);
    return 0;
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out,
                 struct st_err *err)
{
    const struct gguf_kv *kv;
    int neg; uint64_t u; int64_t i;
    int rc = find_int(f, key, &kv, &neg, &u, &i, err);
    if (rc)
        return rc;
    if (neg || u > UINT32_MAX)
        return out_of_range(f, kv, "0 .. 4294967295", err);
    *out = (uint32_t)u;
    return 0;
}

int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out,
                 struct st_err *err)
{
    const struct gguf_kv *kv;
    int neg; uint64_t u; int64_t i;
    int rc = find_int(f, key, &kv, &neg, &u, &i, err);
    if (rc)
        return rc;
    if (neg)
        return out_of_range(f, kv, "a non-negative integer", err);
    *out = u;
    return 0;
}

int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out,
                 struct st_err *err)
{
    const struct gguf_kv *kv;
    int neg; uint64_t u; int64_t i;
    int rc = find_int(f, key, &kv, &neg, &u, &i, err);
    if (rc)
        return rc;
    if ((!neg && u > INT32_MAX) || (neg && i < INT32_MIN))
        return out_of_range(f, kv, "-2147483648 .. 2147483647", err);
    *out = (int32_t)i;
    return 0;
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out,
                 struct st_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return 1;
    if (kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64)
        *out = (float)kv->v.f;
    else if (kv->type != GGUF_TYPE_ARRAY && is_int_type(kv->type))
        *out = is_signed_type(kv->type) ? (float)kv->v.i : (float)kv->v.u;
    else
        return wrong_type(f, kv, "a number", err);
    return 0;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out,
                  struct st_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return 1;
    if (kv->type != GGUF_TYPE_BOOL)
        return wrong_type(f, kv, "a bool", err);
    *out = kv->v.b;
    return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key,
                 struct gguf_str *out, struct st_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return 1;
    if (kv->type != GGUF_TYPE_STRING)
        return wrong_type(f, kv, "a string", err);
    *out = kv->v.s;
    return 0;
}

char *gguf_str_copy(struct gguf_str s, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    if (n)
        memcpy(buf, s.ptr, n);
    buf[n] = 0;
    return buf;
}

/* ---- arrays ------------------------------------------------------------ */

struct gguf_str gguf_arr_str(const struct gguf_kv *kv, uint64_t i)
{
    struct gguf_str s = {0, ""};
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING ||
        i >= kv->arr_n)
        return s;
    const uint8_t *q = kv->arr_data + kv->arr_str_off[i];
    memcpy(&s.len, q, 8);
    s.ptr = (const char *)q + 8;
    return s;
}

/* Element i of a numeric array, widened to double. */
static double arr_num(const struct gguf_kv *kv, uint64_t i)
{
    if (kv->type != GGUF_TYPE_ARRAY || i >= kv->arr_n)
        return 0;
    uint64_t sz = vtype_size(kv->arr_type);
    if (!sz)
        return 0;
    struct gguf_kv tmp;
    memset(&tmp, 0, sizeof tmp);
    scalar_set(&tmp, kv->arr_type, kv->arr_data + i * sz);
    switch (kv->arr_type) {
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64:
        return tmp.v.f;
    case GGUF_TYPE_BOOL:
        return tmp.v.b;
    default:
        return is_signed_type(kv->arr_type) ? (double)tmp.v.i : (double)tmp.v.u;
    }
}

float gguf_arr_f32(const struct gguf_kv *kv, uint64_t i)
{
    if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_FLOAT32 &&
        i < kv->arr_n) {
        float x;
        memcpy(&x, kv->arr_data + 4 * i, 4);
        return x;
    }
    return (float)arr_num(kv, i);
}

int32_t gguf_arr_i32(const struct gguf_kv *kv, uint64_t i)
{
    if (kv->type == GGUF_TYPE_ARRAY && i < kv->arr_n &&
        (kv->arr_type == GGUF_TYPE_INT32 || kv->arr_type == GGUF_TYPE_UINT32)) {
        int32_t x;
        memcpy(&x, kv->arr_data + 4 * i, 4);
        return x;
    }
    double d = arr_num(kv, i);
    if (d != d || d < INT32_MIN || d > INT32_MAX)
        return 0;
    return (int32_t)d;
}

/* ---- fingerprint --------------------------------------------------- */

uint64_t gguf_fingerprint(const struct gguf_file *f)
{
    return fnv1a(f->map, f->header_bytes, FNV_OFFSET);
}
