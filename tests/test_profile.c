/* test_profile.c - profiles: the samples parse, round trips are exact, and
 * every mistake in a hand-written profile is one line naming the key. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

static void test_keys_sorted(void)
{
    CU_ASSERT_TRUE(profile_key_count() >= 21);
    for (size_t i = 1; i < profile_key_count(); i++)
        CU_ASSERT_TRUE(strcmp(profile_key_name(i - 1), profile_key_name(i)) < 0);
}

static void test_samples(void)
{
    static const char *files[] = {"profiles/rtx3090-gen3x8.profile", "profiles/rtx5060ti-gen5x8.profile",
                                  "profiles/h100-80g.profile", "profiles/tesla-t4.profile",
                                  "profiles/cpu-only.profile"};
    for (size_t i = 0; i < 5; i++) {
        struct profile p;
        struct st_err e = {""};
        CU_ASSERT_EQUAL(profile_read(files[i], &p, &e), 0);
        if (e.msg[0])
            printf("\n  %s\n", e.msg);
    }
    struct profile p;
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(profile_read("profiles/rtx3090-gen3x8.profile", &p, &e), 0);
    CU_ASSERT_STRING_EQUAL(p.gpu_name, "NVIDIA GeForce RTX 3090");
    CU_ASSERT_EQUAL(p.gpu_cc, 86);
    CU_ASSERT_EQUAL(p.pcie_gen, 3);
    CU_ASSERT_EQUAL(p.pcie_width, 8);
    CU_ASSERT_EQUAL(p.pcie_source, PCIE_SOURCE_MAX);
    CU_ASSERT_DOUBLE_EQUAL(p.h2d_measured_gbps, 6.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(p.disk_read_gbps, 3.35, 1e-9);
    CU_ASSERT_EQUAL(p.disk_kind, DISK_NVME);
    CU_ASSERT_EQUAL(p.cpu_cores, PROFILE_UNKNOWN);
    CU_ASSERT_TRUE(p.d2d_measured_gbps < 0);
    CU_ASSERT_EQUAL_FATAL(profile_read("profiles/cpu-only.profile", &p, &e), 0);
    CU_ASSERT_FALSE(profile_has_gpu(&p));
}

static void test_round_trip(void)
{
    struct profile a, b;
    struct st_err e = {""};
    CU_ASSERT_EQUAL_FATAL(profile_read("profiles/h100-80g.profile", &a, &e), 0);
    char buf[8192];
    CU_ASSERT_FATAL(profile_format(&a, buf, sizeof buf) > 0);
    CU_ASSERT_EQUAL_FATAL(profile_parse(buf, "mem", &b, &e), 0);
    a.notes[0] = b.notes[0] = 0; /* comments are not read back */
    memset(a.notes, 0, sizeof a.notes);
    memset(b.notes, 0, sizeof b.notes);
    CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof a), 0);
    /* the written text is sorted KEY=value lines under comments */
    char last[64] = "";
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
        if (l[0] == '#')
            continue;
        char key[64];
        CU_ASSERT_EQUAL(sscanf(l, "%63[^=]=", key), 1);
        CU_ASSERT_TRUE(strcmp(last, key) < 0);
        strcpy(last, key);
    }
}

/* The cpu-only sample with line "key=..." replaced by repl (NULL: removed),
 * or with extra appended. */
static int parse_edited(const char *key, const char *repl, const char *extra,
                        struct st_err *e)
{
    FILE *f = fopen("profiles/cpu-only.profile", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char out[16384];
    char line[512];
    size_t n = 0, klen = key ? strlen(key) : 0;
    while (fgets(line, sizeof line, f)) {
        if (key && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            if (repl)
                n += (size_t)snprintf(out + n, sizeof out - n, "%s\n", repl);
            continue;
        }
        n += (size_t)snprintf(out + n, sizeof out - n, "%s", line);
    }
    fclose(f);
    if (extra)
        snprintf(out + n, sizeof out - n, "%s\n", extra);
    struct profile p;
    e->msg[0] = 0;
    return profile_parse(out, "x.profile", &p, e);
}

static void expect(const char *key, const char *repl, const char *extra, const char *want1,
                   const char *want2)
{
    struct st_err e;
    CU_ASSERT_EQUAL(parse_edited(key, repl, extra, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, want1));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, want2));
    CU_ASSERT_PTR_NULL(strchr(e.msg, '\n'));
    if (!strstr(e.msg, want1) || !strstr(e.msg, want2))
        printf("\n  got: %s\n", e.msg);
}

static void test_errors(void)
{
    struct st_err e;
    CU_ASSERT_EQUAL(parse_edited(NULL, NULL, NULL, &e), 0); /* unedited: fine */
    expect(NULL, NULL, "gpu_smss=82", "gpu_smss: found an unknown key", "x.profile:");
    expect("ram_bytes", NULL, NULL, "x.profile: ram_bytes: found no line", "expected");
    expect("cpu_cores", "cpu_cores=eight", NULL, "cpu_cores: found 'eight'", "integer");
    expect("ram_bytes", "ram_bytes=unknown", NULL, "ram_bytes: found 'unknown'", "non-negative integer");
    expect("profile_version", "profile_version=2", NULL, "profile_version: found '2'", "expected 1");
    expect(NULL, NULL, "cpu_cores=4", "cpu_cores: found a second line", "once");
    expect("disk_kind", "disk_kind=ssd", NULL, "disk_kind: found 'ssd'", "nvme, sata-ssd, hdd");
    expect("disk_read_gbps", "disk_read_gbps=-3", NULL, "disk_read_gbps: found '-3'", "GB/s");
    expect("gpu_cc", "gpu_cc=8", NULL, "gpu_cc: found '8'", "8.6");
    expect("ram_available_bytes", "ram_available_bytes=99999999999999", NULL,
           "ram_available_bytes", "at most ram_bytes");
    expect("vram_bytes", "vram_bytes=1000", NULL, "gpu_name", "none");
    expect(NULL, NULL, "just words", "line: found 'just words'", "KEY=value");
}

void suite_profile(void)
{
    CU_pSuite s = CU_add_suite("profile", NULL, NULL);
    CU_add_test(s, "key table sorted", test_keys_sorted);
    CU_add_test(s, "sample profiles", test_samples);
    CU_add_test(s, "write then read", test_round_trip);
    CU_add_test(s, "one line per mistake", test_errors);
}
