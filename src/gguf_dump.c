/* gguf_dump.c - the listing behind `strata-gguf` (see gguf_dump.h). */
#include "gguf_dump.h"

#include <inttypes.h>
#include <string.h>

#include "quant.h"

/* Strings are printed quoted, with control bytes, quotes and backslashes
 * escaped, and cut at 80 bytes, so one value is always one line. */
static void dump_str(FILE *out, struct gguf_str s)
{
    uint64_t n = s.len < 80 ? s.len : 80;
    fputc('"', out);
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
    if (n < s.len)
        fprintf(out, "...(%" PRIu64 " bytes)", s.len);
}

static void dump_scalar(FILE *out, const struct gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        fprintf(out, "%" PRIu64, kv->v.u);
        break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        fprintf(out, "%" PRId64, kv->v.i);
        break;
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64:
        fprintf(out, "%.9g", kv->v.f);
        break;
    case GGUF_TYPE_BOOL:
        fputs(kv->v.b ? "true" : "false", out);
        break;
    case GGUF_TYPE_STRING:
        dump_str(out, kv->v.s);
        break;
    }
}

/* Element i of a non-string array, decoded through a scalar kv so the
 * widening rules are the reader's. */
static void dump_elem(FILE *out, const struct gguf_kv *kv, uint64_t i)
{
    if (kv->arr_type == GGUF_TYPE_STRING) {
        dump_str(out, gguf_arr_str(kv, i));
        return;
    }
    switch (kv->arr_type) {
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64:
        fprintf(out, "%.9g", gguf_arr_f32(kv, i));
        break;
    case GGUF_TYPE_BOOL:
        fputs(kv->arr_data[i] ? "true" : "false", out);
        break;
    case GGUF_TYPE_UINT64: {
        uint64_t u;
        memcpy(&u, kv->arr_data + 8 * i, 8);
        fprintf(out, "%" PRIu64, u);
        break;
    }
    case GGUF_TYPE_INT64: {
        int64_t v;
        memcpy(&v, kv->arr_data + 8 * i, 8);
        fprintf(out, "%" PRId64, v);
        break;
    }
    case GGUF_TYPE_UINT32: {
        uint32_t u;
        memcpy(&u, kv->arr_data + 4 * i, 4);
        fprintf(out, "%" PRIu32, u);
        break;
    }
    default: /* 8/16-bit integers and int32 fit gguf_arr_i32 */
        fprintf(out, "%" PRId32, gguf_arr_i32(kv, i));
        break;
    }
}

static void dump_kv(FILE *out, const struct gguf_kv *kv, int max_items)
{
    if (kv->type != GGUF_TYPE_ARRAY) {
        fprintf(out, "  %-40s %-8s ", kv->key, gguf_vtype_name(kv->type));
        dump_scalar(out, kv);
        fputc('\n', out);
        return;
    }
    fprintf(out, "  %-40s array[%s, %" PRIu64 "]", kv->key,
            gguf_vtype_name(kv->arr_type), kv->arr_n);
    uint64_t n = max_items > 0 ? (uint64_t)max_items : 0;
    if (n > kv->arr_n)
        n = kv->arr_n;
    if (n) {
        fputs(" [", out);
        for (uint64_t i = 0; i < n; i++) {
            if (i)
                fputs(", ", out);
            dump_elem(out, kv, i);
        }
        fputs(n < kv->arr_n ? ", ...]" : "]", out);
    }
    fputc('\n', out);
}

static void dump_shape(FILE *out, const struct gguf_tensor *t)
{
    char buf[96];
    int k = 0;
    for (uint32_t d = 0; d < t->n_dims; d++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%" PRIu64,
                      d ? ", " : "", t->ne[d]);
    fprintf(out, " {%s}%*s", buf, k < 24 ? 24 - k : 0, "");
}

void gguf_dump(FILE *out, const struct gguf_file *f, int max_array_items)
{
    fprintf(out, "file:        %s\n", f->path);
    fprintf(out, "version:     %" PRIu32 "\n", f->version);
    fprintf(out, "size:        %" PRIu64 " bytes\n", f->size);
    fprintf(out, "alignment:   %" PRIu32 "\n", f->alignment);
    fprintf(out, "header:      %" PRIu64 " bytes\n", f->header_bytes);
    fprintf(out, "data offset: %" PRIu64 "\n", f->data_offset);
    fprintf(out, "fingerprint: %016" PRIx64 "\n", gguf_fingerprint(f));

    fprintf(out, "\nmetadata: %" PRIu64 " keys\n", f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++)
        dump_kv(out, &f->kv[i], max_array_items);

    fprintf(out, "\ntensors: %" PRIu64 "\n", f->n_tensors);
    fprintf(out, "  %5s  %-32s %-7s %-26s %12s %12s\n", "#", "name", "type",
            "shape", "bytes", "offset");
    uint64_t bytes_of[GGML_TYPE_COUNT] = {0}, count_of[GGML_TYPE_COUNT] = {0};
    uint64_t total = 0, elems = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        fprintf(out, "  %5" PRIu64 "  %-32s %-7s", i, t->name, ggml_type_name(t->type));
        dump_shape(out, t);
        fprintf(out, " %12" PRIu64 " %12" PRIu64 "\n", t->n_bytes, t->offset);
        if (t->type < GGML_TYPE_COUNT) {
            bytes_of[t->type] += t->n_bytes;
            count_of[t->type]++;
        }
        total += t->n_bytes;
        elems += t->n_elems;
    }

    fprintf(out, "\ntotals:\n");
    for (uint32_t ty = 0; ty < GGML_TYPE_COUNT; ty++) {
        if (!count_of[ty])
            continue;
        const struct ggml_type_info *ti = ggml_type_get(ty);
        fprintf(out, "  %-7s %5" PRIu64 " tensors %14" PRIu64 " bytes%s\n",
                ti->name, count_of[ty], bytes_of[ty],
                ti->supported ? "" : "  (not supported by strata)");
    }
    fprintf(out, "  %-7s %5" PRIu64 " tensors %14" PRIu64 " bytes, %" PRIu64
            " parameters\n", "all", f->n_tensors, total, elems);
}
