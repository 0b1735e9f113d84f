/* gguf.h - reading GGUF v2/v3 files, mmapped, validated before use.
 *
 * The file is mapped read-only; metadata values and tensor data are read in
 * place. At open, gguf_open allocates the key/tensor tables (and a NUL-
 * terminated copy of every key and tensor name); nothing afterwards.
 *
 * Every count, length, offset and dimension is checked against the file
 * size before it is used; a bad file gives one line in err->msg of the form
 *   FILE: FIELD: found X, expected Y
 * e.g. "m.gguf: tensor 'blk.0.attn_q.weight' offset: found 1234, expected a
 * multiple of 32". */
#ifndef STRATA_GGUF_H
#define STRATA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

enum gguf_vtype {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
};

/* A string inside the mapping: not NUL-terminated. */
struct gguf_str {
    uint64_t len;
    const char *ptr;
};

struct gguf_kv {
    const char *key;  /* NUL-terminated copy */
    uint32_t type;    /* enum gguf_vtype */
    /* scalar value (type != ARRAY): the field matching type is set;
     * integers are also widened into u/i, floats into f */
    union {
        uint64_t u;
        int64_t i;
        double f;
        bool b;
        struct gguf_str s;
    } v;
    /* array value (type == ARRAY) */
    uint32_t arr_type;       /* element type (never ARRAY: nested arrays are refused) */
    uint64_t arr_n;          /* element count */
    const uint8_t *arr_data; /* first element, inside the mapping */
    const uint64_t *arr_str_off; /* for string arrays: offset of element i's
                                    length prefix from arr_data */
};

struct gguf_tensor {
    const char *name;       /* NUL-terminated copy */
    uint32_t type;          /* enum ggml_type */
    uint32_t n_dims;        /* 1..4 */
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) length;
                                   unused dims are 1 */
    uint64_t n_elems;       /* product of ne */
    uint64_t offset;        /* from the start of the data section */
    uint64_t n_bytes;       /* ggml_row_size(type, ne[0]) * rows */
    const void *data;       /* inside the mapping */
};

struct gguf_file {
    const char *path;       /* as given (used in error messages) */
    const uint8_t *map;     /* the whole file */
    uint64_t size;          /* bytes */
    int fd;                 /* -1 when parsed from a memory buffer */
    uint32_t version;       /* 2 or 3 */
    uint64_t n_kv;
    uint64_t n_tensors;
    uint32_t alignment;     /* general.alignment or 32 */
    uint64_t header_bytes;  /* end of the tensor infos (before padding) */
    uint64_t data_offset;   /* start of tensor data, aligned */
    struct gguf_kv *kv;
    struct gguf_tensor *tensors;
    void *tables;           /* the one allocation behind kv/tensors/names */
};

/* Maps and parses a file. Returns 0, or -1 with err filled. */
int gguf_open(struct gguf_file *f, const char *path, struct st_err *err);

/* Parses a file already in memory (used by the fuzzer and by tests); buf
 * must outlive f. name is used in error messages. */
int gguf_parse(struct gguf_file *f, const void *buf, size_t size,
               const char *name, struct st_err *err);

/* Unmaps (if mapped) and frees the tables. Safe on a zeroed struct. */
void gguf_close(struct gguf_file *f);

/* Lookup by exact key / tensor name; NULL if absent. */
const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f,
                                           const char *name);

/* Typed getters. Return 0 and set *out when the key exists with a
 * compatible type (any integer type that fits for the integer getters, any
 * float or integer for gguf_get_f32); 1 when the key is absent (out left
 * untouched, so callers preset defaults); -1 with err filled when the key
 * exists with a wrong type or out-of-range value. */
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out,
                 struct st_err *err);
int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out,
                 struct st_err *err);
int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out,
                 struct st_err *err);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out,
                 struct st_err *err);
int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out,
                  struct st_err *err);
int gguf_get_str(const struct gguf_file *f, const char *key,
                 struct gguf_str *out, struct st_err *err);

/* Copies a gguf_str into buf as a NUL-terminated string (truncated to
 * cap - 1 bytes); returns buf. */
char *gguf_str_copy(struct gguf_str s, char *buf, size_t cap);

/* Array access. gguf_arr_str returns element i of a string array (i <
 * arr_n, checked by the caller). gguf_arr_f32 / gguf_arr_i32 read numeric
 * elements (float32 resp. int32/uint32 arrays). */
struct gguf_str gguf_arr_str(const struct gguf_kv *kv, uint64_t i);
float gguf_arr_f32(const struct gguf_kv *kv, uint64_t i);
int32_t gguf_arr_i32(const struct gguf_kv *kv, uint64_t i);

/* Name of a metadata value type ("uint32", "string", ...). */
const char *gguf_vtype_name(uint32_t type);

/* Fingerprint of the header and tensor table (FNV-1a 64 over the bytes from
 * offset 0 to the end of the tensor infos): identifies the model a binary
 * was planned for. */
uint64_t gguf_fingerprint(const struct gguf_file *f);

#endif
