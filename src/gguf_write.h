/* gguf_write.h - a streaming GGUF v3 writer.
 *
 * A GGUF file is: header (magic, version, tensor count, kv count), the
 * key/value metadata, the tensor infos (name, dims, type, offset), padding
 * to the alignment, then every tensor's bytes, each one starting at an
 * aligned offset of the data section. The counts come first, so the
 * metadata and the tensor table are collected in memory (a few MB even for
 * a 152k-token vocabulary); the tensor data is never held: it is streamed
 * through one output buffer, tensor after tensor, in the order the tensors
 * were added.
 *
 *   w = gguf_writer_new(32)
 *   gguf_writer_kv_*(w, ...)            metadata, in file order
 *   gguf_writer_add_tensor(w, ...)      the tensor table, in file order
 *   gguf_writer_file_size(w)            known from here on (--dry-run)
 *   gguf_writer_begin(w, path, err)     header + metadata + infos + padding
 *   gguf_writer_data(w, buf, n, err)    the bytes of tensor 0, 1, ...: any
 *                                       split; padding is inserted when a
 *                                       tensor is complete
 *   gguf_writer_finish(w, err)          checks every byte came, flushes
 *   gguf_writer_free(w)
 *
 * The kv/tensor calls record an allocation failure or a misuse (a value
 * outside an array, a bad shape) and gguf_writer_begin reports it: callers
 * need not check each call. */
#ifndef STRATA_GGUF_WRITE_H
#define STRATA_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct gguf_writer;

/* alignment: bytes (a power of two, >= 8); 32 is the GGUF default and
 * needs no general.alignment key (the caller adds the key otherwise).
 * NULL when out of memory. */
struct gguf_writer *gguf_writer_new(uint32_t alignment);
void gguf_writer_free(struct gguf_writer *w);

/* ---- metadata: scalars ------------------------------------------------ */
void gguf_writer_kv_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_kv_i32(struct gguf_writer *w, const char *key, int32_t v);
void gguf_writer_kv_u64(struct gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_kv_f32(struct gguf_writer *w, const char *key, float v);
void gguf_writer_kv_bool(struct gguf_writer *w, const char *key, bool v);
void gguf_writer_kv_str(struct gguf_writer *w, const char *key, const char *v);

/* ---- metadata: arrays, streamed element by element ---------------------
 * gguf_writer_kv_arr opens an array of n elements of elem_type (enum
 * gguf_vtype, not ARRAY); exactly n gguf_writer_arr_* calls of that type
 * must follow before the next key. */
void gguf_writer_kv_arr(struct gguf_writer *w, const char *key,
                        uint32_t elem_type, uint64_t n);
void gguf_writer_arr_str(struct gguf_writer *w, const char *s, size_t len);
void gguf_writer_arr_f32(struct gguf_writer *w, float v);
void gguf_writer_arr_i32(struct gguf_writer *w, int32_t v);

/* ---- the tensor table ---------------------------------------------------
 * ne[0] is the contiguous row length; n_dims 1..4. Returns the tensor's
 * index, or -1 (recorded) when the row length is not a whole number of
 * blocks of the type or the type is unknown. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
                           uint32_t type, uint32_t n_dims, const uint64_t *ne);

uint32_t gguf_writer_n_tensors(const struct gguf_writer *w);
/* Bytes of tensor i (ggml_row_size * rows) and its offset in the data
 * section. */
uint64_t gguf_writer_tensor_bytes(const struct gguf_writer *w, uint32_t i);
uint64_t gguf_writer_tensor_offset(const struct gguf_writer *w, uint32_t i);
/* Offset of the data section in the file (aligned), and the file size:
 * valid once every tensor is added. */
uint64_t gguf_writer_data_offset(const struct gguf_writer *w);
uint64_t gguf_writer_file_size(const struct gguf_writer *w);

/* ---- writing --------------------------------------------------------------
 * Creates (truncates) path and writes everything up to the first tensor's
 * data. Returns 0, or -1 with err filled (also for a recorded misuse). */
int gguf_writer_begin(struct gguf_writer *w, const char *path,
                      struct st_err *err);
/* Appends n bytes of tensor data (the current tensor, then the next...).
 * More bytes than the table holds is an error. */
int gguf_writer_data(struct gguf_writer *w, const void *buf, size_t n,
                     struct st_err *err);
/* Bytes of tensor data written so far (padding excluded). */
uint64_t gguf_writer_data_written(const struct gguf_writer *w);
/* Flushes and closes; -1 with err when bytes are missing or a write
 * fails. On any error after begin, the partial file is removed. */
int gguf_writer_finish(struct gguf_writer *w, struct st_err *err);
/* Stops writing and removes the partial file (no-op when not writing). */
void gguf_writer_abort(struct gguf_writer *w);

#endif
