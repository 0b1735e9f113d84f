/* test_cli.c - the command line: parsing (defaults, every flag, every error
 * naming its flag, -f) and, end to end, the built `strata` binary on the
 * bundled model against llama.cpp's reference output. */
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])))

/* ---- parsing ----------------------------------------------------------------- */

static void test_defaults(void)
{
    char *argv[] = {"strata", "-m", "x.gguf"};
    struct cli_opts o;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(argv), argv, &err), 0);
    CU_ASSERT_EQUAL(o.cmd, CLI_GENERATE);
    CU_ASSERT_STRING_EQUAL(o.model, "x.gguf");
    CU_ASSERT_STRING_EQUAL(o.prompt, "");
    CU_ASSERT_EQUAL(o.n_predict, 128);
    CU_ASSERT_EQUAL(o.n_ctx, 0);
    CU_ASSERT_EQUAL(o.n_threads, 0);
    CU_ASSERT_DOUBLE_EQUAL(o.sp.temp, 0.8, 1e-7);
    CU_ASSERT_EQUAL(o.sp.top_k, 40);
    CU_ASSERT_DOUBLE_EQUAL(o.sp.top_p, 0.95, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(o.sp.min_p, 0.05, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(o.sp.repeat_penalty, 1.0, 0);
    CU_ASSERT_EQUAL(o.sp.repeat_last_n, 64);
    CU_ASSERT_EQUAL(o.sp.seed, SAMPLER_DEFAULT_SEED);
    CU_ASSERT_FALSE(o.chat);
    CU_ASSERT_EQUAL(o.chat_tmpl, CHAT_TMPL_NONE);
    CU_ASSERT_FALSE(o.stats || o.special || o.no_display_prompt);
    cli_free(&o);
}

static void test_every_flag(void)
{
    char *argv[] = {"strata", "generate", "--model", "m.gguf", "--prompt", "hi",
                    "-n", "-1", "-c", "2048", "-t", "3", "-s", "18446744073709551615",
                    "--temp", "0", "--top-k", "0", "--top-p", "1", "--min-p", "0",
                    "--repeat-penalty", "1.1", "--repeat-last-n", "-1",
                    "--chat-template", "llama2", "-sys", "be brief", "--stats", "-sp",
                    "--no-display-prompt"};
    struct cli_opts o;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(argv), argv, &err), 0);
    CU_ASSERT_EQUAL(o.cmd, CLI_GENERATE);
    CU_ASSERT_STRING_EQUAL(o.model, "m.gguf");
    CU_ASSERT_STRING_EQUAL(o.prompt, "hi");
    CU_ASSERT_EQUAL(o.n_predict, -1);
    CU_ASSERT_EQUAL(o.n_ctx, 2048);
    CU_ASSERT_EQUAL(o.n_threads, 3);
    CU_ASSERT_EQUAL(o.sp.seed, UINT64_MAX);
    CU_ASSERT_EQUAL(o.sp.temp, 0.0f);
    CU_ASSERT_EQUAL(o.sp.top_k, 0);
    CU_ASSERT_EQUAL(o.sp.top_p, 1.0f);
    CU_ASSERT_EQUAL(o.sp.min_p, 0.0f);
    CU_ASSERT_DOUBLE_EQUAL(o.sp.repeat_penalty, 1.1, 1e-6);
    CU_ASSERT_EQUAL(o.sp.repeat_last_n, -1);
    CU_ASSERT_EQUAL(o.chat_tmpl, CHAT_TMPL_LLAMA2);
    CU_ASSERT_TRUE(o.chat); /* a forced template or a system prompt imply it */
    CU_ASSERT_STRING_EQUAL(o.system, "be brief");
    CU_ASSERT_TRUE(o.stats && o.special && o.no_display_prompt);
    cli_free(&o);

    char *argv2[] = {"strata", "-m", "m.gguf", "--chat", "--system-prompt", "s",
                     "--seed", "7", "-n", "5", "--ctx-size", "0", "--threads", "0"};
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(argv2), argv2, &err), 0);
    CU_ASSERT_TRUE(o.chat);
    CU_ASSERT_EQUAL(o.chat_tmpl, CHAT_TMPL_NONE);
    CU_ASSERT_EQUAL(o.sp.seed, 7);
    CU_ASSERT_EQUAL(o.n_predict, 5);
    cli_free(&o);
}

