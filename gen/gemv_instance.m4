m4_dnl gemv_instance.m4 - one dequant+GEMV instance, included by every
m4_dnl family template: KNAME (the launcher name), DEC (the decoder),
m4_dnl ROWS, COLS and PAIR (true: a SwiGLU pair of gate and up) come from
m4_dnl gen/gemv-instances.sh (m4 -P -D...).
m4_dnl gemv_path picks the register path (v4) or the staged one (v3).

// ---- KNAME: y[ROWS] = W[ROWS x COLS] . x[COLS], decoder DEC, pair PAIR ----
static __global__ void __launch_bounds__(gemv_path<DEC, ROWS, COLS, PAIR>::THREADS)
KNAME`'_k(const uint8_t *__restrict__ w, const float *__restrict__ x, float *__restrict__ y,
          gemv_epi e)
{
    gemv_path<DEC, ROWS, COLS, PAIR>::body(w, x, y, e, (int)blockIdx.x);
}

extern "C" int KNAME`'(const void *w, const float *x, float *y, const gemv_epi *e, cudaStream_t s)
{
    return gemv_path<DEC, ROWS, COLS, PAIR>::run(KNAME`'_k, w, x, y, e, s);
}

extern "C" uint32_t KNAME`'_blocks(void)
{
    return gemv_path<DEC, ROWS, COLS, PAIR>::BLOCKS;
}

extern "C" int KNAME`'_emu(const void *w, const float *x, float *y)
{
    gemv_path<DEC, ROWS, COLS, PAIR>::emulate(w, x, y);
    return 0;
}

extern "C" int KNAME`'_int8x(void)
{
    return gemv_path<DEC, ROWS, COLS, PAIR>::INT8X;
}

extern "C" int KNAME`'_xq(void)
{
    return gemv_path<DEC, ROWS, COLS, PAIR>::XQ;
}
