/* `bigbatch bench allreduce`: time per call, algorithm bandwidth and bus
 * bandwidth of each allreduce algorithm for message sizes from --min-bytes to
 * --max-bytes (x4 steps), with the nccl-tests definitions: algbw = bytes /
 * time, busbw = algbw * 2(P-1)/P. Each algorithm's result is checked against
 * the exact sum before it is timed. Run it as mpirun -np P bigbatch bench
 * allreduce; rank 0 prints a Markdown table. */
#include "cli/cli.h"

#include "comm/comm.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_bytes(const char *s, int64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return -1;
    if (*end == 'K' || *end == 'k') { v *= 1024; end++; }
    else if (*end == 'M' || *end == 'm') { v *= 1048576; end++; }
    else if (*end == 'G' || *end == 'g') { v *= 1073741824; end++; }
    if (*end == 'i') end++;
    if (*end == 'B') end++;
    if (*end) return -1;
    *out = (int64_t)v;
    return 0;
}

static void fmt_bytes(int64_t b, char *buf, size_t cap)
{
    if (b >= 1073741824 && b % 1073741824 == 0) snprintf(buf, cap, "%lld GiB", (long long)(b >> 30));
    else if (b >= 1048576 && b % 1048576 == 0) snprintf(buf, cap, "%lld MiB", (long long)(b >> 20));
    else if (b >= 1024 && b % 1024 == 0) snprintf(buf, cap, "%lld KiB", (long long)(b >> 10));
    else snprintf(buf, cap, "%lld B", (long long)b);
}

/* rank r's integer-valued input (every partial sum is exact in float) */
static float input(int r, int64_t i) { return (float)((i * 7 + r * 13) % 41 - 20); }

/* 0 when every rank's result is the exact sum, else the number of ranks with
 * a wrong element (or -1 when the operation itself failed) */
static int validate(bb_comm *c, float *x, int64_t len)
{
    for (int64_t i = 0; i < len; i++) x[i] = input(c->rank, i);
    if (c->allreduce(c, x, len) != BB_OK) return -1;
    int64_t bad = 0;
    for (int64_t i = 0; i < len && !bad; i++) {
        float want = 0;
        for (int q = 0; q < c->size; q++) want += input(q, i);
        bad = x[i] != want;
    }
    double d = (double)bad;
    if (c->allreduce_f64(c, &d, 1) != BB_OK) return -1;
    return (int)d;
}

/* seconds per call, the slowest rank's */
static bb_status time_calls(bb_comm *c, float *x, int64_t len, double budget, double *out)
{
    memset(x, 0, (size_t)len * sizeof *x);
    double t0 = bb_now();
    BB_TRY(c->allreduce(c, x, len));  /* warm-up, and a first estimate */
    double iters = 1;
    if (c->rank == 0) {
        double one = bb_now() - t0;
        iters = one > 0 ? budget / one : 1000;
        if (iters < 2) iters = 2;
        if (iters > 1000) iters = 1000;
    }
    BB_TRY(c->bcast(c, &iters, sizeof iters, 0));
    BB_TRY(c->barrier(c));
    t0 = bb_now();
    for (int i = 0; i < (int)iters; i++) BB_TRY(c->allreduce(c, x, len));
    double *per = calloc((size_t)c->size, sizeof *per);
    if (!per) return bb_fail(BB_ERR_NOMEM, "out of memory");
    per[c->rank] = (bb_now() - t0) / (double)(int)iters;
    bb_status s = c->allreduce_f64(c, per, c->size);
    double worst = 0;
    for (int q = 0; q < c->size; q++) if (per[q] > worst) worst = per[q];
    free(per);
    *out = worst;
    return s;
}

