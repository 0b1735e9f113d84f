/* strata-plan - the planner as a program (what configure and `strata plan`
 * run): reads a profile and a model header (or a synthetic model), prints
 * the plan table, and with --out DIR writes what gen/codegen.sh expands:
 *   DIR/plan.txt        the table
 *   DIR/gen/plan.m4     the plan's numbers as m4 macros (m4 -P syntax)
 *   DIR/gen/tensors.m4  one PLAN_TENSOR(...) line per tensor
 *   DIR/gen/gemv.list   "TYPE ROWS COLS [swiglu | + TYPE2 ROWS2]" per GEMV shape the model needs,
 *                       sorted, unique (ROWS = outputs = ne[1], COLS = ne[0])
 * Errors: one line "strata-plan: FILE: FIELD: found X, expected Y", exit 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facts.h"
#include "plan.h"
#include "plan_gemv.h"
#include "profile.h"
#include "quant.h"
#include "quantize.h"
#include "size.h"

static const char usage[] =
    "usage: strata-plan --profile FILE (--model FILE | --synth NAME) [options]\n"
    "  --name NAME          build name (default: the profile's base name)\n"
    "  --vram-budget SIZE   device memory for the plan (22G = 22GiB; 22GB = 22e9)\n"
    "  --ram-budget SIZE    pinned host memory for the plan\n"
    "  --ctx N              context length (KV cache) in tokens\n"
    "  --slots N            streaming slots (pipeline depth), 1..8\n"
    "  --stream-type TYPE   tier B re-quantized to TYPE in the host tier (e.g. q4_k)\n"
    "  --cpu                plan for the CPU engine even with a GPU\n"
    "  --out DIR            write DIR/plan.txt and DIR/gen/{plan.m4,tensors.m4,gemv.list}\n"
    "  --synth PRESET-MIX   the model strata-synth would write, e.g. llama-3.1-70b-q4_k_m,\n"
    "                       qwen2.5-32b-q4_k_m (strata-synth --help lists presets and mixes)\n"
    "  --check-size SIZE    only check that SIZE parses (exit 0) or say why not\n";

static int die(const char *msg)
{
    fprintf(stderr, "strata-plan: %s\n", msg);
    return 1;
}

static int parse_u32(const char *opt, const char *v, uint32_t lo, uint32_t hi,
                     uint32_t *out, struct st_err *err)
{
    char *end;
    unsigned long x = v && *v >= '0' && *v <= '9' ? strtoul(v, &end, 10) : 0;
    if (!v || *v < '0' || *v > '9' || *end || x < lo || x > hi) {
        char want[64];
        snprintf(want, sizeof want, "an integer from %u to %u", lo, hi);
        return st_errf(err, "strata-plan", opt, want, "'%s'", v ? v : "");
    }
    *out = (uint32_t)x;
    return 0;
}

/* Writes s as a C string literal body: printable ASCII stays, the rest
 * (and the m4 quotes ` and ') becomes octal escapes. */
static void put_c_string(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            fputs("\\n", o);
        else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '`' || c == '\'')
            fprintf(o, "\\%03o", c);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

