/* strata-synth - write a synthetic GGUF model of a real model's shape.
 *
 *   strata-synth --preset llama-3.1-8b --type q4_k_m -o /tmp/l8.gguf
 *   strata-synth --preset llama-3.1-70b --type q4_k_m --dry-run
 *   strata-synth --layers 2 --dim 256 --heads 4 --kv-heads 2 --ffn 512 \
 *                --vocab 512 --type q8_0 -o tiny.gguf
 *
 * Bad options give one line on stderr and exit status 1. Progress goes to
 * stderr: a bar on a terminal, a line per 10% otherwise, none with
 * --quiet. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quant.h"
#include "progress.h"
#include "synth.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: strata-synth --preset NAME --type MIX -o FILE [--seed N] [--dry-run]\n"
        "                    [--layers N --dim N --heads N --kv-heads N --ffn N\n"
        "                     --vocab N --ctx N] [--arch llama|qwen2] [--tied]\n"
        "                    [--threads N] [--quiet]\n"
        "  presets: %s\n"
        "  mixes:   q4_k_m q6_k q8_0 q4_0 q2_k q3_k_m q5_k_m f16\n"
        "  without --preset, --layers --dim --heads --ffn --vocab are required\n",
        synth_preset_list());
}

/* strata-synth's writer calls back with bytes written (progress.h draws). */
static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    (void)total;
    progress_update(p, done);
}

/* ---- the tensor table (--dry-run) ----------------------------------------- */

static void print_table(const struct synth_model *m)
{
    const struct synth_config *c = &m->cfg;
    printf("%s  arch %s  mix %s  seed %" PRIu64 "\n", c->name,
           c->arch == SYNTH_ARCH_QWEN2 ? "qwen2" : "llama", synth_mix_name(c->mix),
           c->seed);
    printf("layers %u  dim %u  heads %u/%u  ffn %u  vocab %u  ctx %u%s\n",
           c->n_layers, c->dim, c->n_heads, c->n_kv_heads, c->ffn_dim, c->n_vocab,
           c->n_ctx, c->tied_output ? "  tied output" : "");
    printf("%-28s %-5s %-16s %14s\n", "tensor", "type", "shape", "bytes");
    uint64_t by_type[GGML_TYPE_COUNT] = {0};
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const struct synth_tensor *t = &m->t[i];
        char shape[40];
        if (t->n_dims == 1)
            snprintf(shape, sizeof shape, "[%" PRIu64 "]", t->ne[0]);
        else
            snprintf(shape, sizeof shape, "[%" PRIu64 ", %" PRIu64 "]", t->ne[0], t->ne[1]);
        printf("%-28s %-5s %-16s %14" PRIu64 "\n", t->name, ggml_type_name(t->type),
               shape, t->n_bytes);
        by_type[t->type] += t->n_bytes;
    }
    for (uint32_t ty = 0; ty < GGML_TYPE_COUNT; ty++)
        if (by_type[ty])
            printf("  %-5s %14" PRIu64 " bytes\n", ggml_type_name(ty), by_type[ty]);
    printf("tensors %u  data %" PRIu64 " bytes  file %" PRIu64 " bytes (%.2f GiB)\n",
           m->n_tensors, m->data_bytes, m->file_size,
           (double)m->file_size / (1024.0 * 1024 * 1024));
}

int main(int argc, char **argv)
{
    struct synth_args a;
    struct st_err err = {""};
    int rc = synth_args_parse(&a, argc, argv, &err);
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct synth_model m;
    if (synth_build(&m, &a.cfg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (a.dry_run) {
        print_table(&m);
        synth_free(&m);
        return 0;
    }
    struct progress p;
    progress_start(&p, "strata-synth", m.file_size, 0);
    struct synth_write_opts o = {a.n_threads, a.quiet ? NULL : progress_cb, &p};
    double t0 = progress_now();
    if (synth_write(&m, a.out, &o, &err)) {
        fprintf(stderr, "%s%s\n", p.tty && !a.quiet ? "\n" : "", err.msg);
        synth_free(&m);
        return 1;
    }
    double el = progress_now() - t0;
    if (!a.quiet)
        fprintf(stderr, "strata-synth: wrote %s: %" PRIu64 " bytes, %u tensors in %.2f s (%.0f MB/s)\n",
                a.out, m.file_size, m.n_tensors, el, el > 0 ? (double)m.file_size / el / 1e6 : 0);
    synth_free(&m);
    return 0;
}
