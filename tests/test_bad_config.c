/* Bad configuration, table driven: for every flag of the configuration table,
 * values of the wrong type, out of range, not among the choices or too long;
 * then the cross-field rules and the command-line mistakes. Each must be
 * refused by bb_config_set / bb_config_validate with a message naming the
 * flag, and by `bigbatch train` with exit status 2 (1 for an unreadable
 * --resume file), within a second of CPU time, before any work: no run
 * directory is created and no data is read. The base command names a data
 * directory that does not exist, so a configuration that got through would
 * fail later, and differently (exit 1, "missing file"). */
#include "test.h"

#include "train/config.h"
#include "util/mem.h"

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_BAD 10
/* CPU seconds a refusal may take: a few hundredths even under the sanitizers,
 * while reading the data or training takes whole seconds. CPU time, not wall
 * time, so that a busy machine does not fail the test; the wall-clock limit
 * only catches a hang. */
#define FAST_CPU_S 1.0
#define HANG_S 60.0

typedef struct { char value[700]; } bad_value;

/* Values that the field must refuse, from its type, bounds and choices. */
static int bad_values(const bb_config_field *f, bad_value *out)
{
    int n = 0;
#define ADD(...) snprintf(out[n++].value, sizeof out[0].value, __VA_ARGS__)
    switch (f->type) {
    case BB_CF_INT:
        ADD("abc"); ADD("12abc"); ADD("1.5"); ADD("%s", ""); ADD("99999999999999999999999");
        if (f->min > -9e18) ADD("%.0f", f->min - 1);
        if (f->max < 9e18) ADD("%.0f", f->max + 1);
        break;
    case BB_CF_FLOAT:
        ADD("abc"); ADD("0.5x"); ADD("%s", ""); ADD("nan"); ADD("inf"); ADD("-inf"); ADD("1e999");
        ADD("%.17g", f->min - (f->min != 0 ? fabs(f->min) / 2 : 1));
        ADD("%.17g", f->max + (f->max != 0 ? fabs(f->max) : 1));
        break;
    case BB_CF_BOOL:
        ADD("maybe"); ADD("2"); ADD("%s", ""); ADD("-1");
        break;
    case BB_CF_CHOICE: {
        char names[256];
        int empty_ok = 0;  /* shortcut: "" is the family default */
        bb_config_choices(f, names, sizeof names);
        for (int i = 0; f->choices[i]; i++) empty_ok |= !f->choices[i][0];
        ADD("no-such-choice"); ADD("%s|", empty_ok ? "A" : names);
        if (!empty_ok) ADD("%s", "");
        break;
    }
    case BB_CF_STR:
        break;
    }
    /* longer than the field holds, for every field */
    if (f->size < sizeof out[0].value) {
        memset(out[n].value, 'x', f->size);
        out[n++].value[f->size] = 0;
    }
#undef ADD
    return n;
}

/* Up to JOBS commands run at once (their start-up, under the sanitizers, is
 * most of the time this test takes). */
#define JOBS 4

typedef struct {
    pid_t pid;
    double t0;
    int want;
    char cmd[2048], needle[200], out[600], errpath[600];
} job;

static job jobs[JOBS];
static int njobs;

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reaps one finished command and checks it: exit status `want`, quickly,
 * saying `needle`, without creating the run directory. */