static void test_subcommands(void)
{
    struct cli_opts o;
    struct st_err err = {""};
    char *tok[] = {"strata", "tokenize", "-m", "m.gguf", "-p", "Hello", "--ids", "--no-bos"};
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(tok), tok, &err), 0);
    CU_ASSERT_EQUAL(o.cmd, CLI_TOKENIZE);
    CU_ASSERT_TRUE(o.ids && o.no_bos);
    CU_ASSERT_STRING_EQUAL(o.prompt, "Hello");
    cli_free(&o);

    char *info[] = {"strata", "info", "m.gguf"};
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(info), info, &err), 0);
    CU_ASSERT_EQUAL(o.cmd, CLI_INFO);
    CU_ASSERT_STRING_EQUAL(o.model, "m.gguf");
    cli_free(&o);

    char *ver[] = {"strata", "version"};
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(ver), ver, &err), 0);
    CU_ASSERT_EQUAL(o.cmd, CLI_VERSION);
    cli_free(&o);

    char *help[] = {"strata", "--help"};
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(help), help, &err), 0);
    CU_ASSERT_EQUAL(o.cmd, CLI_HELP);
    cli_free(&o);
}

/* Parses argv and expects exactly the line `want`. */
static void expect_error(int argc, char **argv, const char *want)
{
    struct cli_opts o;
    struct st_err err = {""};
    int rc = cli_parse(&o, argc, argv, &err);
    CU_ASSERT_EQUAL(rc, -1);
    if (rc == 0) {
        cli_free(&o);
        return;
    }
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    if (strcmp(err.msg, want) != 0)
        printf("\n    got:  %s\n    want: %s\n", err.msg, want);
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
}

/* Every flag with a value it must refuse: the message names the flag and
 * quotes the value. */
static void test_bad_values(void)
{
    static const struct {
        const char *flag, *value, *expected;
    } cases[] = {
        {"--top-p", "abc", "a number in [0, 1]"},
        {"--top-p", "1.5", "a number in [0, 1]"},
        {"--top-p", "nan", "a number in [0, 1]"},
        {"--min-p", "-0.1", "a number in [0, 1]"},
        {"--temp", "warm", "a number (<= 0: greedy)"},
        {"--temp", "inf", "a number (<= 0: greedy)"},
        {"--top-k", "-3", "an integer >= 0 (0: off)"},
        {"--top-k", "4.5", "an integer >= 0 (0: off)"},
        {"--repeat-penalty", "0", "a number > 0 (1: off)"},
        {"--repeat-last-n", "-2", "an integer >= -1 (0: off, -1: the context size)"},
        {"-n", "ten", "an integer >= -1 (-1: until the context is full)"},
        {"-n", "", "an integer >= -1 (-1: until the context is full)"},
        {"-c", "-1", "an integer in [0, 16777216] (0: the model's)"},
        {"-c", "99999999999", "an integer in [0, 16777216] (0: the model's)"},
        {"-t", "x", "an integer in [0, 4096] (0: all cores)"},
        {"--seed", "-1", "an integer in [0, 18446744073709551615]"},
        {"-s", "18446744073709551616", "an integer in [0, 18446744073709551615]"},
        {"--chat-template", "vicuna", "llama3, chatml or llama2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[512];
        snprintf(want, sizeof want, "strata: %s: found '%s', expected %s", cases[i].flag,
                 cases[i].value, cases[i].expected);
        char *argv[] = {"strata", "-m", "m.gguf", (char *)cases[i].flag,
                        (char *)cases[i].value};
        expect_error(ARGC(argv), argv, want);
    }
}

static void test_bad_usage(void)
{
    char *a1[] = {"strata", "-m", "m.gguf", "--top-p"};
    expect_error(ARGC(a1), a1, "strata: --top-p: found nothing, expected a value after it");
    char *a2[] = {"strata", "-m", "m.gguf", "--frobnicate"};
    expect_error(ARGC(a2), a2,
                 "strata: --frobnicate: found an unknown option, expected an option of "
                 "strata --help");
    char *a3[] = {"strata", "-p", "hi"};
    expect_error(ARGC(a3), a3, "strata: -m: found nothing, expected a model file (-m FILE)");
    char *a4[] = {"strata", "tokenize", "-m", "m.gguf", "--temp", "0"};
    expect_error(ARGC(a4), a4,
                 "strata: --temp: found an option that strata tokenize does not take, "
                 "expected an option of this command (strata --help)");
    char *a5[] = {"strata", "-m", "m.gguf", "--ids"};
    expect_error(ARGC(a5), a5,
                 "strata: --ids: found an option that strata generate does not take, "
                 "expected an option of this command (strata --help)");
    char *a6[] = {"strata", "frobnicate"};
    expect_error(ARGC(a6), a6,
                 "strata: command: found 'frobnicate', expected generate, tokenize, perplexity, "
                 "info or version (or an option: strata --help)");
    char *a7[] = {"strata", "info"};
    expect_error(ARGC(a7), a7,
                 "strata: info: found nothing, expected a GGUF file (strata info FILE)");
    char *a8[] = {"strata", "-m", "m.gguf", "stray"};
    expect_error(ARGC(a8), a8,
                 "strata: argument: found 'stray', expected an option (strata --help lists "
                 "them)");
    char *a9[] = {"strata", "version", "extra"};
    expect_error(ARGC(a9), a9, "strata: version: found 'extra', expected no arguments");
}

static void test_prompt_file(void)
{
    const char text[] = "Once upon a time\nthere was\n";
    const char *path = test_write_temp("prompt.txt", text, strlen(text));
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    char *argv[] = {"strata", "-m", "m.gguf", "-f", p};
    struct cli_opts o;
    struct st_err err = {""};
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(argv), argv, &err), 0);
    /* one trailing newline dropped, as llama.cpp's -f does */
    CU_ASSERT_STRING_EQUAL(o.prompt, "Once upon a time\nthere was");
    CU_ASSERT_STRING_EQUAL(o.prompt_file, p);
    cli_free(&o);

    /* a file bigger than the first read buffer */
    static char big[10000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    path = test_write_temp("big.txt", big, sizeof big);
    snprintf(p, sizeof p, "%s", path);
    CU_ASSERT_EQUAL_FATAL(cli_parse(&o, ARGC(argv), argv, &err), 0);
    CU_ASSERT_EQUAL(strlen(o.prompt), sizeof big);
    CU_ASSERT_EQUAL(memcmp(o.prompt, big, sizeof big), 0);
    cli_free(&o);

    char *missing[] = {"strata", "-m", "m.gguf", "-f", "/nonexistent/prompt.txt"};
    expect_error(ARGC(missing), missing,
                 "strata: -f: found '/nonexistent/prompt.txt' (No such file or directory), "
                 "expected a readable prompt file");
}

