/* Run under mpirun (tests/sh/mpi_allreduce.sh): every allreduce algorithm
 * against a straightforward reference, on sub-communicators of every size
 * 1..P of the job, for lengths 0, 1, < P, not divisible by P and large:
 * exact sums of integer-valued data, bit-identical results on every rank, the
 * documented association (hd: the binary tree over ranks after folding the
 * first 2(P - P') ranks pairwise; P = 2: every algorithm gives x0 + x1), and
 * the watchdog naming a rank that never joins an operation. Exit status 1 on
 * any failure. */
#include "comm/comm.h"
#include "train/gradsum.h"
#include "util/mem.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;

#define EXPECT(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "rank %d: FAIL %s:%d: ", world_rank, __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static int world_rank;

/* rank r's input: integer-valued (exact sums) or random normal floats */
static float input(int exact, int r, int64_t i)
{
    if (exact) return (float)((i * 31 + r * 17) % 61 - 30);
    bb_rng g = bb_rng_make(5, BB_RNG_TEST, (uint64_t)r, (uint64_t)i);
    return (float)bb_rng_normal(&g) * (float)(1 + r % 3);
}

/* the association hd uses: fold pairs among the first 2 rem ranks, then a
 * perfect binary tree over the P' values; in[q] is rank q's input */
static float hd_reference(int P, float *const *in, int64_t i)
{
    int p2 = 1;
    while (p2 * 2 <= P) p2 *= 2;
    int rem = P - p2;
    float v[64];
    for (int q = 0; q < p2; q++) v[q] = q < rem ? in[2 * q + 1][i] + in[2 * q][i] : in[q + rem][i];
    for (int w = 1; w < p2; w *= 2)
        for (int q = 0; q + w < p2; q += 2 * w) v[q] = v[q] + v[q + w];
    return v[0];
}

static uint64_t hash(const float *x, int64_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        h = (h ^ u) * 1099511628211ull;
    }
    return h;
}

/* the in-process gradient sum's tree over P leaves (gradsum.h), out[0..len) */
static void tree_reference(int P, float *const *in, int64_t len, float *out)
{
    if (len == 0) return;
    bb_gradsum g;
    if (bb_gradsum_init(&g, P, len, 0, P) != BB_OK) return;
    for (int q = 0; q < P; q++) {
        memcpy(bb_gradsum_begin(&g), in[q], (size_t)len * sizeof(float));
        bb_gradsum_push(&g, q);
    }
    memcpy(out, bb_gradsum_combine(&g, 1), (size_t)len * sizeof(float));
    bb_gradsum_free(&g);
}

/* how many ranks of c disagree with rank 0 about h */
static int disagreeing(bb_comm *c, uint64_t h)
{
    uint64_t h0 = h;
    if (c->bcast(c, &h0, sizeof h0, 0) != BB_OK) return -1;
    double d = h0 != h;
    if (c->allreduce_f64(c, &d, 1) != BB_OK) return -1;
    return (int)d;
}

/* every algorithm on one length, integer-valued then random data */
static void check_length(bb_comm *c, int64_t len)
{
    static const char *algos[] = {"mpi", "ring", "hd"};
    int P = c->size, r = c->rank;
    float *in[64];
    for (int q = 0; q < P; q++) in[q] = malloc((size_t)(len + 1) * sizeof(float));
    double *ref = malloc((size_t)(len + 1) * sizeof *ref), *mag = malloc((size_t)(len + 1) * sizeof *mag);
    float *x = malloc((size_t)(len + 1) * sizeof *x), *tree = malloc((size_t)(len + 1) * sizeof *tree);
    uint64_t h = 0;  /* of every result, to compare across ranks */
    for (int exact = 1; exact >= 0; exact--) {
        for (int64_t i = 0; i < len; i++) {
            ref[i] = mag[i] = 0;
            for (int q = 0; q < P; q++) {
                in[q][i] = input(exact, q, i);
                ref[i] += in[q][i];
                mag[i] += fabs(in[q][i]);
            }
        }
        for (size_t a = 0; a < 3; a++) {
            const char *algo = algos[a];
            EXPECT(bb_comm_set_algorithm(c, algo) == BB_OK, "set_algorithm %s", algo);
            memcpy(x, in[r], (size_t)len * sizeof *x);
            x[len] = 12345.0f;  /* guard */
            bb_status s = c->allreduce(c, x, len);
            EXPECT(s == BB_OK, "P=%d %s len=%lld: %s", P, algo, (long long)len, bb_last_error());
            EXPECT(x[len] == 12345.0f, "P=%d %s len=%lld: wrote past the end", P, algo, (long long)len);
            /* hd keeps the in-process tree's association for P = 1..4, 6, 7, 8: with each rank's
             * share of workers a node of the tree, training is bit-identical to one process */
            if (!exact && !strcmp(algo, "hd") && P != 5 && P <= 8) {
                tree_reference(P, in, len, tree);
                EXPECT(len == 0 || memcmp(x, tree, (size_t)len * sizeof *x) == 0,
                       "P=%d hd len=%lld: not the gradient tree's association", P, (long long)len);
            }
            int64_t bad = 0, first = -1;
            for (int64_t i = 0; i < len; i++) {
                int ok;
                if (exact) ok = x[i] == (float)ref[i];
                else if (!strcmp(algo, "hd")) ok = x[i] == hd_reference(P, in, i);  /* bit for bit */
                else if (P <= 2) ok = x[i] == (P == 1 ? in[0][i] : in[0][i] + in[1][i]);
                else ok = fabs(x[i] - ref[i]) <= 4 * P * 6e-8 * mag[i];
                if (!ok && first < 0) first = i;
                bad += !ok;
            }
            EXPECT(bad == 0, "P=%d %s len=%lld %s data: %lld wrong elements, first at %lld (got %.9g)", P, algo,
                   (long long)len, exact ? "integer" : "random", (long long)bad, (long long)first, first >= 0 ? x[first] : 0.0);
            h = (h ^ hash(x, len)) * 1099511628211ull;
        }
    }
    int d = disagreeing(c, h);
    EXPECT(d == 0, "P=%d len=%lld: %d ranks have results that differ from rank 0's", P, (long long)len, d);
    for (int q = 0; q < P; q++) free(in[q]);
    free(ref);
    free(mag);
    free(x);
    free(tree);
}

