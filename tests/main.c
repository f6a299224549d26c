/* Runs every registered test (or those whose names contain argv[1]) and ends
 * with "N passed, N failed"; exit status 1 if any failed. */
#include "test.h"

#include "util/mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

int bb_test_failed;
static char tmpdir[512];
static int tmpcount;

const char *bb_test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/bbtest.%d.%d", base ? base : "/tmp", (int)getpid(), ++tmpcount);
    mkdir(tmpdir, 0700);
    return tmpdir;
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
        if (bb_test_failed) { failed++; printf("FAIL %s (%.2fs)\n", t->name, dt); }
        else { passed++; printf("ok   %s (%.2fs)\n", t->name, dt); }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
