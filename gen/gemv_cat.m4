m4_dnl gemv_cat.m4 - two matrices of different types in one launch
m4_dnl (gemv_cat in kernels/gemv_common.cuh): KNAME, DECA and ROWSA (the
m4_dnl first rows), DECB and ROWSB (the rest), COLS come from
m4_dnl gen/gemv-instances.sh, after the decoders of both types.

// ---- KNAME: y[ROWSA + ROWSB] = (A; B) . x[COLS], decoders DECA, DECB ----
static __global__ void __launch_bounds__(gemv_cat<DECA, ROWSA, DECB, ROWSB, COLS>::THREADS)
KNAME`'_k(const uint8_t *__restrict__ wa, const uint8_t *__restrict__ wb, const float *__restrict__ x,
          float *__restrict__ y, gemv_epi ea, gemv_epi eb)
{
    gemv_cat<DECA, ROWSA, DECB, ROWSB, COLS>::body(wa, wb, x, y, ea, eb);
}

extern "C" int KNAME`'(const void *wa, const void *wb, const float *x, float *y, const gemv_epi *ea,
                       const gemv_epi *eb, cudaStream_t s)
{
    return gemv_cat<DECA, ROWSA, DECB, ROWSB, COLS>::run(KNAME`'_k, wa, wb, x, y, ea, eb, s);
}

extern "C" uint32_t KNAME`'_blocks(void)
{
    return gemv_cat<DECA, ROWSA, DECB, ROWSB, COLS>::OK ? gemv_cat<DECA, ROWSA, DECB, ROWSB, COLS>::BLOCKS : 0;
}

extern "C" int KNAME`'_emu(const void *wa, const void *wb, const float *x, float *y)
{
    if (!gemv_cat<DECA, ROWSA, DECB, ROWSB, COLS>::OK)
        return -1;
    gemv_cat<DECA, ROWSA, DECB, ROWSB, COLS>::emulate(wa, wb, x, y);
    return 0;
}

// bit 0: A's part rounds x to int8 first, bit 1: B's (gemv_cat_int8_x)
extern "C" int KNAME`'_int8x(void)
{
    return gemv_cat<DECA, ROWSA, DECB, ROWSB, COLS>::INT8X;
}
