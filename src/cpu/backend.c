/* backend.c - what the CPU engine says about itself (engine.h). A CUDA
 * build links kernels/engine_cuda.cu, whose definitions come first, so
 * neither this file nor engine_cpu.c is taken from the library there. */
#include "engine.h"

const char *engine_backend(void)
{
    return "cpu";
}

int engine_device_available(void)
{
    return 1; /* the CPU is always there */
}
