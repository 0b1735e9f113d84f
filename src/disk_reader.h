/* disk_reader.h - tier C of the GPU engine: a thread that reads streamed
 * blocks from the model file with direct I/O into a ring of staging
 * buffers (pinned host memory), ahead of their use.
 *
 * Jobs are numbered 0, 1, 2, ... forever; job j reads range j % n_ranges
 * into stage buffer j % n_stage. The reader starts job j as soon as the
 * consumer has released job j - n_stage (the buffer is free), so it runs
 * ahead across token boundaries as far as the ring allows. The consumer
 * (the CUDA copy stream, through host callbacks) waits for a job to be
 * staged, copies it out, and releases it. A read error or a short read is
 * sticky: every later wait returns at once and disk_reader_error() gives
 * the one line. Nothing is allocated after disk_reader_start. */
#ifndef STRATA_DISK_READER_H
#define STRATA_DISK_READER_H

#include <stdint.h>

#include "aio.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DISK_READER_ALIGN 4096u /* direct I/O: offsets, lengths, buffers */
/* A block is read as requests of AIO_REQUEST_BYTES, DISK_READER_DEPTH of
 * them in flight (aio.h: io_uring, else threads); configure --measure reads
 * the same way, so the disk floor it records is the one the reader meets. */
#define DISK_READER_DEPTH AIO_DEFAULT_DEPTH

struct disk_reader;

/* Opens path (O_DIRECT where the file system allows it, else buffered, and
 * says which in disk_reader_direct) and starts the thread. Range i is
 * length[i] bytes at offset[i] (offset a multiple of DISK_READER_ALIGN; the
 * read is rounded up to one, and fewer than length[i] bytes is a short
 * read); stage is n_stage buffers of stage_bytes each (both aligned). NULL
 * with err filled on a bad argument or a file that cannot be opened. */
struct disk_reader *disk_reader_start(const char *path, const uint64_t *offset,
                                      const uint64_t *length, uint32_t n_ranges,
                                      uint8_t *stage, uint64_t stage_bytes,
                                      uint32_t n_stage, struct st_err *err);

/* Blocks until job is in its stage buffer (or the reader failed); returns
 * that buffer. */
const uint8_t *disk_reader_wait(struct disk_reader *r, uint64_t job);

/* The consumer is done with job's buffer. Jobs are released in order. */
void disk_reader_release(struct disk_reader *r, uint64_t job);

/* 0, or -1 with the reader's one-line error copied into err. */
int disk_reader_error(struct disk_reader *r, struct st_err *err);

/* Seconds the thread spent reading, bytes read; 1 when O_DIRECT is on;
 * how it reads ("io_uring" or "threads"). */
double disk_reader_busy_s(struct disk_reader *r);
uint64_t disk_reader_bytes(struct disk_reader *r);
int disk_reader_direct(const struct disk_reader *r);
const char *disk_reader_io(const struct disk_reader *r);

/* Stops the thread (it finishes its current block first) and frees. */
void disk_reader_stop(struct disk_reader *r);

#ifdef __cplusplus
}
#endif

#endif
