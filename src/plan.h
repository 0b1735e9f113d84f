/* plan.h - where every layer lives: the tier plan (DESIGN.md).
 *
 * plan_make is a pure function of a profile (the machine), model facts (the
 * GGUF header) and options (budgets, context, slots): no I/O, no clock, same
 * inputs -> same plan, so the same binary.
 *
 * GPU plan, in the order memory is handed out:
 *   device arena (VRAM budget, default vram_free_bytes - 512 MiB):
 *     output head (read whole every token), output norm, every block's 1-D
 *     tensors (norms, biases) and other small tensors, the KV cache in F16
 *     for ctx tokens, activations + scratch, N streaming slots each the size
 *     of the largest streamed block; then as many whole blocks (tier A) as
 *     fit, spread evenly over the model (a prompt chunk computes a resident
 *     block while the link carries the next streamed one; plan.c).
 *   pinned host arena (RAM budget, default ram_bytes - reserve, reserve =
 *     max(4 GiB, 15% of RAM)): the embedding table (one row per token), then
 *     the streamed blocks in order (tier B, copied into a slot every token)
 *     while they fit, and, when some blocks remain, N staging buffers for
 *     them.
 *   the model file: the remaining blocks (tier C, read with direct I/O into
 *     the staging buffers every token).
 * CPU plan (no GPU, or --cpu): one host arena holds everything "resident";
 *   blocks past the RAM budget are tier C.
 *
 * Activations + scratch (bytes). GPU: the CUDA engine's working buffers,
 *   laid out by gpu_work.h for both the engine and the plan (a 512-token
 *   prompt chunk, the largest block matrix in f16, cuBLAS's workspace, the
 *   decode step's vectors). CPU, B = PLAN_PREFILL_TOKENS tokens per batch:
 *   act = 4 * B * (4*n_embd + n_heads*head_dim + 2*n_kv_heads*head_dim
 *                  + 2*n_ff + n_heads*ctx) + 4 * n_vocab
 *   (residual, norm output, attention output, FFN output; q, k, v; gate and
 *   up; attention scores over the context; the logits of one token), and
 *   scratch = PLAN_SCRATCH_BYTES (split-K attention partials, library
 *   workspaces).
 * Pipeline depth N: 2, or 3 when the host->device link is at least
 *   PLAN_FAST_LINK_GBPS (transfer per block then no longer dominates compute
 *   per block, so a third slot keeps the link busy); --slots overrides.
 * Every tensor, buffer and slot starts at a multiple of PLAN_ALIGN bytes. */
#ifndef STRATA_PLAN_H
#define STRATA_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "facts.h"
#include "profile.h"

#define PLAN_ALIGN 256u
#define PLAN_VRAM_MARGIN (512ull << 20)    /* kept free under vram_free_bytes */
#define PLAN_RAM_RESERVE_MIN (4ull << 30)  /* reserve = max(this, 15% of RAM) */
#define PLAN_RAM_RESERVE_PERCENT 15
#define PLAN_FAST_LINK_GBPS 60.0           /* "about 63 GB/s": PCIe Gen5 x16 */
#define PLAN_PREFILL_TOKENS 32
#define PLAN_SCRATCH_BYTES (16ull << 20)
#define PLAN_DEFAULT_CTX 4096
#define PLAN_MAX_SLOTS 8

enum plan_tier { PLAN_TIER_A = 0, PLAN_TIER_B = 1, PLAN_TIER_C = 2 };
enum plan_arena {
    PLAN_ARENA_DEVICE = 0, /* the one device allocation */
    PLAN_ARENA_HOST = 1,   /* the one pinned host allocation (CPU plan: plain) */
    PLAN_ARENA_FILE = 2    /* not in memory: offset is the model file offset */
};
enum plan_buf {
    PLAN_BUF_KV,      /* K then V caches: n_layers x ctx x n_kv_heads x head_dim, F16 */
    PLAN_BUF_ACT,     /* activations */
    PLAN_BUF_SCRATCH,
    PLAN_BUF_SLOTS,   /* n_slots x slot_bytes (device) */
    PLAN_BUF_STAGING, /* n_slots x slot_bytes (host), only with tier C */
    PLAN_BUF_COUNT
};

struct plan_opts {
    uint64_t vram_budget; /* bytes; 0: vram_free_bytes - PLAN_VRAM_MARGIN */
    uint64_t ram_budget;  /* bytes; 0: ram_bytes - reserve */
    uint32_t ctx;         /* tokens; 0: min(PLAN_DEFAULT_CTX, n_ctx_train) */
    uint32_t slots;       /* 0: by the link rule */
    int cpu;              /* plan for the CPU engine even with a GPU */
    uint32_t stream_type; /* --stream-type: tier-B matrices re-quantized to
                             this ggml type in the host tier where it saves
                             bytes (quantize_stream_type); 0: none */
};

/* Where one tensor lives (same index as facts->tensors). */
struct plan_tensor {
    int arena;            /* enum plan_arena */
    int tier;             /* enum plan_tier: A for everything not in a block */
    uint64_t offset;      /* in its arena; the file offset for PLAN_ARENA_FILE */
    uint64_t slot_offset; /* tiers B/C: offset inside a slot (same in every slot) */
};

