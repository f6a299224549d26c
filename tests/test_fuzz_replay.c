/* Every stored fuzz input (fuzz/corpus/<target>/ and fuzz/crashers/<target>/)
 * through the same entry points the libFuzzer binaries call, here without the
 * fuzzer runtime: in the normal build and under the sanitizers. A crasher that
 * comes back, a leak or a broken property fails the suite. BB_FUZZ_DIR points
 * elsewhere than ./fuzz. */
#include "test.h"

#include "../fuzz/fuzz.h"
#include "util/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* runs every file of dir through fn; returns how many (-1: no such dir) */
static int replay_dir(const char *dir, bb_fuzz_fn fn)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    /* the flag parser explains every refusal on stderr: not wanted here */
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    for (int i = 0; i < n; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unsigned char *buf = NULL;
        size_t len = 0;
        if (bb_file_read_all(path, (size_t)1 << 24, &buf, &len) == BB_OK) {
            fn(buf, len);
            free(buf);
        } else {
            CHECK_MSG(0, "%s", bb_last_error());
        }
        free(names[i]);
    }
    fflush(stderr);
    if (saved >= 0) { dup2(saved, 2); close(saved); }
    if (devnull >= 0) close(devnull);
    free(names);
    return n;
}

TEST(fuzz_corpus_and_crashers_replay_cleanly)
{
    const char *root = getenv("BB_FUZZ_DIR") ? getenv("BB_FUZZ_DIR") : "fuzz";
    int total = 0;
    for (const bb_fuzz_target *t = bb_fuzz_targets; t->name; t++) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/corpus/%s", root, t->name);
        int corpus = replay_dir(dir, t->fn);
        CHECK_MSG(corpus > 0, "%s: no stored inputs (run from the repository root or set BB_FUZZ_DIR)", dir);
        snprintf(dir, sizeof dir, "%s/crashers/%s", root, t->name);
        int crashers = replay_dir(dir, t->fn);
        printf("  fuzz target %-12s %4d corpus inputs, %3d crashers replayed\n", t->name, corpus, crashers > 0 ? crashers : 0);
        total += (corpus > 0 ? corpus : 0) + (crashers > 0 ? crashers : 0);
    }
    CHECK(total > 0);
}