static void reap_one(void)
{
    int st = 0;
    struct rusage r0, r1;
    getrusage(RUSAGE_CHILDREN, &r0);
    pid_t pid = waitpid(-1, &st, 0);
    double now = bb_now();
    getrusage(RUSAGE_CHILDREN, &r1);  /* grows by the usage of the child just reaped */
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 1e-6 * (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    int i = 0;
    while (i < njobs && jobs[i].pid != pid) i++;
    if (i == njobs) { CHECK_MSG(0, "waitpid returned an unknown child %d", (int)pid); njobs = 0; return; }
    job *j = &jobs[i];
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char err[4096];
    FILE *f = fopen(j->errpath, "rb");
    size_t got = f ? fread(err, 1, sizeof err - 1, f) : 0;
    err[got] = 0;
    if (f) fclose(f);
    CHECK_MSG(rc == j->want, "train%s: exit status %d, want %d; stderr: %s", j->cmd, rc, j->want, err);
    CHECK_MSG(!j->needle[0] || strstr(err, j->needle), "train%s: message lacks \"%s\": %s", j->cmd, j->needle, err);
    CHECK_MSG(cpu < FAST_CPU_S && now - j->t0 < HANG_S, "train%s: took %.2f s of CPU (%.2f s) to refuse", j->cmd, cpu,
              now - j->t0);
    CHECK_MSG(!exists(j->out), "train%s: created the run directory %s", j->cmd, j->out);
    jobs[i] = jobs[--njobs];
}

static void reap_all(void)
{
    while (njobs > 0) reap_one();
}

/* Starts `bigbatch train BASE... EXTRA...` (the bigbatch next to this test
 * binary), to be checked by reap_one. */
static void expect_refused(const char *const *extra, int nextra, int want, const char *needle)
{
    static int count;
    if (njobs == JOBS) reap_one();
    job *j = &jobs[njobs];
    char exe[PATH_MAX], bin[PATH_MAX + 16], outflag[700], nodata[600];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(bin, sizeof bin, "%s/bigbatch", exe);
    const char *tmp = bb_test_tmpdir();
    snprintf(j->out, sizeof j->out, "%s/run-%d", tmp, ++count);
    snprintf(j->errpath, sizeof j->errpath, "%s/stderr-%d", tmp, count);
    snprintf(outflag, sizeof outflag, "--out=%s", j->out);
    snprintf(nodata, sizeof nodata, "--data-dir=%s/no-such-data", tmp);
    char *argv[32];
    int argc = 0;
    argv[argc++] = "bigbatch";
    argv[argc++] = "train";
    argv[argc++] = "--data=mnist";
    argv[argc++] = nodata;
    argv[argc++] = outflag;
    for (int i = 0; i < nextra && argc < 31; i++) argv[argc++] = (char *)extra[i];
    argv[argc] = NULL;
    j->cmd[0] = 0;
    for (int i = 2; i < argc; i++) {
        size_t l = strlen(j->cmd);
        snprintf(j->cmd + l, sizeof j->cmd - l, " %.60s%s", argv[i], strlen(argv[i]) > 60 ? "..." : "");
    }
    snprintf(j->needle, sizeof j->needle, "%s", needle ? needle : "");
    j->want = want;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, j->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    j->t0 = bb_now();
    int rc = posix_spawn(&j->pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    CHECK_MSG(rc == 0, "cannot start %s", bin);
    if (rc == 0) njobs++;
}

TEST(bad_config_every_flag_bad_values_refused_before_any_work)
{
    int cases = 0;
    for (int i = 0; i < bb_config_nfields; i++) {
        const bb_config_field *f = &bb_config_fields[i];
        bad_value bad[MAX_BAD];
        int n = bad_values(f, bad);
        char flag[80];
        snprintf(flag, sizeof flag, "--%s", f->name);
        for (int j = 0; j < n; j++) {
            /* the library */
            bb_config c;
            bb_config_defaults(&c);
            bb_status s = bb_config_set(&c, f->name, bad[j].value);
            CHECK_MSG(s == BB_ERR_INVALID && strstr(bb_last_error(), flag), "%s '%.40s' accepted or unclear: %s", flag,
                      bad[j].value, s == BB_OK ? "accepted" : bb_last_error());
            /* the command line, as --flag=value and as --flag value */
            char joined[sizeof bad[0].value + 100];
            snprintf(joined, sizeof joined, "%s=%.700s", flag, bad[j].value);
            const char *eq[1] = {joined}, *sep[2] = {flag, bad[j].value};
            if (j % 2 == 0 || bad[j].value[0] == 0 || bad[j].value[0] == '-') expect_refused(eq, 1, 2, flag);
            else expect_refused(sep, 2, 2, flag);
            cases++;
        }
    }
    reap_all();
    printf("  %d bad values over %d flags refused\n", cases, bb_config_nfields);
    CHECK(cases >= 3 * bb_config_nfields);
}

TEST(bad_config_cross_field_rules_and_usage_errors)
{
    char missing[600], notckpt[600];
    snprintf(missing, sizeof missing, "--resume=%s/missing.safetensors", bb_test_tmpdir());
    snprintf(notckpt, sizeof notckpt, "%s/not-a-checkpoint", bb_test_tmpdir());
    FILE *f = fopen(notckpt, "wb");
    if (f) { fputs("hello", f); fclose(f); }
    char notckpt_flag[700];
    snprintf(notckpt_flag, sizeof notckpt_flag, "--resume=%s", notckpt);
    static const struct { const char *args[6]; int status; const char *needle; } table[] = {
        {{"--batch-size", "100", "--worker-batch", "32"}, 2, "is not a multiple of --worker-batch 32"},
        {{"--batch-size=8", "--worker-batch=16"}, 2, "is not a multiple of --worker-batch 16"},
        {{"--nesterov", "--momentum-form", "form10"}, 2, "--nesterov works with --momentum-form form9 only"},
        {{"--epochs", "0"}, 2, "--epochs must be > 0"},
        {{"--data", "cifar10", "--data-dir="}, 2, "--data cifar10 needs --data-dir"},
        {{"--data", "cifar100", "--data-dir="}, 2, "--data cifar100 needs --data-dir"},
        {{"--data", "mnist", "--data-dir="}, 2, "--data mnist needs --data-dir"},
        {{"--data", "imagefolder", "--data-dir="}, 2, "--data imagefolder needs --data-dir"},
        {{"--model", "resnet9"}, 2, "--model: unknown model 'resnet9'"},
        {{"--model", "vgg16"}, 2, "--model: unknown model 'vgg16'"},
        {{"--model="}, 2, "--model: unknown model ''"},
        {{"--decay", "step", "--milestones", "30,20"}, 2, "--milestones"},
        {{"--decay", "step", "--milestones", "abc"}, 2, "--milestones"},
        {{"--decay", "step", "--milestones", "-1,2"}, 2, "--milestones"},
        {{"--synthetic-shape", "0x8x8"}, 2, "--synthetic-shape"},
        {{"--synthetic-shape", "5x8x8"}, 2, "--synthetic-shape"},
        {{"--synthetic-shape", "1x8"}, 2, "--synthetic-shape"},
        {{"--synthetic-shape", "1x8x8x"}, 2, "--synthetic-shape"},
        {{"--synthetic-shape", "1x8x99999"}, 2, "--synthetic-shape"},
        {{"--out="}, 2, "--out must name a run directory"},
        {{"--data", "synthetic", "--synthetic-train", "64", "--batch-size", "128"}, 2, "larger than the 64 training samples"},
        {{"--no-such-flag", "1"}, 2, "unknown flag --no-such-flag"},
        {{"--lr"}, 2, "--lr needs a value"},
        {{"positional"}, 2, "unexpected argument 'positional'"},
        {{"--preset", "nope"}, 2, "unknown preset 'nope'"},
        {{"--preset"}, 2, "unknown preset ''"},
        {{"-lr", "0.1"}, 2, "unexpected argument '-lr'"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int n = 0;
        while (n < 6 && table[i].args[n]) n++;
        expect_refused(table[i].args, n, table[i].status, table[i].needle);
    }
    /* a --resume that cannot be read: exit 1 naming the file, still before any work */
    const char *m[1] = {missing}, *nc[1] = {notckpt_flag};
    expect_refused(m, 1, 1, "missing.safetensors: cannot open");
    expect_refused(nc, 1, 1, "not-a-checkpoint");
    /* the base command itself is valid: it fails only when reading the data */
    expect_refused(NULL, 0, 1, "missing file");
    reap_all();
}
