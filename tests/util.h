/* util.h - helpers shared by the CUnit suites. */
#ifndef STRATA_TEST_UTIL_H
#define STRATA_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Path of a model in the shared test models folder ($STRATA_SHARED_MODELS,
 * default ../shared/models), or NULL when the file is absent. A test that
 * gets NULL must call test_skip(), never pass silently. */
const char *test_shared_model(const char *file);

/* Path of the model bundled in the repository (models/stories260K.gguf). */
const char *test_bundled_model(void);

/* A test model: the shared copy of file, else the bundled one for
 * stories260K.gguf; NULL (and a SKIPPED line naming what/file) when absent. */
const char *test_model_or_skip(const char *file, const char *what);

/* model_load, failing the test (with the error line) when it fails.
 * Returns 0 or -1. */
struct llm_model;
int test_load_model(struct llm_model *m, const char *path);

/* Prints "SKIPPED: <suite/test>: <why>" and counts it; the runner prints
 * the number of skips at the end. */
void test_skip(const char *what, const char *why);

/* Writes buf to a fresh file under the test temp dir and returns its path
 * (valid until the next call with the same name). */
const char *test_write_temp(const char *name, const void *buf, size_t len);

/* Deterministic xorshift generator for test inputs. */
uint64_t test_rand_u64(uint64_t *state);
float test_rand_f32(uint64_t *state, float lo, float hi);

#endif
