/* plan_gemv.h - the GEMV shapes a plan needs: strata-plan writes them to
 * gen/gemv.list, and the build generates one kernel instance per line
 * (gen/gemv-instances.sh). Every block matrix and the head, in the type
 * the plan stores them (a tier-B matrix as --stream-type re-quantized it),
 * and the fused launches of kernels/engine_cuda.cu: Q|K|V as one matrix
 * where the three share a type, else Q|K where those two do (Q4_K_M gives
 * V the Q6_K type in half the blocks) and Q|K with that V in one launch,
 * and gate|up as a SwiGLU pair where the two do. */
#ifndef STRATA_PLAN_GEMV_H
#define STRATA_PLAN_GEMV_H

#include <stddef.h>

#include "error.h"
#include "facts.h"
#include "plan.h"

/* "TYPE ROWS COLS", "TYPE ROWS COLS swiglu" or "TYPE ROWS COLS + TYPE2
 * ROWS2" (ROWS: output rows, of each matrix for a pair; COLS: the row
 * length; TYPE2 ROWS2: a second matrix of COLS columns in the same
 * launch), sorted, no two alike. */
struct plan_gemv {
    char **line;
    size_t n;
};

/* Returns 0, or -1 with err (out of memory). */
int plan_gemv_shapes(const struct model_facts *f, const struct plan *p, struct plan_gemv *out,
                     struct st_err *err);
void plan_gemv_free(struct plan_gemv *g);

#endif
