/* stream.h - the streaming pipeline's state machine (DESIGN.md, "Tiers and
 * the streaming pipeline").
 *
 * Streamed layers travel through a ring of N slots. Every copy is a job in
 * one endless sequence: job s carries streamed layer layers[s % n_layers]
 * of token s / n_layers and lives in slot s % n_slots. Weights do not
 * depend on the token, so the copy side never waits for a token to start:
 * it begins job s as soon as slot s % n_slots is free, i.e. as soon as the
 * compute side has released job s - n_slots. That is the run-ahead across
 * token boundaries: while the last layers of token t compute, the copies
 * of token t+1's first streamed layers are already under way.
 *
 * Each slot goes FREE -> COPYING -> FILLED -> COMPUTING -> FREE. The copy
 * side begins copies in sequence order and may finish them in any order
 * (several reads in flight); the compute side takes jobs strictly in order,
 * one at a time, and names the model layer it expects, so a caller that
 * skips a layer is caught instead of computing on the wrong weights.
 *
 * This file knows nothing of threads, memory or devices: the caller holds
 * whatever lock its backend needs and moves the bytes. The CPU engine
 * (src/cpu/stream_cpu.c) drives it from a copy thread and the compute
 * thread under one mutex; a CUDA engine drives it from one host thread,
 * with events enforcing what the states promise. Nothing is allocated. */
#ifndef STRATA_STREAM_H
#define STRATA_STREAM_H

#include <stdint.h>

#include "error.h"

/* Most slots a ring may have (plan.h's PLAN_MAX_SLOTS is 8). */
#define STREAM_MAX_SLOTS 16

enum stream_slot_state {
    STREAM_SLOT_FREE = 0,  /* may be overwritten by the next copy */
    STREAM_SLOT_COPYING,   /* a copy is writing it */
    STREAM_SLOT_FILLED,    /* holds its job's layer, not yet computed on */
    STREAM_SLOT_COMPUTING, /* the compute side reads it: nothing may write it */
};

/* One copy of one streamed layer into one slot. */
struct stream_job {
    uint64_t seq;   /* place in the endless sequence: 0, 1, 2, ... */
    uint64_t token; /* seq / n_layers: tokens since the ring started */
    uint32_t index; /* seq % n_layers: which streamed layer (0-based) */
    uint32_t layer; /* layers[index]: the model layer */
    uint32_t slot;  /* seq % n_slots */
};

struct stream_ring {
    uint32_t n_slots;
    uint32_t n_layers;      /* streamed layers per token */
    const uint32_t *layers; /* (n_layers,) model layer of each, in compute
                               order; owned by the caller */
    uint64_t next_copy;     /* seq of the next copy to begin */
    uint64_t next_compute;  /* seq of the next compute to begin */
    uint8_t state[STREAM_MAX_SLOTS]; /* enum stream_slot_state */
    uint64_t seq[STREAM_MAX_SLOTS];  /* the job a non-FREE slot holds */
    int failed;             /* the copy side gave up: see err */
    struct st_err err;      /* the first failure, one line */
};

/* Sets up an empty ring (every slot FREE). layers must outlive r. Returns
 * 0, or -1 with err filled when n_layers is 0 or n_slots is outside
 * 1..STREAM_MAX_SLOTS. */
int stream_ring_init(struct stream_ring *r, const uint32_t *layers,
                     uint32_t n_layers, uint32_t n_slots, struct st_err *err);

/* ---- copy side ---- */

/* Claims the next copy: 1 with *job filled (its slot is now COPYING); 0
 * when that slot is still held by a job the compute side has not released
 * (wait for stream_compute_end); -1 once the ring has failed. */
int stream_copy_begin(struct stream_ring *r, struct stream_job *job);

/* The bytes of job are in its slot: COPYING -> FILLED. Returns 0, or -1
 * when job is not the one copying into that slot (a caller bug). */
int stream_copy_end(struct stream_ring *r, const struct stream_job *job);

/* The copy side cannot go on (read error, short read): records msg (the
 * first failure wins). Jobs already FILLED can still be computed; the
 * compute side gets -1 with msg when it reaches one that is not. */
void stream_fail(struct stream_ring *r, const char *msg);

/* ---- compute side ---- */

/* Takes the next job, which must carry model layer `layer`: 1 with *job
 * filled (its slot is now COMPUTING, safe to read); 0 when its copy has not
 * finished (wait for stream_copy_end); -1 with err filled when the copy
 * side failed before filling it, or when `layer` is not the layer due. */
int stream_compute_begin(struct stream_ring *r, uint32_t layer,
                         struct stream_job *job, struct st_err *err);

/* The compute side is done reading job's slot: COMPUTING -> FREE, so the
 * copy side may reuse it. Returns 0, or -1 when job is not the one being
 * computed (a caller bug). */
int stream_compute_end(struct stream_ring *r, const struct stream_job *job);

/* "free", "copying", "filled", "computing". */
const char *stream_slot_state_name(int state);

#endif
