/* plan.c - the tier plan: a pure function of profile + facts + options
 * (see plan.h for the rules and formulas). */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_work.h"
#include "quant.h"
#include "quantize.h"
#include "size.h"
#include "strbuf.h"

static uint64_t align_up(uint64_t x)
{
    return (x + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

/* Hands out the next aligned range of an arena; returns its offset. */
static uint64_t arena_take(uint64_t *used, uint64_t bytes)
{
    uint64_t off = *used;
    *used += align_up(bytes);
    return off;
}

uint64_t plan_stored_bytes(const struct facts_tensor *t, uint32_t stream_type)
{
    uint32_t as = quantize_stream_type(t->type, t->ne[0], stream_type);
    return as == t->type ? t->bytes : ggml_row_size(as, t->ne[0]) * t->ne[1];
}

uint64_t plan_layer_stream_bytes_as(const struct model_facts *f, uint32_t l,
                                    uint32_t stream_type)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].role == FACTS_LAYER_MATRIX && f->tensors[i].layer == (int32_t)l)
            n += align_up(plan_stored_bytes(&f->tensors[i], stream_type));
    return n;
}

uint64_t plan_layer_stream_bytes(const struct model_facts *f, uint32_t l)
{
    return plan_layer_stream_bytes_as(f, l, 0);
}

void plan_free(struct plan *p)
{
    free(p->tensors);
    p->tensors = NULL;
}

/* The largest stream size among blocks from..n-1 (0 when none). */
static uint64_t max_stream(const uint64_t *layer, uint32_t from, uint32_t n)
{
    uint64_t m = 0;
    for (uint32_t l = from; l < n; l++)
        if (layer[l] > m)
            m = layer[l];
    return m;
}

#define SZ(x) size_format((x), (char[32]){0}, 32)

/* Tier A blocks spread evenly over the model: block l is resident when
 * (l * k) mod n < k, which marks exactly k of the n blocks, the first one
 * included. Why spread, not blocks 0..k-1: a prompt chunk computes every
 * resident block for milliseconds; with the streamed blocks in one run at
 * the end the link would fill its slots during the first resident blocks
 * and then idle while the rest compute. Between the streamed blocks, a
 * resident block's compute overlaps the next copy, so a chunk costs one
 * pass of the streamed bytes over the link (decode is link-bound either
 * way). */
static void spread_resident(uint32_t n, uint32_t k, uint8_t *res)
{
    for (uint32_t l = 0; l < n; l++)
        res[l] = (uint64_t)l * k % n < k;
}

/* Bytes of the arena part that depends on the split: the resident blocks
 * and n_slots slots of the largest block left out (*slot). */