struct plan_buffer {
    int arena;
    uint64_t offset, bytes;
};

struct plan {
    int gpu;                      /* 1: CUDA engine; 0: CPU engine */
    uint32_t gpu_sms;             /* the GPU's multiprocessors (0: no GPU or unknown): the
                                     generated GEMVs size one-wave grids by it */
    uint32_t stream_type;         /* --stream-type of tier B (0: none) */
    uint64_t tier_b_unconverted;  /* tier B bytes before --stream-type */
    uint32_t n_layers, ctx, n_slots;
    uint8_t tier[FACTS_MAX_LAYERS]; /* enum plan_tier per block */
    uint32_t n_tier[3];           /* blocks per tier */
    uint64_t tier_bytes[3];       /* bytes read per token from each tier; A
                                     includes the head, norms, small tensors */
    uint64_t vram_budget, ram_budget, ram_reserve;
    int vram_budget_default, ram_budget_default;
    uint64_t arena_bytes[2];      /* device, host */
    uint64_t slot_bytes;          /* one slot (0 when nothing streams) */
    uint64_t head_bytes;          /* output head as placed (the embedding when tied) */
    uint64_t small_bytes;         /* output norm + block 1-D tensors + other */
    uint64_t embd_bytes;          /* embedding table as placed in the host arena */
    struct plan_buffer buf[PLAN_BUF_COUNT];
    uint32_t n_tensors;
    struct plan_tensor *tensors;  /* plan_free */
    double hbm_gbps, h2d_gbps, disk_gbps; /* from the profile, < 0 unknown */
    int h2d_measured;
    double floor_s;               /* seconds per token, < 0 when unknown */
};

/* Builds the plan. Impossible requests are refused with the numbers, e.g.
 * "plan: --vram-budget: found 90.00 GiB, expected at most 80.00 GiB (the
 * profile's vram_bytes)". Returns 0 or -1 with err filled. */
int plan_make(struct plan *p, const struct profile *prof,
              const struct model_facts *f, const struct plan_opts *o,
              struct st_err *err);

void plan_free(struct plan *p);

/* Arena bytes of block l's 2-D tensors (each aligned): what a slot holds. */
uint64_t plan_layer_stream_bytes(const struct model_facts *f, uint32_t l);

/* The same with the matrices as --stream-type stores them (0: as is). */
uint64_t plan_layer_stream_bytes_as(const struct model_facts *f, uint32_t l,
                                    uint32_t stream_type);

/* Bytes of tensor t as the host tier stores it under stream_type. */
uint64_t plan_stored_bytes(const struct facts_tensor *t, uint32_t stream_type);

/* Writes the plan as a table for people (tiers with layer ranges and bytes,
 * both arenas item by item, bytes per token per tier and the floor).
 * Returns the length, or -1 when cap is too small (16 KiB is enough). */
int plan_table(const struct plan *p, const struct profile *prof,
               const struct model_facts *f, const char *name, char *buf,
               size_t cap);

/* ---- the plan compiled into build/NAME/strata ---------------------------
 * gen/codegen.sh writes build/NAME/gen/arena.c, which defines
 * strata_builtin_plan_ptr; the host build links the weak NULL default from
 * plan_builtin.c. */
struct strata_builtin_tensor {
    const char *name;
    uint32_t type;        /* enum ggml_type */
    int32_t layer;        /* -1 outside the blocks */
    uint8_t tier;         /* enum plan_tier */
    uint8_t arena;        /* enum plan_arena */
    uint64_t offset;      /* arena offset, or file offset (PLAN_ARENA_FILE) */
    uint64_t slot_offset;
    uint64_t bytes;
};

struct strata_builtin_plan {
    const char *name;           /* the build name: build/NAME, profiles/NAME.profile */
    const char *model_name;     /* general.name of the planned model */
    uint64_t fingerprint;       /* gguf_fingerprint of the planned model */
    int gpu;
    uint32_t n_layers, ctx, n_slots;
    uint64_t arena_bytes[2];    /* device, host */
    uint64_t slot_bytes;
    uint64_t tier_bytes[3];     /* bytes read per token from each tier */
    uint64_t floor_ns;          /* max(A/HBM, B/H2D, C/disk) per token; 0: unknown */
    uint32_t stream_type;       /* --stream-type of tier B (0: none) */
    struct plan_buffer buf[PLAN_BUF_COUNT];
    const uint8_t *layer_tier;  /* n_layers */
    uint32_t n_tensors;
    const struct strata_builtin_tensor *tensors;
    const char *table;          /* plan_table's text, for --plan */
};

/* NULL in the host build (no configured plan). */
extern const struct strata_builtin_plan *strata_builtin_plan_ptr;

/* What main calls after opening the model: 0 when there is no built-in plan
 * or the plan fits; -1 with one line in err when the model is not the
 * planned one (both fingerprints named) or the plan needs a GPU and
 * gpu_available is 0. */
int plan_builtin_check(const struct strata_builtin_plan *bp,
                       uint64_t model_fingerprint, const char *model_path,
                       int gpu_available, struct st_err *err);

#endif