// DIR and DIR/gen, made where missing (the parent of DIR must exist)
static int make_out_dirs(const char *dir, struct st_err *err)
{
    char path[4096];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return st_errmsg(err, "%s: cannot create: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/gen", dir);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return st_errmsg(err, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

static FILE *open_out(const char *dir, const char *file, struct st_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *o = fopen(path, "w");
    if (!o)
        st_errmsg(err, "%s: cannot create: %s", path, strerror(errno));
    return o;
}

static int write_outputs(const char *dir, const char *name, const struct plan *p,
                         const struct model_facts *f, const char *table, struct st_err *err)
{
    if (make_out_dirs(dir, err))
        return -1;
    FILE *o = open_out(dir, "plan.txt", err);
    if (!o)
        return -1;
    fputs(table, o);
    fclose(o);

    if (!(o = open_out(dir, "gen/plan.m4", err)))
        return -1;
    fprintf(o, "m4_dnl plan.m4 - written by strata-plan: the plan's numbers for gen/*.m4\n");
#define DEF(k, fmt, ...) fprintf(o, "m4_define(`PLAN_" k "', `" fmt "')m4_dnl\n", __VA_ARGS__)
    DEF("NAME", "%s", name);
    fprintf(o, "m4_define(`PLAN_MODEL_NAME', `");
    put_c_string(o, f->name);
    fprintf(o, "')m4_dnl\n");
    DEF("ARCH", "%s", f->arch);
    DEF("FINGERPRINT", "0x%016llxull", (unsigned long long)f->fingerprint);
    DEF("GPU", "%d", p->gpu);
    DEF("GPU_SMS", "%u", p->gpu_sms);
    DEF("N_LAYERS", "%u", f->n_layers);
    DEF("N_EMBD", "%u", f->n_embd);
    DEF("N_HEADS", "%u", f->n_heads);
    DEF("N_KV_HEADS", "%u", f->n_kv_heads);
    DEF("HEAD_DIM", "%u", f->head_dim);
    DEF("N_FF", "%u", f->n_ff);
    DEF("N_VOCAB", "%u", f->n_vocab);
    DEF("CTX", "%u", p->ctx);
    DEF("N_SLOTS", "%u", p->n_slots);
    DEF("SLOT_BYTES", "%lluull", (unsigned long long)p->slot_bytes);
    DEF("DEVICE_ARENA_BYTES", "%lluull", (unsigned long long)p->arena_bytes[0]);
    DEF("HOST_ARENA_BYTES", "%lluull", (unsigned long long)p->arena_bytes[1]);
    DEF("N_TIER_A", "%u", p->n_tier[0]);
    DEF("N_TIER_B", "%u", p->n_tier[1]);
    DEF("N_TIER_C", "%u", p->n_tier[2]);
    /* bytes read per token from each tier: the benchmark's floor */
    DEF("TIER_A_BYTES", "%llu", (unsigned long long)p->tier_bytes[0]);
    DEF("TIER_B_BYTES", "%llu", (unsigned long long)p->tier_bytes[1]);
    DEF("TIER_C_BYTES", "%llu", (unsigned long long)p->tier_bytes[2]);
    /* the floor in nanoseconds per token, 0 when a bandwidth is unknown */
    DEF("STREAM_TYPE", "%u", p->stream_type);
    DEF("FLOOR_NS", "%llu", (unsigned long long)(p->floor_s > 0 ? p->floor_s * 1e9 + 0.5 : 0));
    DEF("N_TENSORS", "%u", f->n_tensors);
    static const char *bufname[PLAN_BUF_COUNT] = {"KV", "ACT", "SCRATCH", "SLOTS", "STAGING"};
    for (int i = 0; i < PLAN_BUF_COUNT; i++) {
        fprintf(o, "m4_define(`PLAN_%s_ARENA', `%d')m4_dnl\n", bufname[i], p->buf[i].arena);
        fprintf(o, "m4_define(`PLAN_%s_OFFSET', `%lluull')m4_dnl\n", bufname[i],
                (unsigned long long)p->buf[i].offset);
        fprintf(o, "m4_define(`PLAN_%s_BYTES', `%lluull')m4_dnl\n", bufname[i],
                (unsigned long long)p->buf[i].bytes);
    }
    fprintf(o, "m4_define(`PLAN_LAYER_TIERS', `");
    for (uint32_t l = 0; l < f->n_layers; l++)
        fprintf(o, "%s%u", l ? ", " : "", p->tier[l]);
    fprintf(o, "')m4_dnl\n");
    /* the table, one C string literal per line */
    fprintf(o, "m4_define(`PLAN_TABLE', `");
    for (const char *s = table; *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s + 1) : strlen(s);
        char line[512];
        if (n >= sizeof line)
            n = sizeof line - 1;
        memcpy(line, s, n);
        line[n] = 0;
        fputs("\n    ", o);
        put_c_string(o, line);
        s += n;
    }
    fprintf(o, "')m4_dnl\n");
#undef DEF
    fclose(o);

    if (!(o = open_out(dir, "gen/tensors.m4", err)))
        return -1;
    fprintf(o, "m4_dnl tensors.m4 - written by strata-plan: "
               "PLAN_TENSOR(name, type, layer, tier, arena, offset, slot_offset, bytes)\n");
    for (uint32_t i = 0; i < f->n_tensors; i++) {
        const struct facts_tensor *t = &f->tensors[i];
        const struct plan_tensor *pt = &p->tensors[i];
        fprintf(o, "PLAN_TENSOR(`");
        put_c_string(o, t->name);
        fprintf(o, "', %u, %d, %d, %d, %lluull, %lluull, %lluull)\n", t->type, t->layer,
                pt->tier, pt->arena, (unsigned long long)pt->offset,
                (unsigned long long)pt->slot_offset, (unsigned long long)t->bytes);
    }
    fclose(o);

    /* the GEMV shapes, one kernel instance each (plan_gemv.h) */
    struct plan_gemv g;
    if (plan_gemv_shapes(f, p, &g, err))
        return -1;
    if (!(o = open_out(dir, "gen/gemv.list", err))) {
        plan_gemv_free(&g);
        return -1;
    }
    for (size_t i = 0; i < g.n; i++)
        fprintf(o, "%s\n", g.line[i]);
    plan_gemv_free(&g);
    fclose(o);
    return 0;
}

static int name_ok(const char *s)
{
    if (!*s || strlen(s) > 64 || s[0] == '.' || s[0] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    const char *profile_path = NULL, *model = NULL, *synth = NULL, *name = NULL, *out = NULL;
    struct plan_opts o = {0};
    struct st_err err = {""};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--cpu") == 0) {
            o.cpu = 1;
            takes = 0;
        } else if (!v) {
            st_errf(&err, "strata-plan", a, "an option with its value (see --help)", "'%s' last", a);
            return die(err.msg);
        } else if (strcmp(a, "--profile") == 0) {
            profile_path = v;
        } else if (strcmp(a, "--model") == 0) {
            model = v;
        } else if (strcmp(a, "--synth") == 0) {
            synth = v;
        } else if (strcmp(a, "--name") == 0) {
            name = v;
            if (!name_ok(v)) {
                st_errf(&err, "strata-plan", a, "letters, digits, '-', '_', '.' (1 to 64)",
                        "'%s'", v);
                return die(err.msg);
            }
        } else if (strcmp(a, "--out") == 0) {
            out = v;
        } else if (strcmp(a, "--check-size") == 0) {
            uint64_t x;
            return size_parse(v, &x, "strata-plan", "size", &err) ? die(err.msg) : 0;
        } else if (strcmp(a, "--vram-budget") == 0 || strcmp(a, "--ram-budget") == 0) {
            uint64_t *dst = a[2] == 'v' ? &o.vram_budget : &o.ram_budget;
            if (size_parse(v, dst, "strata-plan", a, &err))
                return die(err.msg);
            if (*dst == 0) {
                st_errf(&err, "strata-plan", a, "a size above 0", "'%s'", v);
                return die(err.msg);
            }
        } else if (strcmp(a, "--ctx") == 0) {
            if (parse_u32(a, v, 1, 1u << 24, &o.ctx, &err))
                return die(err.msg);
        } else if (strcmp(a, "--slots") == 0) {
            if (parse_u32(a, v, 1, PLAN_MAX_SLOTS, &o.slots, &err))
                return die(err.msg);
        } else if (strcmp(a, "--stream-type") == 0) {
            int t = ggml_type_from_name(v);
            if (t <= 0 || !quantize_supported((uint32_t)t)) {
                st_errf(&err, "strata-plan", a, "a type the quantizer writes (q8_0, q6_k, "
                        "q5_k, q4_k, q4_0, q3_k, ...)", "'%s'", v);
                return die(err.msg);
            }
            o.stream_type = (uint32_t)t;
        } else {
            st_errf(&err, "strata-plan", "option", "one of those in --help", "'%s'", a);
            return die(err.msg);
        }
        i += takes;
    }
    if (!profile_path || (!model == !synth)) {
        fputs(usage, stderr);
        return die("need --profile and one of --model or --synth");
    }

    struct profile prof;
    if (profile_read(profile_path, &prof, &err))
        return die(err.msg);
    struct model_facts f;
    if (synth) {
        if (facts_from_synth(&f, synth, &err))
            return die(err.msg);
    } else if (facts_from_gguf(&f, model, &err)) {
        return die(err.msg);
    }
    char stem[128];
    if (!name) {
        const char *b = strrchr(profile_path, '/');
        snprintf(stem, sizeof stem, "%s", b ? b + 1 : profile_path);
        char *dot = strstr(stem, ".profile");
        if (dot)
            *dot = 0;
        name = stem;
    }
    struct plan p;
    if (plan_make(&p, &prof, &f, &o, &err)) {
        facts_free(&f);
        return die(err.msg);
    }
    static char table[32768];
    if (plan_table(&p, &prof, &f, name, table, sizeof table) < 0)
        return die("plan table too long");
    fputs(table, stdout);
    int rc = 0;
    if (out && write_outputs(out, name, &p, &f, table, &err))
        rc = die(err.msg);
    plan_free(&p);
    facts_free(&f);
    return rc;
}