int cli_bench_allreduce(int argc, char **argv)
{
    int64_t lo = 4096, hi = 256 * 1048576;
    double budget = 0.3, spin = 1e9;
    const char *algos = "mpi,ring,hd";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: mpirun -np P bigbatch bench allreduce [--min-bytes 4K] [--max-bytes 256M] [--algorithms mpi,ring,hd]\n"
                   "                                            [--seconds 0.3] [--spin S]\n"
                   "Times each allreduce algorithm (float32 sum) for message sizes from --min-bytes to --max-bytes in x4\n"
                   "steps, after checking its result; prints time per call, algbw = bytes/time and\n"
                   "busbw = algbw * 2(P-1)/P (nccl-tests definitions). --seconds: timing budget per row.\n"
                   "Algorithms: mpi (MPI_Iallreduce, polled: what training uses), ring, hd, and blocking (a plain\n"
                   "MPI_Allreduce, for reference; training does not use it: the watchdog cannot interrupt it).\n"
                   "--spin S: seconds a wait polls without sleeping (default: always; training's waits sleep\n"
                   "between polls after 5e-05 s, which --spin 5e-05 reproduces).\n");
            return 0;
        }
        if (!v) { fprintf(stderr, "bigbatch bench allreduce: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--min-bytes") || !strcmp(a, "--max-bytes")) {
            int64_t b;
            if (parse_bytes(v, &b) != 0 || b < 4) { fprintf(stderr, "bigbatch bench allreduce: %s: expected a size like 4K or 256M, got '%s'\n", a, v); return 2; }
            if (a[2] == 'm' && a[3] == 'i') lo = b; else hi = b;
        } else if (!strcmp(a, "--algorithms")) {
            algos = v;
        } else if (!strcmp(a, "--spin")) {
            char *end;
            spin = strtod(v, &end);
            if (end == v || *end || !(spin >= 0)) { fprintf(stderr, "bigbatch bench allreduce: --spin: expected seconds >= 0, got '%s'\n", v); return 2; }
        } else if (!strcmp(a, "--seconds")) {
            budget = atof(v);
            if (!(budget > 0)) { fprintf(stderr, "bigbatch bench allreduce: --seconds: expected a positive number, got '%s'\n", v); return 2; }
        } else {
            fprintf(stderr, "bigbatch bench allreduce: unknown flag %s (see --help)\n", a);
            return 2;
        }
    }
    if (hi < lo) { fprintf(stderr, "bigbatch bench allreduce: --max-bytes is below --min-bytes\n"); return 2; }
    char list[128];
    snprintf(list, sizeof list, "%s", algos);
    const char *names[8];
    int nalg = 0;
    for (char *tok = strtok(list, ","); tok && nalg < 8; tok = strtok(NULL, ",")) names[nalg++] = tok;

    bb_comm *c = NULL;
    if (cli_comm_create(&c, "mpi") != BB_OK) { fprintf(stderr, "bigbatch bench allreduce: %s\n", bb_last_error()); return 1; }
    for (int a = 0; a < nalg; a++)
        if (bb_comm_set_algorithm(c, names[a]) != BB_OK) {
            if (c->rank == 0) fprintf(stderr, "bigbatch bench allreduce: %s\n", bb_last_error());
            bb_comm_destroy(c);
            return 2;
        }
    c->spin = spin;  /* by default latency matters here: poll without sleeping */
    int64_t maxlen = hi / 4;
    float *x = bb_alloc((size_t)maxlen * sizeof *x);
    if (!x) { fprintf(stderr, "bigbatch bench allreduce: cannot allocate %lld bytes\n", (long long)hi); bb_comm_destroy(c); return 1; }
    int P = c->size;
    double factor = P > 1 ? 2.0 * (P - 1) / P : 0.0;
    if (c->rank == 0) {
        printf("# allreduce of float32, P = %d rank%s (%d on this host), %s backend; time = slowest rank's mean per call\n",
               P, P > 1 ? "s" : "", c->local_size, c->backend);
        if (P == 1) printf("# a single process has nothing to sum: run under mpirun -np P\n");
        printf("| size | algorithm | time (us) | algbw (GB/s) | busbw (GB/s) |\n|---:|---|---:|---:|---:|\n");
        fflush(stdout);
    }
    int rc = 0;
    for (int64_t bytes = lo; bytes <= hi && !rc; bytes *= 4) {
        int64_t len = bytes / 4;
        for (int a = 0; a < nalg && !rc; a++) {
            bb_comm_set_algorithm(c, names[a]);
            int bad = validate(c, x, len);
            double t = 0;
            bb_status s = bad ? BB_OK : time_calls(c, x, len, budget, &t);
            if (bad || s != BB_OK) {
                if (c->rank == 0 || c->failed)
                    fprintf(stderr, "bigbatch bench allreduce: %s, %lld bytes: %s\n", names[a], (long long)bytes,
                            bad > 0 ? "wrong result (not the exact sum) on some ranks" : bb_last_error());
                rc = 1;
                break;
            }
            if (c->rank == 0) {
                char size[32];
                fmt_bytes(len * 4, size, sizeof size);
                double algbw = t > 0 ? (double)(len * 4) / t / 1e9 : 0;
                if (P == 1) printf("| %s | %s | %.1f | - | - |\n", size, names[a], t * 1e6);
                else printf("| %s | %s | %.1f | %.3f | %.3f |\n", size, names[a], t * 1e6, algbw, algbw * factor);
                fflush(stdout);
            }
        }
    }
    bb_free(x);
    if (rc && c->size > 1) c->abort(c, rc);
    bb_comm_destroy(c);
    return rc;
}