/* ---- end to end: the built binary ------------------------------------------- */

static const char *strata_bin(void)
{
    const char *b = getenv("STRATA_BIN");
    if (!b || !*b)
        b = "build/host/bin/strata";
    return access(b, X_OK) == 0 ? b : NULL;
}

struct run_result {
    int status;        /* exit code, or -1 when it did not exit normally */
    char out[8192];    /* stdout */
    char err[8192];    /* stderr */
};

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* Runs the binary with args (NULL-terminated) and captures both streams. */
static void run_strata(const char *bin, char *const *args, struct run_result *r)
{
    char out_path[64], err_path[64];
    snprintf(out_path, sizeof out_path, "/tmp/strata-cli-out-%d", (int)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/strata-cli-err-%d", (int)getpid());
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)bin;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || fe < 0)
            _exit(126);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(bin, argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(out_path, r->out, sizeof r->out);
    slurp(err_path, r->err, sizeof r->err);
    unlink(out_path);
    unlink(err_path);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_e2e_story(void)
{
    const char *bin = strata_bin();
    if (!bin) {
        test_skip("cli/e2e story", "no strata binary (set STRATA_BIN)");
        return;
    }
    struct run_result *r = calloc(1, sizeof *r);
    char *args[] = {"-m", "models/stories260K.gguf", "-p", "Once upon a time", "-n", "32",
                    "--temp", "0", NULL};
    run_strata(bin, args, r);
    CU_ASSERT_EQUAL(r->status, 0);
    /* llama.cpp's greedy continuation (../shared/models/README.md) */
    CU_ASSERT_STRING_EQUAL(r->out, "Once upon a time, there was a little girl named Lily. "
                                   "She loved to play outside in the park. One day, she saw");
    if (r->status != 0)
        printf("\n    stderr: %s\n", r->err);

    /* the second reference prompt, continuation only: the first token is
     * " was" (the README shows the ids detokenized on their own, where
     * llama.cpp drops the leading space of a sequence) */
    char *args2[] = {"-m", "models/stories260K.gguf", "-p", "The little dog", "-n", "32",
                     "--temp", "0", "--no-display-prompt", NULL};
    run_strata(bin, args2, r);
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_STRING_EQUAL(r->out, " was a little girl named Lily. She loved to play with her "
                                   "toys and her toys. One day, she saw a big");
    free(r);
}

/* STRATA_STREAM_TEST (a build without a plan streams as a plan would):
 * streamed from RAM the story is the same; a re-quantized host tier still
 * runs; a bad value is one line and exit 1. */
static void test_e2e_stream_env(void)
{
    const char *bin = strata_bin();
    if (!bin) {
        test_skip("cli/e2e stream env", "no strata binary (set STRATA_BIN)");
        return;
    }
    struct run_result *r = calloc(1, sizeof *r);
    char *args[] = {"-m", "models/stories260K.gguf", "-p", "Once upon a time", "-n", "32",
                    "--temp", "0", NULL};
    setenv("STRATA_STREAM_TEST", "mix:3", 1);
    run_strata(bin, args, r);
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_STRING_EQUAL(r->out, "Once upon a time, there was a little girl named Lily. "
                                   "She loved to play outside in the park. One day, she saw");
    setenv("STRATA_STREAM_TEST", "all:2:q8_0", 1);
    run_strata(bin, args, r);
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_NSTRING_EQUAL(r->out, "Once upon a time", 16);
    const char *bad[] = {"sideways:2", "all:0", "all:2:iq2_xxs", "all"};
    for (int i = 0; i < 4; i++) {
        setenv("STRATA_STREAM_TEST", bad[i], 1);
        run_strata(bin, args, r);
        CU_ASSERT_EQUAL(r->status, 1);
        CU_ASSERT_EQUAL(count_lines(r->err), 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(r->err, "STRATA_STREAM_TEST"));
        CU_ASSERT_STRING_EQUAL(r->out, "");
    }
    unsetenv("STRATA_STREAM_TEST");
    free(r);
}

static void test_e2e_seeded(void)
{
    const char *bin = strata_bin();
    if (!bin) {
        test_skip("cli/e2e seeded", "no strata binary (set STRATA_BIN)");
        return;
    }
    struct run_result *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    char *args[] = {"-m", "models/stories260K.gguf", "-p", "Once upon a time", "-n", "40",
                    "--temp", "1.0", "--seed", "7", "--stats", NULL};
    run_strata(bin, args, a);
    run_strata(bin, args, b);
    CU_ASSERT_EQUAL(a->status, 0);
    CU_ASSERT_STRING_EQUAL(a->out, b->out);
    CU_ASSERT(strncmp(a->out, "Once upon a time", 16) == 0);
    CU_ASSERT(strlen(a->out) > 20);
    /* --stats goes to stderr only, and says tokens/s */
    CU_ASSERT_PTR_NOT_NULL(strstr(a->err, "tokens/s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(a->err, "GB/s"));
    free(a);
    free(b);
}

static void test_e2e_tokenize(void)
{
    const char *bin = strata_bin();
    if (!bin) {
        test_skip("cli/e2e tokenize", "no strata binary (set STRATA_BIN)");
        return;
    }
    struct run_result *r = calloc(1, sizeof *r);
    char *a1[] = {"tokenize", "-m", "models/stories260K.gguf", "-p", "Once upon a time",
                  "--ids", NULL};
    run_strata(bin, a1, r);
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_STRING_EQUAL(r->out, "[1, 403, 407, 261, 378]\n");
    char *a2[] = {"tokenize", "-m", "models/stories260K.gguf", "-p", "Hello world",
                  "--ids", "--no-bos", NULL};
    run_strata(bin, a2, r);
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_STRING_EQUAL(r->out, "[346, 306, 414, 263, 304, 341]\n");
    free(r);
}

/* Bad input: exit 1, exactly one line on stderr, nothing on stdout. */
static void expect_failure(const char *bin, char *const *args, const char *needle)
{
    struct run_result *r = calloc(1, sizeof *r);
    run_strata(bin, args, r);
    CU_ASSERT_EQUAL(r->status, 1);
    CU_ASSERT_STRING_EQUAL(r->out, "");
    CU_ASSERT_EQUAL(count_lines(r->err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->err, needle));
    if (!strstr(r->err, needle))
        printf("\n    stderr: %s    wanted: %s\n", r->err, needle);
    free(r);
}

static void test_e2e_errors(void)
{
    const char *bin = strata_bin();
    if (!bin) {
        test_skip("cli/e2e errors", "no strata binary (set STRATA_BIN)");
        return;
    }
    char *a1[] = {"-m", "models/stories260K.gguf", "--top-p", "abc", NULL};
    expect_failure(bin, a1, "strata: --top-p: found 'abc', expected a number in [0, 1]");
    char *a2[] = {"-m", "/nonexistent/model.gguf", "-p", "x", NULL};
    expect_failure(bin, a2, "/nonexistent/model.gguf");
    char *a3[] = {"-m", "models/stories260K.gguf", "-f", "/nonexistent/p.txt", NULL};
    expect_failure(bin, a3, "strata: -f: found '/nonexistent/p.txt'");
    char *a4[] = {"--bogus", NULL};
    expect_failure(bin, a4, "strata: --bogus:");
    char *a5[] = {"info", "/nonexistent/model.gguf", NULL};
    expect_failure(bin, a5, "/nonexistent/model.gguf");
    /* a prompt longer than the context */
    char *a6[] = {"-m", "models/stories260K.gguf", "-c", "4", "-p", "Once upon a time there",
                  NULL};
    expect_failure(bin, a6, "strata: prompt:");
    /* --logits-file (and --stats-file) where nothing can be written */
    char *a7[] = {"-m", "models/stories260K.gguf", "-p", "Once", "-n", "2",
                  "--logits-file", "/nonexistent/dir/logits.txt", NULL};
    expect_failure(bin, a7, "strata: --logits-file: found '/nonexistent/dir/logits.txt', expected a writable file");
    char *a8[] = {"--logits-file", NULL};
    expect_failure(bin, a8, "--logits-file");
    char *a9[] = {"-m", "models/stories260K.gguf", "-p", "Once", "-n", "2",
                  "--stats-file", "/nonexistent/dir/stats.txt", NULL};
    expect_failure(bin, a9, "strata: --stats-file: found '/nonexistent/dir/stats.txt', expected a writable file");

    struct run_result *r = calloc(1, sizeof *r);
    char *v[] = {"version", NULL};
    run_strata(bin, v, r);
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_STRING_EQUAL(r->out, "strata " STRATA_VERSION "\n");
    free(r);
}

/* strata-plan --out DIR makes DIR and DIR/gen where missing (the parent
 * must exist: else one line naming the directory, exit 1). */
static void test_e2e_plan_out(void)
{
    const char *b = strata_bin();
    char plan_bin[4096] = "";
    if (b) { // the directory of strata, with its slash
        const char *slash = strrchr(b, '/');
        snprintf(plan_bin, sizeof plan_bin, "%.*sstrata-plan", slash ? (int)(slash - b + 1) : 0, b);
    }
    if (!b || access(plan_bin, X_OK) != 0) {
        test_skip("cli/e2e plan --out", "no strata-plan next to the strata binary (set STRATA_BIN)");
        return;
    }
    char tmp[] = "/tmp/strata-plan-out-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmp));
    char out[4200], list[4300], deep[4200];
    snprintf(out, sizeof out, "%s/plan", tmp);
    snprintf(list, sizeof list, "%s/gen/gemv.list", out);
    snprintf(deep, sizeof deep, "%s/no/such/plan", tmp);
    static struct run_result r;
    char *ok_args[] = {"--profile", "profiles/h100-80g.profile", "--synth", "llama-3.2-1b-q4_k_m",
                       "--out", out, NULL};
    run_strata(plan_bin, ok_args, &r);
    CU_ASSERT_EQUAL(r.status, 0);
    struct stat st;
    CU_ASSERT_TRUE(stat(list, &st) == 0 && st.st_size > 0);
    char *bad_args[] = {"--profile", "profiles/h100-80g.profile", "--synth", "llama-3.2-1b-q4_k_m",
                        "--out", deep, NULL};
    run_strata(plan_bin, bad_args, &r);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_EQUAL(count_lines(r.err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "/no/such/plan: cannot create"));
    static const char *const files[] = {"plan.txt", "gen/plan.m4", "gen/tensors.m4", "gen/gemv.list"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char f[4400];
        snprintf(f, sizeof f, "%s/%s", out, files[i]);
        unlink(f);
    }
    snprintf(list, sizeof list, "%s/gen", out);
    rmdir(list);
    rmdir(out);
    CU_ASSERT_EQUAL(rmdir(tmp), 0); // nothing else was written
}

void suite_cli(void)
{
    CU_pSuite s = CU_add_suite("cli", NULL, NULL);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "every flag", test_every_flag);
    CU_add_test(s, "subcommands", test_subcommands);
    CU_add_test(s, "bad values name the flag", test_bad_values);
    CU_add_test(s, "bad usage", test_bad_usage);
    CU_add_test(s, "prompt file", test_prompt_file);
    CU_add_test(s, "e2e: story", test_e2e_story);
    CU_add_test(s, "e2e: seeded sampling", test_e2e_seeded);
    CU_add_test(s, "e2e: STRATA_STREAM_TEST tiers, stream type, errors", test_e2e_stream_env);
    CU_add_test(s, "e2e: tokenize", test_e2e_tokenize);
    CU_add_test(s, "e2e: errors", test_e2e_errors);
    CU_add_test(s, "e2e: strata-plan --out makes its directories", test_e2e_plan_out);
}