static uint64_t split_bytes(const uint64_t *layer, const uint64_t *need, uint32_t n,
                            const uint8_t *res, uint32_t n_slots, uint64_t *slot)
{
    uint64_t sum = 0, s = 0;
    for (uint32_t l = 0; l < n; l++) {
        if (res[l])
            sum += layer[l];
        else if (need[l] > s)
            s = need[l];
    }
    *slot = s;
    return sum + n_slots * s;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One pass of neighbour swaps: a resident block trades places with a
 * streamed neighbour. grow: with a larger one, where the result still fits
 * (fewer bytes cross the link each token: Q4_K_M blocks differ in size);
 * shrink: with a smaller one (to make an over-full split fit). A block
 * moves once at most (moved[]), so a run of streamed blocks grows by two
 * at most. Returns whether anything moved. */
static int swap_pass(const uint64_t *layer, const uint64_t *need, uint32_t n, uint8_t *res,
                     uint8_t *moved_once, uint32_t n_slots, uint64_t room, int grow)
{
    int moved = 0;
    uint64_t slot;
    for (uint32_t l = 0; l + 1 < n; l++) {
        uint32_t r = res[l] ? l : l + 1, s = res[l] ? l + 1 : l;
        if (res[l] == res[l + 1] || moved_once[l] || moved_once[l + 1] ||
            (grow ? layer[s] <= layer[r] : layer[s] >= layer[r]))
            continue;
        res[r] = 0, res[s] = 1;
        if (!grow || split_bytes(layer, need, n, res, n_slots, &slot) <= room)
            moved = moved_once[l] = moved_once[l + 1] = 1, l++;
        else
            res[r] = 1, res[s] = 0;
    }
    return moved;
}

/* The resident set (res[l] = 1) that fits budget next to fixed bytes: the
 * largest count of blocks that fits spread (spread_resident, shrunk by
 * neighbour swaps where needed), then grown by swaps, then any streamed
 * block that still fits made resident too (so none would). At least one
 * block stays streamed (the caller knows they do not all fit). Returns
 * the count; *slot is the slot size. */
static uint32_t choose_resident(const uint64_t *layer, const uint64_t *need, uint32_t n,
                                uint64_t fixed, uint32_t n_slots, uint64_t budget,
                                uint8_t *res, uint64_t *slot)
{
    uint64_t room = budget - fixed;
    uint8_t moved[FACTS_MAX_LAYERS];
    /* no k blocks fit when even the k smallest do not: start there, not at
     * n - 1 (each count tried costs passes of swaps) */
    uint64_t sorted[FACTS_MAX_LAYERS], sum = 0;
    memcpy(sorted, layer, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    uint32_t k = 0;
    while (k + 1 < n && sum + sorted[k] <= room)
        sum += sorted[k++];
    for (; k > 0; k--) {
        spread_resident(n, k, res);
        memset(moved, 0, n);
        while (split_bytes(layer, need, n, res, n_slots, slot) > room &&
               swap_pass(layer, need, n, res, moved, n_slots, room, 0))
            ;
        if (split_bytes(layer, need, n, res, n_slots, slot) <= room)
            break;
    }
    if (k == 0) {
        spread_resident(n, 0, res);
        memset(moved, 0, n);
    }
    while (swap_pass(layer, need, n, res, moved, n_slots, room, 1))
        ;
    for (uint32_t l = 0; l < n && k + 1 < n; l++) {
        if (res[l])
            continue;
        res[l] = 1;
        if (split_bytes(layer, need, n, res, n_slots, slot) <= room)
            k++;
        else
            res[l] = 0;
    }
    split_bytes(layer, need, n, res, n_slots, slot);
    return k;
}

/* Bytes of the KV cache in F16 for ctx tokens. */
static uint64_t kv_bytes(const struct model_facts *f, uint32_t ctx)
{
    return 2ull * f->n_layers * f->n_kv_heads * f->head_dim * ctx * 2;
}

/* Bytes of the activations and scratch. GPU: the CUDA engine's working
 * buffers (gpu_work.h: a 512-token prompt chunk, the largest matrix in f16
 * for the chunk GEMMs, cuBLAS's workspace), with rope_dim = head_dim, the
 * most it can be. CPU: B = PLAN_PREFILL_TOKENS tokens per batch (plan.h). */
static uint64_t act_bytes(const struct model_facts *f, uint32_t ctx, int gpu)
{
    uint64_t q = (uint64_t)f->n_heads * f->head_dim, kvd = (uint64_t)f->n_kv_heads * f->head_dim;
    if (gpu) {
        struct gpu_work_dims d = {f->n_embd, (uint32_t)q, (uint32_t)kvd, f->n_ff, f->n_vocab,
                                  f->n_heads, f->n_kv_heads, f->head_dim, f->head_dim, ctx};
        struct gpu_work w;
        gpu_work_layout(&d, &w);
        return w.total;
    }
    return 4ull * PLAN_PREFILL_TOKENS *
               (4ull * f->n_embd + q + 2 * kvd + 2ull * f->n_ff + (uint64_t)f->n_heads * ctx) +
           4ull * f->n_vocab;
}

/* What the context costs in the main arena: KV cache and activations. */
static uint64_t ctx_bytes(const struct model_facts *f, uint32_t ctx, int gpu)
{
    return align_up(kv_bytes(f, ctx)) + align_up(act_bytes(f, ctx, gpu));
}

/* Refuses a budget that cannot hold the fixed part, blaming the context when
 * a shorter one would fit (and saying how long it may be). */
static int refuse_fixed(const struct model_facts *f, uint32_t ctx, uint64_t fixed, int gpu,
                        uint64_t budget, const char *budget_name, struct st_err *err)
{
    uint64_t base = fixed - ctx_bytes(f, ctx, gpu);
    char want[160];
    if (ctx > 64 && base + ctx_bytes(f, 64, gpu) <= budget) {
        uint32_t lo = 64, hi = ctx; /* fits at lo, not at hi */
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (base + ctx_bytes(f, mid, gpu) <= budget)
                lo = mid;
            else
                hi = mid;
        }
        uint64_t max_ctx = lo;
        uint64_t kv = kv_bytes(f, ctx);
        snprintf(want, sizeof want, "at most %llu tokens within the %s budget of %s",
                 (unsigned long long)max_ctx, budget_name, SZ(budget));
        return st_errf(err, "plan", "--ctx", want, "%u (KV cache %s)", ctx, SZ(kv));
    }
    snprintf(want, sizeof want, "at least %s (head, norms, KV cache for ctx %u, activations)",
             SZ(fixed), ctx);
    return st_errf(err, "plan", budget_name[0] == 'V' ? "--vram-budget" : "--ram-budget",
                   want, "%s", SZ(budget));
}

int plan_make(struct plan *p, const struct profile *prof,
              const struct model_facts *f, const struct plan_opts *o,
              struct st_err *err)
{
    char want[200];
    memset(p, 0, sizeof *p);
    if (f->n_layers == 0 || f->n_layers > FACTS_MAX_LAYERS)
        return st_errf(err, "plan", "n_layers", "1 to 512", "%u", f->n_layers);
    p->n_layers = f->n_layers;
    p->gpu = profile_has_gpu(prof) && !o->cpu;
    p->gpu_sms = p->gpu ? (uint32_t)prof->gpu_sms : 0;

    /* ---- options ---- */
    uint32_t ctx = o->ctx;
    if (!ctx)
        ctx = f->n_ctx_train && f->n_ctx_train < PLAN_DEFAULT_CTX ? f->n_ctx_train
                                                                  : PLAN_DEFAULT_CTX;
    if (f->n_ctx_train && ctx > f->n_ctx_train) {
        snprintf(want, sizeof want, "at most %u (the model's context_length)", f->n_ctx_train);
        return st_errf(err, "plan", "--ctx", want, "%u", ctx);
    }
    p->ctx = ctx;
    if (o->slots > PLAN_MAX_SLOTS)
        return st_errf(err, "plan", "--slots", "1 to 8", "%u", o->slots);
    p->h2d_gbps = profile_h2d_gbps(prof, &p->h2d_measured);
    p->hbm_gbps = prof->d2d_measured_gbps;
    p->disk_gbps = prof->disk_read_gbps;
    uint32_t n_slots = o->slots ? o->slots : p->h2d_gbps >= PLAN_FAST_LINK_GBPS ? 3 : 2;

    /* ---- budgets ---- */
    uint64_t pct = prof->ram_bytes / 100 * PLAN_RAM_RESERVE_PERCENT;
    p->ram_reserve = pct > PLAN_RAM_RESERVE_MIN ? pct : PLAN_RAM_RESERVE_MIN;
    uint64_t ram_max = prof->ram_bytes > p->ram_reserve ? prof->ram_bytes - p->ram_reserve : 0;
    if (o->ram_budget) {
        if (o->ram_budget > ram_max) {
            snprintf(want, sizeof want, "at most %s (ram_bytes %s minus the reserve %s)",
                     SZ(ram_max), SZ(prof->ram_bytes), SZ(p->ram_reserve));
            return st_errf(err, "plan", "--ram-budget", want, "%s", SZ(o->ram_budget));
        }
        p->ram_budget = o->ram_budget;
    } else {
        if (ram_max == 0) {
            snprintf(want, sizeof want, "more than the reserve of %s", SZ(p->ram_reserve));
            return st_errf(err, "plan", "ram_bytes", want, "%s", SZ(prof->ram_bytes));
        }
        p->ram_budget = ram_max;
        p->ram_budget_default = 1;
    }
    if (p->gpu) {
        if (o->vram_budget) {
            if (o->vram_budget > prof->vram_bytes) {
                snprintf(want, sizeof want, "at most %s (the profile's vram_bytes)",
                         SZ(prof->vram_bytes));
                return st_errf(err, "plan", "--vram-budget", want, "%s", SZ(o->vram_budget));
            }
            p->vram_budget = o->vram_budget;
        } else {
            if (prof->vram_free_bytes <= PLAN_VRAM_MARGIN) {
                snprintf(want, sizeof want, "more than the %s margin", SZ(PLAN_VRAM_MARGIN));
                return st_errf(err, "plan", "vram_free_bytes", want, "%s",
                               SZ(prof->vram_free_bytes));
            }
            p->vram_budget = prof->vram_free_bytes - PLAN_VRAM_MARGIN;
            p->vram_budget_default = 1;
        }
    }

    /* ---- sizes ---- */
    uint64_t kv = kv_bytes(f, ctx), act = act_bytes(f, ctx, p->gpu);
    uint64_t scratch = p->gpu ? 0 : PLAN_SCRATCH_BYTES; /* GPU: in act (gpu_work.h) */
    /* layer: a block as the file holds it (VRAM, disk); layer_b: as the
     * pinned host tier holds it, re-quantized by --stream-type (GPU only:
     * the CPU plan has no tier B) */
    uint64_t layer[FACTS_MAX_LAYERS], layer_b[FACTS_MAX_LAYERS];
    uint32_t st = p->gpu ? o->stream_type : 0;
    p->stream_type = st;
    for (uint32_t l = 0; l < f->n_layers; l++) {
        layer[l] = plan_layer_stream_bytes(f, l);
        layer_b[l] = st ? plan_layer_stream_bytes_as(f, l, st) : layer[l];
    }
    int head_role = f->output_tied ? FACTS_EMBD : FACTS_OUTPUT;
    for (uint32_t i = 0; i < f->n_tensors; i++) {
        const struct facts_tensor *t = &f->tensors[i];
        if (t->role == head_role)
            p->head_bytes += align_up(t->bytes);
        else if (t->role == FACTS_EMBD)
            p->embd_bytes += align_up(t->bytes);
        else if (t->role != FACTS_LAYER_MATRIX)
            p->small_bytes += align_up(t->bytes);
    }
    uint64_t fixed = p->head_bytes + p->small_bytes + align_up(kv) + align_up(act) +
                     align_up(scratch);
    uint64_t all_layers = 0;
    for (uint32_t l = 0; l < f->n_layers; l++)
        all_layers += layer[l];

    /* ---- tiers ---- */
    uint32_t n_a, n_b;
    uint64_t slot = 0;
    uint8_t res[FACTS_MAX_LAYERS]; /* resident blocks (tier A) */
    memset(res, 1, sizeof res);
    if (p->gpu) {
        if (fixed > p->vram_budget)
            return refuse_fixed(f, ctx, fixed, 1, p->vram_budget, "VRAM", err);
        /* Slots hold streamed blocks as they arrive: re-quantized from
         * tier B (layer_b); a tier-C block arrives as the file holds it, so
         * when the first sizing leaves blocks on disk, size again for them. */
        const uint64_t *need = layer_b;
    resize:
        if (fixed + all_layers <= p->vram_budget) {
            n_a = f->n_layers;
        } else {
            uint64_t biggest = max_stream(need, 0, f->n_layers);
            if (fixed + n_slots * biggest > p->vram_budget) {
                snprintf(want, sizeof want,
                         "at least %s (head, norms, KV cache, activations: %s, and %u slots of the largest block, %s)",
                         SZ(fixed + n_slots * biggest), SZ(fixed), n_slots, SZ(biggest));
                return st_errf(err, "plan", "--vram-budget", want, "%s", SZ(p->vram_budget));
            }
            n_a = choose_resident(layer, need, f->n_layers, fixed, n_slots, p->vram_budget,
                                  res, &slot);
        }
        /* host: embedding, then the streamed blocks in order as tier B while
         * they fit, the rest tier C */
        uint64_t host_fixed = p->embd_bytes, rest = 0;
        for (uint32_t l = 0; l < f->n_layers; l++)
            rest += res[l] ? 0 : layer_b[l];
        if (host_fixed + rest <= p->ram_budget) {
            n_b = f->n_layers - n_a;
        } else {
            uint64_t staging = n_slots * slot;
            if (host_fixed + staging > p->ram_budget) {
                snprintf(want, sizeof want,
                         "at least %s (embedding %s and %u staging buffers of %s)",
                         SZ(host_fixed + staging), SZ(host_fixed), n_slots, SZ(slot));
                return st_errf(err, "plan", "--ram-budget", want, "%s", SZ(p->ram_budget));
            }
            uint64_t sum = 0;
            n_b = 0;
            for (uint32_t l = 0; l < f->n_layers; l++) {
                if (res[l])
                    continue;
                if (host_fixed + staging + sum + layer_b[l] > p->ram_budget)
                    break;
                sum += layer_b[l];
                n_b++;
            }
        }
        if (need != layer && n_a + n_b < f->n_layers) {
            need = layer;
            goto resize;
        }
    } else {
        /* CPU: one host arena; the head, embedding and small tensors all there */
        fixed += p->embd_bytes;
        if (fixed > p->ram_budget)
            return refuse_fixed(f, ctx, fixed, 0, p->ram_budget, "RAM", err);
        n_b = 0;
        if (fixed + all_layers <= p->ram_budget) {
            n_a = f->n_layers;
        } else {
            uint64_t biggest = max_stream(layer, 0, f->n_layers);
            if (fixed + n_slots * biggest > p->ram_budget) {
                snprintf(want, sizeof want, "at least %s (%s fixed and %u staging buffers of %s)",
                         SZ(fixed + n_slots * biggest), SZ(fixed), n_slots, SZ(biggest));
                return st_errf(err, "plan", "--ram-budget", want, "%s", SZ(p->ram_budget));
            }
            n_a = choose_resident(layer, layer, f->n_layers, fixed, n_slots, p->ram_budget, res,
                                  &slot);
        }
    }
    uint64_t streamed[FACTS_MAX_LAYERS]; /* what a slot receives per block */
    for (uint32_t l = 0, b = 0; l < f->n_layers; l++) {
        p->tier[l] = res[l] ? PLAN_TIER_A : b++ < n_b ? PLAN_TIER_B : PLAN_TIER_C;
        p->n_tier[p->tier[l]]++;
        streamed[l] = p->tier[l] == PLAN_TIER_B ? layer_b[l] : layer[l];
        p->tier_bytes[p->tier[l]] += streamed[l];
        if (p->tier[l] == PLAN_TIER_B)
            p->tier_b_unconverted += layer[l];
    }
    int streams = n_a < f->n_layers;
    p->n_slots = streams ? n_slots : 0;
    p->slot_bytes = 0;
    for (uint32_t l = 0; l < f->n_layers; l++)
        if (!res[l] && streamed[l] > p->slot_bytes)
            p->slot_bytes = streamed[l];
    p->tier_bytes[PLAN_TIER_A] += p->head_bytes + p->small_bytes;

    /* ---- offsets ---- */
    p->n_tensors = f->n_tensors;
    p->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *p->tensors);
    if (!p->tensors)
        return st_errmsg(err, "plan: out of memory for %u tensors", f->n_tensors);
    int main_arena = p->gpu ? PLAN_ARENA_DEVICE : PLAN_ARENA_HOST;
    uint64_t *used = p->arena_bytes;
    /* pass 0: the head; 1: embedding (GPU: host arena); 2: small tensors;
     * 3: block matrices by tier. Tensor order within each pass is the file's. */
    for (int pass = 0; pass < 4; pass++)
        for (uint32_t i = 0; i < f->n_tensors; i++) {
            const struct facts_tensor *t = &f->tensors[i];
            struct plan_tensor *pt = &p->tensors[i];
            int is_head = t->role == head_role;
            int is_embd = !is_head && t->role == FACTS_EMBD;
            int is_matrix = t->role == FACTS_LAYER_MATRIX;
            int is_small = !is_head && !is_embd && !is_matrix;
            if ((pass == 0 && is_head) || (pass == 2 && is_small)) {
                pt->arena = main_arena;
                pt->offset = arena_take(&used[main_arena], t->bytes);
            } else if (pass == 1 && is_embd) {
                pt->arena = PLAN_ARENA_HOST;
                pt->offset = arena_take(&used[PLAN_ARENA_HOST], t->bytes);
            } else if (pass == 3 && is_matrix) {
                pt->tier = p->tier[t->layer];
                if (pt->tier == PLAN_TIER_A) {
                    pt->arena = main_arena;
                    pt->offset = arena_take(&used[main_arena], t->bytes);
                } else if (pt->tier == PLAN_TIER_B) {
                    pt->arena = PLAN_ARENA_HOST;
                    pt->offset = arena_take(&used[PLAN_ARENA_HOST], plan_stored_bytes(t, st));
                } else {
                    pt->arena = PLAN_ARENA_FILE;
                    pt->offset = t->file_offset;
                }
            }
        }
    /* slot offsets: each streamed block's matrices packed from 0 */
    for (uint32_t l = 0; l < f->n_layers; l++) {
        if (p->tier[l] == PLAN_TIER_A)
            continue;
        uint64_t in_slot = 0;
        for (uint32_t i = 0; i < f->n_tensors; i++)
            if (f->tensors[i].role == FACTS_LAYER_MATRIX && f->tensors[i].layer == (int32_t)l)
                p->tensors[i].slot_offset = arena_take(
                    &in_slot, p->tier[l] == PLAN_TIER_B ? plan_stored_bytes(&f->tensors[i], st)
                                                        : f->tensors[i].bytes);
    }
    struct plan_buffer *b = p->buf;
    b[PLAN_BUF_KV] = (struct plan_buffer){main_arena, arena_take(&used[main_arena], kv), kv};
    b[PLAN_BUF_ACT] = (struct plan_buffer){main_arena, arena_take(&used[main_arena], act), act};
    b[PLAN_BUF_SCRATCH] =
        (struct plan_buffer){main_arena, arena_take(&used[main_arena], scratch), scratch};
    uint64_t slots = (uint64_t)p->n_slots * p->slot_bytes;
    if (p->gpu && streams)
        b[PLAN_BUF_SLOTS] = (struct plan_buffer){PLAN_ARENA_DEVICE,
                                                 arena_take(&used[PLAN_ARENA_DEVICE], slots), slots};
    if (p->n_tier[PLAN_TIER_C])
        b[PLAN_BUF_STAGING] = (struct plan_buffer){PLAN_ARENA_HOST,
                                                   arena_take(&used[PLAN_ARENA_HOST], slots), slots};
    else
        b[PLAN_BUF_STAGING].arena = PLAN_ARENA_HOST;
    if (!(p->gpu && streams))
        b[PLAN_BUF_SLOTS].arena = main_arena;

    /* ---- the floor: t_token >= max(A / HBM, (B + C) / H2D, C / disk) ---- */
    double floor = -1.0;
    double a = (double)p->tier_bytes[0], bc = (double)(p->tier_bytes[1] + p->tier_bytes[2]),
           c = (double)p->tier_bytes[2];
    if (p->gpu && p->hbm_gbps > 0 && a / (p->hbm_gbps * 1e9) > floor)
        floor = a / (p->hbm_gbps * 1e9);
    if (p->gpu && bc > 0 && p->h2d_gbps > 0 && bc / (p->h2d_gbps * 1e9) > floor)
        floor = bc / (p->h2d_gbps * 1e9);
    if (c > 0 && p->disk_gbps > 0 && c / (p->disk_gbps * 1e9) > floor)
        floor = c / (p->disk_gbps * 1e9);
    p->floor_s = floor;
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

/* "0-28", "29-79", "-" for the blocks of one tier (ranges, comma-separated). */
static void tier_ranges(const struct plan *p, int tier, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (uint32_t l = 0; l < p->n_layers; l++) {
        if (p->tier[l] != tier || (l > 0 && p->tier[l - 1] == tier))
            continue;
        uint32_t e = l;
        while (e + 1 < p->n_layers && p->tier[e + 1] == tier)
            e++;
        int w = e == l ? snprintf(out + len, cap - len, "%s%u", len ? "," : "", l)
                       : snprintf(out + len, cap - len, "%s%u-%u", len ? "," : "", l, e);
        if (w < 0 || (size_t)w >= cap - len)
            return;
        len += (size_t)w;
    }
    if (!len)
        snprintf(out, cap, "-");
}

static void fmt_time(double s, char *out, size_t cap)
{
    if (s < 1e-3)
        snprintf(out, cap, "%.1f us", s * 1e6);
    else if (s < 1.0)
        snprintf(out, cap, "%.2f ms", s * 1e3);
    else
        snprintf(out, cap, "%.2f s", s);
}

int plan_table(const struct plan *p, const struct profile *prof,
               const struct model_facts *f, const char *name, char *buf, size_t cap)
{
    size_t len = 0;
    char r[256], t[32];
#define PUT(...)                                                      \
    do {                                                              \
        if (strbuf_appendf(buf, cap, &len, __VA_ARGS__))              \
            return -1;                                                \
    } while (0)
    const char *where_a = p->gpu ? "device arena (VRAM)" : "host arena (RAM)";
    PUT("plan %s: %s (%s, %u blocks, %s of weights), ctx %u, %s engine\n", name, f->name,
        f->arch, f->n_layers, SZ(f->total_bytes), p->ctx, p->gpu ? "CUDA" : "CPU");
    if (profile_has_gpu(prof)) {
        PUT("  machine: %s, %s VRAM, ", prof->gpu_name, SZ(prof->vram_bytes));
        if (prof->pcie_source == PCIE_SOURCE_UNKNOWN)
            PUT("PCIe link unknown, ");
        else
            PUT("PCIe Gen%llu x%llu (%s link), ", (unsigned long long)prof->pcie_gen,
                (unsigned long long)prof->pcie_width, profile_pcie_source_name(prof->pcie_source));
        PUT("%s RAM\n", SZ(prof->ram_bytes));
    } else {
        PUT("  machine: no GPU, %s RAM, %llu CPUs\n", SZ(prof->ram_bytes),
            (unsigned long long)prof->cpu_cores);
    }
    if (p->gpu)
        PUT("  budgets: VRAM %s%s, RAM %s%s (reserve %s)\n", SZ(p->vram_budget),
            p->vram_budget_default ? " (vram_free - 512 MiB)" : "", SZ(p->ram_budget),
            p->ram_budget_default ? " (RAM - reserve)" : "", SZ(p->ram_reserve));
    else
        PUT("  budget: RAM %s%s (reserve %s)\n", SZ(p->ram_budget),
            p->ram_budget_default ? " (RAM - reserve)" : "", SZ(p->ram_reserve));
    /* tier C reaches the GPU through pinned staging buffers: say so where
     * GPUDirect Storage could have read it straight into the slots */
    if (p->gpu && p->n_tier[PLAN_TIER_C])
        PUT("  GPUDirect Storage: not used (%s)\n",
            strcmp(prof->gds, "yes") == 0
                ? "available; tier C goes through pinned staging buffers, several reads in flight"
                : strncmp(prof->gds, "no: ", 4) == 0 ? prof->gds + 4 : prof->gds);

    PUT("\n  tier  blocks          count   bytes/token  where\n");
    static const char *where_bc[] = {NULL, "pinned host arena -> a device slot each token",
                                     "model file, direct I/O -> staging -> slot"};
    for (int tier = 0; tier < 3; tier++) {
        if (!p->gpu && tier == PLAN_TIER_B)
            continue;
        tier_ranges(p, tier, r, sizeof r);
        uint64_t bytes = p->tier_bytes[tier];
        int wide = strlen(r) > 14; /* spread blocks: their list on a line of its own */
        PUT("  %c     %-14s %6u  %11s  %s\n", 'A' + tier, wide ? "spread (below)" : r,
            p->n_tier[tier], SZ(bytes),
            tier == 0 ? where_a
                      : (!p->gpu && tier == 2 ? "model file, read each token" : where_bc[tier]));
        if (wide)
            PUT("          %s\n", r);
    }
    PUT("  (A includes the output head, norms and other small tensors: %s)\n",
        SZ(p->head_bytes + p->small_bytes));
    if (p->stream_type && p->n_tier[PLAN_TIER_B])
        PUT("  (B re-quantized to %s in the host tier: %s instead of %s per token)\n",
            ggml_type_name(p->stream_type), SZ(p->tier_bytes[PLAN_TIER_B]),
            SZ(p->tier_b_unconverted));

    for (int arena = 0; arena < 2; arena++) {
        if (arena == PLAN_ARENA_DEVICE && !p->gpu)
            continue;
        uint64_t budget = arena == PLAN_ARENA_DEVICE || !p->gpu ? (p->gpu ? p->vram_budget : p->ram_budget)
                                                                : p->ram_budget;
        PUT("\n  %s arena: %s of a %s budget (%.1f%%)\n",
            arena == PLAN_ARENA_DEVICE ? "device" : p->gpu ? "pinned host" : "host",
            SZ(p->arena_bytes[arena]), SZ(budget),
            budget ? 100.0 * (double)p->arena_bytes[arena] / (double)budget : 0.0);
        int main_arena = p->gpu ? PLAN_ARENA_DEVICE : PLAN_ARENA_HOST;
        if (arena == main_arena) {
            PUT("    %-22s %12s%s\n", "output head", SZ(p->head_bytes),
                f->output_tied ? "  (tied: the embedding table)" : "");
            PUT("    %-22s %12s\n", "norms, biases, other", SZ(p->small_bytes));
            PUT("    %-22s %12s  %u blocks\n", "tier A blocks",
                SZ(p->tier_bytes[0] - p->head_bytes - p->small_bytes), p->n_tier[0]);
            PUT("    %-22s %12s  F16, %u tokens x %u blocks x %u kv heads x %u x 2\n",
                "KV cache", SZ(p->buf[PLAN_BUF_KV].bytes), p->ctx, f->n_layers, f->n_kv_heads,
                f->head_dim);
            if (p->gpu) {
                PUT("    %-22s %12s  %u-token prompt chunk, f16 matrix, GEMM workspace\n",
                    "working buffers", SZ(p->buf[PLAN_BUF_ACT].bytes), GPU_WORK_CHUNK);
            } else {
                PUT("    %-22s %12s  %d-token batch\n", "activations",
                    SZ(p->buf[PLAN_BUF_ACT].bytes), PLAN_PREFILL_TOKENS);
                PUT("    %-22s %12s\n", "scratch", SZ(p->buf[PLAN_BUF_SCRATCH].bytes));
            }
        }
        if (arena == PLAN_ARENA_DEVICE && p->n_slots)
            PUT("    %-22s %12s  %u x %s (the largest streamed block)\n", "streaming slots",
                SZ(p->buf[PLAN_BUF_SLOTS].bytes), p->n_slots, SZ(p->slot_bytes));
        if (arena == PLAN_ARENA_HOST) {
            if (!f->output_tied)
                PUT("    %-22s %12s  one row per token\n", "embedding", SZ(p->embd_bytes));
            if (p->gpu)
                PUT("    %-22s %12s  %u blocks\n", "tier B blocks", SZ(p->tier_bytes[1]),
                    p->n_tier[1]);
            if (p->n_tier[2])
                PUT("    %-22s %12s  %u x %s\n", "staging (tier C)",
                    SZ(p->buf[PLAN_BUF_STAGING].bytes), p->n_slots, SZ(p->slot_bytes));
        }
    }

    PUT("\n  per token:");
    int any = 0;
    struct { const char *what; double bytes, gbps; const char *bw; } term[3] = {
        {"A", (double)p->tier_bytes[0], p->gpu ? p->hbm_gbps : -1.0, p->gpu ? "HBM" : "RAM"},
        {"B+C", (double)(p->tier_bytes[1] + p->tier_bytes[2]), p->h2d_gbps,
         p->h2d_measured ? "H2D measured" : "H2D theoretical"},
        {"C", (double)p->tier_bytes[2], p->disk_gbps, "disk"},
    };
    for (int i = 0; i < 3; i++) {
        if (term[i].bytes <= 0 || (i == 1 && !p->gpu))
            continue;
        if (term[i].gbps > 0) {
            fmt_time(term[i].bytes / (term[i].gbps * 1e9), t, sizeof t);
            PUT("%s %s %s / %s %.2f GB/s = %s", any ? ";" : "", term[i].what,
                SZ((uint64_t)term[i].bytes), term[i].bw, term[i].gbps, t);
        } else {
            PUT("%s %s %s / %s unknown", any ? ";" : "", term[i].what,
                SZ((uint64_t)term[i].bytes), term[i].bw);
        }
        any = 1;
    }
    PUT("\n");
    if (p->floor_s > 0) {
        fmt_time(p->floor_s, t, sizeof t);
        PUT("  floor: t_token >= %s (%.2f tokens/s at most)\n", t, 1.0 / p->floor_s);
    } else {
        PUT("  floor: unknown (the profile has no bandwidth for the tiers used)\n");
    }
#undef PUT
    return (int)len;
}