/* rank P-1 of c never joins; the others must stop within the watchdog bound
 * and name it */
static void check_watchdog(bb_comm *c)
{
    int P = c->size;
    c->watchdog = 0.5;
    if (c->rank == P - 1) {
        struct timespec ts = {1, 200000000L};
        nanosleep(&ts, NULL);
        return;
    }
    float x[16] = {0};
    double t0 = bb_now();
    bb_status s = c->allreduce(c, x, 16);
    double dt = bb_now() - t0;
    char want[32];
    snprintf(want, sizeof want, "from rank %d", P - 1);
    EXPECT(s == BB_ERR_COMM, "watchdog: the allreduce should fail, returned %d", (int)s);
    EXPECT(strstr(bb_last_error(), want) && strstr(bb_last_error(), "hung or dead"), "watchdog message: %s", bb_last_error());
    EXPECT(dt < 0.5 + 0.25 + 0.5, "watchdog: stopped after %.2f s, bound 1.25 s", dt);
    EXPECT(c->lead == (c->rank == 0), "watchdog: rank %d lead %d", c->rank, c->lead);
    EXPECT(c->failed, "watchdog: comm not marked failed");
    s = c->barrier(c);
    EXPECT(s == BB_ERR_COMM, "a failed communicator must refuse later operations");
    if (c->rank == 0) fprintf(stderr, "watchdog message (%.2f s): %s\n", dt, bb_last_error());
}

int main(int argc, char **argv)
{
    int64_t big = argc > 1 ? atoll(argv[1]) : 262147;
    bb_comm *world = NULL;
    if (bb_comm_mpi(&world, "mpi") != BB_OK) { fprintf(stderr, "%s\n", bb_last_error()); return 1; }
    world_rank = world->rank;
    if (strcmp(world->backend, "mpi")) fprintf(stderr, "note: not under mpirun, testing P = 1 only\n");
    for (int P = 1; P <= world->size; P++) {
        bb_comm *c = NULL;
        if (world->split(world, world->rank < P ? 0 : -1, &c) != BB_OK) { fprintf(stderr, "split: %s\n", bb_last_error()); return 1; }
        if (!c) continue;
        int64_t lens[] = {0, 1, 2, P - 1, P, P + 1, 2 * P + 1, 7, 13, 1000, 4099, 65537, big};
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            if (lens[l] >= 0) check_length(c, lens[l]);
        int f = failures;
        double total = f;
        c->allreduce_f64(c, &total, 1);
        if (c->rank == 0) printf("%s P=%d: mpi, ring, hd on %zu lengths up to %lld\n", total ? "FAIL" : "ok  ", P,
                                 sizeof lens / sizeof lens[0], (long long)big);
        bb_comm_destroy(c);
    }
    if (world->size >= 3) {
        bb_comm *c = NULL;
        if (world->split(world, world->rank < 3 ? 0 : -1, &c) == BB_OK && c) {
            check_watchdog(c);
            if (c->rank == 0) printf("%s watchdog names the rank that never joined\n", failures ? "FAIL" : "ok  ");
            /* left unfreed: its peers gave up on it */
        }
    }
    double total = failures;
    world->allreduce_f64(world, &total, 1);
    if (world->rank == 0) printf("%s\n", total ? "FAILED" : "all allreduce checks passed");
    bb_comm_destroy(world);
    return failures ? 1 : 0;
}
