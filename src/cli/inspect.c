/* `bigbatch inspect --checkpoint F`: what a checkpoint holds, whether its
 * checksums hold, and a hash of its tensors (to compare two runs bit for bit
 * from a script). A file whose checksums fail is refused, naming where. */
#include "cli/cli.h"

#include "util/safetensors.h"

#include <math.h>
#include <stdint.h>

#include <stdio.h>
#include <string.h>

/* FNV-1a, 64 bit */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ULL; }
    return h;
}

int cli_inspect(int argc, char **argv)
{
    const char *path = NULL;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bigbatch inspect --checkpoint FILE [--tensors]\n"
                   "Prints a checkpoint's metadata, its checksum status (a damaged file is refused: exit 1),\n"
                   "the count of non-finite F32 values and hashes of its tensors (params-hash covers the\n"
                   "parameters, state-hash momentum and BN statistics).\n");
            return 0;
        }
        if (!strcmp(argv[i], "--checkpoint") && i + 1 < argc) path = argv[++i];
        else if (!strncmp(argv[i], "--checkpoint=", 13)) path = argv[i] + 13;
        else if (!strcmp(argv[i], "--tensors")) verbose = 1;
        else { fprintf(stderr, "bigbatch inspect: unknown argument '%s'\n", argv[i]); return 2; }
    }
    if (!path) { fprintf(stderr, "bigbatch inspect: --checkpoint FILE is required\n"); return 2; }
    bb_st_file f;
    if (bb_st_read(&f, path) != BB_OK) { fprintf(stderr, "bigbatch inspect: %s\n", bb_last_error()); return 1; }
    uint64_t hp = 0xcbf29ce484222325ULL, hs = hp;
    long long nparam = 0, nonfinite = 0;
    for (int i = 0; i < f.n; i++) {
        const bb_st_entry *e = &f.entries[i];
        size_t bytes = (size_t)(e->end - e->begin);
        for (size_t b = 0; !strcmp(e->dtype, "F32") && b + 4 <= bytes; b += 4) {
            float v;
            memcpy(&v, f.data + e->begin + b, 4);
            nonfinite += !isfinite(v);
        }
        if (!strncmp(e->name, "param/", 6)) { hp = fnv(hp, f.data + e->begin, bytes); nparam += (long long)bytes / 4; }
        else hs = fnv(hs, f.data + e->begin, bytes);
        if (verbose) {
            printf("tensor %-48s %s [", e->name, e->dtype);
            for (int d = 0; d < e->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)e->shape[d]);
            printf("]\n");
        }
    }
    for (int i = 0; i < f.nmeta; i++)
        if ((strncmp(f.meta[2 * i], "config.", 7) != 0 && strncmp(f.meta[2 * i], "crc32.tensor.", 13) != 0) || verbose)
            printf("%s: %s\n", f.meta[2 * i], f.meta[2 * i + 1]);
    if (f.checksummed) printf("checksum: verified (CRC-32 of the header and of each of the %d tensors)\n", f.n);
    else printf("checksum: none (a checkpoint from before checksums, or a file from elsewhere: not verified)\n");
    printf("tensors: %d\nparameters: %lld\nnon-finite values: %lld\nparams-hash: %016llx\nstate-hash: %016llx\n", f.n,
           nparam, nonfinite, (unsigned long long)hp, (unsigned long long)hs);
    bb_st_close(&f);
    return 0;
}
