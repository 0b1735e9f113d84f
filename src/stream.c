/* stream.c - the streaming pipeline's state machine (see stream.h). */
#include "stream.h"

#include <stdio.h>
#include <string.h>

int stream_ring_init(struct stream_ring *r, const uint32_t *layers,
                     uint32_t n_layers, uint32_t n_slots, struct st_err *err)
{
    memset(r, 0, sizeof *r);
    if (n_layers == 0 || !layers)
        return st_errf(err, "stream", "streamed layers", "at least 1", "%u", n_layers);
    if (n_slots < 1 || n_slots > STREAM_MAX_SLOTS) {
        char exp[48];
        snprintf(exp, sizeof exp, "1 to %d", STREAM_MAX_SLOTS);
        return st_errf(err, "stream", "slots", exp, "%u", n_slots);
    }
    r->layers = layers;
    r->n_layers = n_layers;
    r->n_slots = n_slots;
    return 0;
}

static void job_of(const struct stream_ring *r, uint64_t seq, struct stream_job *job)
{
    job->seq = seq;
    job->token = seq / r->n_layers;
    job->index = (uint32_t)(seq % r->n_layers);
    job->layer = r->layers[job->index];
    job->slot = (uint32_t)(seq % r->n_slots);
}

/* ---- copy side ---------------------------------------------------------------- */

int stream_copy_begin(struct stream_ring *r, struct stream_job *job)
{
    if (r->failed)
        return -1;
    uint32_t slot = (uint32_t)(r->next_copy % r->n_slots);
    /* The slot last held job next_copy - n_slots: it is FREE only once the
     * compute side released that job, so a copy never lands on weights
     * still being read. */
    if (r->state[slot] != STREAM_SLOT_FREE)
        return 0;
    job_of(r, r->next_copy++, job);
    r->state[slot] = STREAM_SLOT_COPYING;
    r->seq[slot] = job->seq;
    return 1;
}

int stream_copy_end(struct stream_ring *r, const struct stream_job *job)
{
    if (job->slot >= r->n_slots || r->state[job->slot] != STREAM_SLOT_COPYING ||
        r->seq[job->slot] != job->seq)
        return -1;
    r->state[job->slot] = STREAM_SLOT_FILLED;
    return 0;
}

void stream_fail(struct stream_ring *r, const char *msg)
{
    if (r->failed)
        return;
    r->failed = 1;
    snprintf(r->err.msg, sizeof r->err.msg, "%s", msg && *msg ? msg : "stream: copy failed");
}

/* ---- compute side ------------------------------------------------------------- */

int stream_compute_begin(struct stream_ring *r, uint32_t layer,
                         struct stream_job *job, struct st_err *err)
{
    struct stream_job due;
    job_of(r, r->next_compute, &due);
    int ready = r->state[due.slot] == STREAM_SLOT_FILLED && r->seq[due.slot] == due.seq;
    /* a failed ring stays failed: every later call gets the same line,
     * whichever layer it asks for */
    if (!ready && r->failed) {
        if (err)
            memcpy(err->msg, r->err.msg, sizeof err->msg);
        return -1;
    }
    if (layer != due.layer) {
        char exp[48];
        snprintf(exp, sizeof exp, "%u (streamed layers run in order)", due.layer);
        return st_errf(err, "stream", "layer", exp, "%u", layer);
    }
    if (!ready)
        return 0;
    r->state[due.slot] = STREAM_SLOT_COMPUTING;
    r->next_compute++;
    *job = due;
    return 1;
}

int stream_compute_end(struct stream_ring *r, const struct stream_job *job)
{
    if (job->slot >= r->n_slots || r->state[job->slot] != STREAM_SLOT_COMPUTING ||
        r->seq[job->slot] != job->seq)
        return -1;
    r->state[job->slot] = STREAM_SLOT_FREE;
    return 0;
}

const char *stream_slot_state_name(int state)
{
    switch (state) {
    case STREAM_SLOT_FREE: return "free";
    case STREAM_SLOT_COPYING: return "copying";
    case STREAM_SLOT_FILLED: return "filled";
    case STREAM_SLOT_COMPUTING: return "computing";
    }
    return "?";
}
