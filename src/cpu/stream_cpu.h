/* stream_cpu.h - the CPU engine's streaming pipeline (issue 6).
 *
 * The CPU runs the same pipeline as the GPU (src/stream.h), so the
 * scheduling is exercised in CI and a streamed run can be compared bit for
 * bit with a resident one. Both sides are plain memory here:
 *   tier 1 (pinned RAM on a GPU): the layer's matrices are copied at start-up
 *     from the mapping into a "host arena", each layer's contiguously; the
 *     copy thread memcpy's a layer's block into a slot;
 *   tier 2 (disk): the copy thread reads the layer's matrices from the model
 *     file with pread, O_DIRECT where the file system allows it (aligned
 *     4 KiB spans straight into the slot: the slot plays the staging buffer,
 *     the way GPUDirect Storage skips it), buffered pread otherwise.
 * A layer's 1-D tensors (norms, biases) stay in the mapping: the plan keeps
 * them resident too.
 *
 * One copy thread, started by stream_cpu_init, runs ahead across tokens as
 * far as free slots allow. Every buffer, and the slot view of every
 * streamed layer (a struct llm_layer per slot and layer whose matrices point
 * into the slot), is built at init; acquire/release allocate nothing. */
#ifndef STRATA_CPU_STREAM_CPU_H
#define STRATA_CPU_STREAM_CPU_H

#include <stdint.h>

#include "error.h"

struct llm_model;
struct llm_layer;
struct stream_cpu;

/* Per-run counters (nanoseconds, bytes), for --stats style timelines. */
struct stream_cpu_stats {
    uint64_t copy_ns;     /* copy thread busy (memcpy or read) */
    uint64_t stall_ns;    /* compute side waiting for a slot to fill */
    uint64_t bytes[3];    /* bytes moved into slots, by tier (index 0 unused) */
    uint64_t layers;      /* streamed layers computed */
};

/* layer_tier: (m->cfg.n_layers,) enum plan_tier (0 resident, 1 host arena,
 * 2 model file); n_slots: pipeline depth (0: 2); stream_type: tier-1
 * matrices re-quantized in the host arena (quantize_stream_type; 0: none). Returns NULL with err
 * filled on a bad tier or slot count, a tier-2 layer without a model file,
 * or out of memory; also NULL with err cleared when no layer streams (the
 * engine then runs resident). */
struct stream_cpu *stream_cpu_init(const struct llm_model *m,
                                   const uint8_t *layer_tier, uint32_t n_slots,
                                   uint32_t stream_type,
                                   struct st_err *err);

/* Stops and joins the copy thread, frees everything. NULL is fine. */
void stream_cpu_free(struct stream_cpu *s);

/* 1 when model layer l comes through the slots. */
int stream_cpu_streams(const struct stream_cpu *s, uint32_t l);

/* Waits until streamed layer l (the one due next) is in its slot and
 * returns that slot's view of it; NULL with one line in err when the copy
 * side failed (read error, short read) or l is not the layer due. Every
 * successful acquire must be followed by stream_cpu_release. */
const struct llm_layer *stream_cpu_acquire(struct stream_cpu *s, uint32_t l,
                                           struct st_err *err);

/* Hands the slot of the last acquired layer back to the copy thread. */
void stream_cpu_release(struct stream_cpu *s);

/* A snapshot of the counters. */
void stream_cpu_stats(struct stream_cpu *s, struct stream_cpu_stats *out);

#endif
