m4_dnl gemv_float.cu.m4 - GEMV decoders for the plain types (F32, F16,
m4_dnl BF16), then one instance. Expanded by gen/gemv-instances.sh; the
m4_dnl skeleton is gemv_body in kernels/gemv_common.cuh.
#ifndef GEMV_FLOAT_DECODERS
#define GEMV_FLOAT_DECODERS
// Decoders for the plain types. A 256-element group is 256 values; lane l
// takes values 8l .. 8l + 7. Rows and steps are multiples of 256 values,
// so a staged step always starts on a 16-byte boundary and the lane reads
// its values as whole 16-byte words.

struct gemv_dec_f32 {
    static const int BYTES = 256 * 4;
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *b, int lane, const float *x, float xs)
    {
        const float4 *v = (const float4 *)(b + 32 * lane);
        float4 a = v[0], c = v[1];
        float s = a.x * x[0];
        s = fmaf(a.y, x[1], s);
        s = fmaf(a.z, x[2], s);
        s = fmaf(a.w, x[3], s);
        s = fmaf(c.x, x[4], s);
        s = fmaf(c.y, x[5], s);
        s = fmaf(c.z, x[6], s);
        s = fmaf(c.w, x[7], s);
        return s;
    }
};

// Two f16 (low half first) -> f32 products.
static __host__ __device__ __forceinline__ float gemv_f16x2_dot(uint32_t w, const float *x, float s)
{
    s = fmaf(cv_f16(w & 0xFFFF), x[0], s);
    return fmaf(cv_f16(w >> 16), x[1], s);
}

struct gemv_dec_f16 {
    static const int BYTES = 256 * 2;
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *b, int lane, const float *x, float xs)
    {
        uint4 v = *(const uint4 *)(b + 16 * lane);
        float s = gemv_f16x2_dot(v.x, x, 0.0f);
        s = gemv_f16x2_dot(v.y, x + 2, s);
        s = gemv_f16x2_dot(v.z, x + 4, s);
        return gemv_f16x2_dot(v.w, x + 6, s);
    }
};

// bf16 is the top half of an f32: a shift or a mask converts it.
static __host__ __device__ __forceinline__ float gemv_bf16x2_dot(uint32_t w, const float *x, float s)
{
    s = fmaf(cv_as_float(w << 16), x[0], s);
    return fmaf(cv_as_float(w & 0xFFFF0000u), x[1], s);
}

struct gemv_dec_bf16 {
    static const int BYTES = 256 * 2;
    static __host__ __device__ __forceinline__ float dot8(const uint8_t *b, int lane, const float *x, float xs)
    {
        uint4 v = *(const uint4 *)(b + 16 * lane);
        float s = gemv_bf16x2_dot(v.x, x, 0.0f);
        s = gemv_bf16x2_dot(v.y, x + 2, s);
        s = gemv_bf16x2_dot(v.z, x + 4, s);
        return gemv_bf16x2_dot(v.w, x + 6, s);
    }
};
#endif
m4_dnl decoders only where no KNAME is given (gemv_cat.m4 follows)
m4_ifdef(`KNAME', `m4_include(gemv_instance.m4)')
