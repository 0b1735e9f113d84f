/* ops.c - element-wise and attention ops of the CPU forward pass (ops.h). */
#include "cpu/ops.h"

#include <math.h>

#include "half.h"

void op_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
    double ss = 0.0;
    for (uint32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (uint32_t i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

void op_add(float *x, const float *y, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        x[i] += y[i];
}

void op_softmax(float *x, uint32_t n)
{
    float max = -INFINITY;
    for (uint32_t i = 0; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (uint32_t i = 0; i < n; i++)
        x[i] *= inv;
}

void op_swiglu(float *gate, const float *up, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void op_rope_table(float *cs, uint32_t pos, uint32_t rope_dim, float theta,
                   float freq_scale, const float *freq_factors)
{
    for (uint32_t i = 0; i < rope_dim / 2; i++) {
        double a = (double)pos * freq_scale *
                   pow((double)theta, -2.0 * i / (double)rope_dim);
        if (freq_factors)
            a /= freq_factors[i];
        cs[2 * i] = (float)cos(a);
        cs[2 * i + 1] = (float)sin(a);
    }
}

void op_rope(float *v, uint32_t n_heads, uint32_t head_dim, uint32_t rope_dim,
             enum llm_rope_style style, const float *cs)
{
    uint32_t half = rope_dim / 2;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        for (uint32_t i = 0; i < half; i++) {
            /* the pair this frequency rotates */
            uint32_t a = style == LLM_ROPE_NEOX ? i : 2 * i;
            uint32_t b = style == LLM_ROPE_NEOX ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1];
            float x0 = x[a], x1 = x[b];
            x[a] = x0 * c - x1 * s;
            x[b] = x0 * s + x1 * c;
        }
    }
}

void op_attention_head(float *out, float *att, const float *q,
                       const uint16_t *k, const uint16_t *v,
                       uint32_t n_pos, uint32_t head_dim)
{
    float scale = 1.0f / sqrtf((float)head_dim);
    for (uint32_t t = 0; t < n_pos; t++) {
        const uint16_t *kt = k + (size_t)t * head_dim;
        float dot = 0.0f;
        for (uint32_t i = 0; i < head_dim; i++)
            dot += q[i] * f16_to_f32(kt[i]);
        att[t] = dot * scale;
    }
    op_softmax(att, n_pos);
    for (uint32_t i = 0; i < head_dim; i++)
        out[i] = 0.0f;
    for (uint32_t t = 0; t < n_pos; t++) {
        const uint16_t *vt = v + (size_t)t * head_dim;
        float a = att[t];
        for (uint32_t i = 0; i < head_dim; i++)
            out[i] += a * f16_to_f32(vt[i]);
    }
}

void op_store_f16(uint16_t *dst, const float *src, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        dst[i] = f32_to_f16(src[i]);
}
