/* Runs every registered test (or those whose names contain argv[1]) and ends
 * with "N passed, N failed"; exit status 1 if any failed. */
#define _XOPEN_SOURCE 700  /* nftw */
#include "test.h"

#include "util/mem.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

int bb_test_failed;
/* The running test's directories: made fresh by mkdtemp (never one left
 * behind by an earlier run), removed when the test ends unless
 * BB_TEST_KEEP is set. */
#define MAX_TMPDIRS 4096
static char tmpdirs[MAX_TMPDIRS][512];
static int ntmpdirs;

const char *bb_test_tmpdir(void)
{
    if (ntmpdirs == MAX_TMPDIRS) {
        fprintf(stderr, "bb_test_tmpdir: more than %d directories in one test\n", MAX_TMPDIRS);
        exit(2);
    }
    const char *base = getenv("TMPDIR");
    char *d = tmpdirs[ntmpdirs];
    snprintf(d, sizeof tmpdirs[0], "%s/bbtest.XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(d)) {
        perror("bb_test_tmpdir: mkdtemp");
        exit(2);
    }
    ntmpdirs++;
    return d;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tmpdirs(void)
{
    if (!getenv("BB_TEST_KEEP"))
        for (int i = 0; i < ntmpdirs; i++) nftw(tmpdirs[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    ntmpdirs = 0;
}

const char *bb_test_data_dir(void)
{
    const char *d = getenv("BB_FASHION_MNIST");
    if (!d) d = "/usr/share/datasets/fashion-mnist";
    char probe[600];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", d);
    return access(probe, R_OK) == 0 ? d : NULL;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (const bb_test_entry *t = bb_test_registry; t->name; t++) {
        if (argc > 1 && !strstr(t->name, argv[1])) continue;
        bb_test_failed = 0;
        double t0 = bb_now();
        t->fn();
        double dt = bb_now() - t0;
        remove_tmpdirs();
        if (bb_test_failed) { failed++; printf("FAIL %s (%.2fs)\n", t->name, dt); }
        else { passed++; printf("ok   %s (%.2fs)\n", t->name, dt); }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
