/* util.c - helpers shared by the CUnit suites (see util.h). */
#include "util.h"

#include <CUnit/CUnit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"

int test_skip_count;

const char *test_shared_model(const char *file)
{
    static char path[4][1024];
    static int next;
    const char *dir = getenv("STRATA_SHARED_MODELS");
    if (!dir || !*dir)
        dir = "../shared/models";
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, file);
    return access(p, R_OK) == 0 ? p : NULL;
}

const char *test_bundled_model(void)
{
    return "models/stories260K.gguf";
}

void test_skip(const char *what, const char *why)
{
    printf("\n  SKIPPED: %s: %s\n", what, why);
    test_skip_count++;
}

const char *test_write_temp(const char *name, const void *buf, size_t len)
{
    static char path[1024];
    static char dir[512];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/strata-test-%d", (int)getpid());
        mkdir(dir, 0700);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    if (len && fwrite(buf, 1, len, f) != len) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    return path;
}

uint64_t test_rand_u64(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

float test_rand_f32(uint64_t *s, float lo, float hi)
{
    double u = (double)(test_rand_u64(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

const char *test_model_or_skip(const char *file, const char *what)
{
    const char *p = test_shared_model(file);
    if (!p && strcmp(file, "stories260K.gguf") == 0)
        p = test_bundled_model(); /* the bundled copy always runs */
    if (!p) {
        char w[192];
        snprintf(w, sizeof w, "%s/%s", what, file);
        test_skip(w, "model not in ../shared/models");
    }
    return p;
}

int test_load_model(struct llm_model *m, const char *path)
{
    struct st_err err = {{0}};
    if (model_load(m, path, &err)) {
        printf("\n  %s\n", err.msg);
        CU_FAIL("model_load");
        return -1;
    }
    return 0;
}
