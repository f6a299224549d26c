/* The machine's float32 FMA peak, for each register-kernel instruction set
 * the CPU runs (ukernel.h: AVX2+FMA, AVX-512F), on 1 and 2 threads: every
 * thread runs 12 independent multiply-add chains (enough to cover the FMA
 * latency on both FMA ports), counted as 2 flops per lane per FMA. Prints the
 * CPU model and its vector flags, then one line per (variant, threads):
 *   peak <variant> threads <t> GFLOP/s <g> wall <w>
 * g counts each thread's flops over its own CPU time (what the cores can do,
 * however busy a shared machine is), w over the wall time of all threads
 * together (what they did here and now). Best of 5 runs of about 0.1 s of
 * CPU time each.
 * usage: bench_peak [max-threads (default 2)] */
#include "ops/ukernel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(BB_NO_SIMD)
#include <immintrin.h>
#define PEAK_X86 1
#else
#define PEAK_X86 0
#endif

#define CHAINS 12
#define ITERS 50000000LL

static volatile float sink;

#if PEAK_X86
/* CHAINS accumulators a_i = a_i * m + c, written once for both widths */
#define PEAK_BODY(VEC, SET1, FMA, ADD, STORE)                                   \
    VEC acc[CHAINS], m = SET1(0.999999f), c = SET1(1e-7f);                       \
    for (int i = 0; i < CHAINS; i++) acc[i] = SET1(seed + (float)i);            \
    for (long long it = 0; it < iters; it++) {                                  \
        _Pragma("GCC unroll 12") for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], m, c); \
    }                                                                           \
    VEC sum = acc[0];                                                           \
    for (int i = 1; i < CHAINS; i++) sum = ADD(sum, acc[i]);                    \
    float out[16];                                                              \
    STORE(out, sum);                                                            \
    return out[0];

__attribute__((target("avx2,fma"))) static float run_avx2(long long iters, float seed)
{
    PEAK_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps)
}

__attribute__((target("avx512f,avx2,fma"))) static float run_avx512(long long iters, float seed)
{
    PEAK_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps)
}
#endif

typedef struct { bb_uk_variant v; long long iters; pthread_barrier_t *start; float out; double cpu; } job;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *worker(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
#if PEAK_X86
    j->out = j->v == BB_UK_AVX512 ? run_avx512(j->iters, 1.0f) : run_avx2(j->iters, 1.0f);
#endif
    j->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
    return NULL;
}

/* GFLOP/s of t threads running variant v together: over each thread's CPU
 * time (summed over threads), and over the wall time (*wall) */
static double measure(bb_uk_variant v, int t, double *wall)
{
    int lanes = v == BB_UK_AVX512 ? 16 : 8;
    long long iters = ITERS / (lanes / 8);
    double best = 0;
    *wall = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[64];
        job jobs[64];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)t + 1);
        for (int i = 0; i < t; i++) {
            jobs[i] = (job){v, iters, &start, 0.0f, 0.0};
            if (pthread_create(&th[i], NULL, worker, &jobs[i]) != 0) { perror("pthread_create"); exit(1); }
        }
        pthread_barrier_wait(&start);
        double t0 = clock_s(CLOCK_MONOTONIC);
        for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
        double s = clock_s(CLOCK_MONOTONIC) - t0, flops = 2.0 * lanes * CHAINS * (double)iters, g = 0;
        pthread_barrier_destroy(&start);
        for (int i = 0; i < t; i++) {
            sink += jobs[i].out;
            g += flops / jobs[i].cpu / 1e9;
        }
        if (g > best) best = g;
        if (flops * t / s / 1e9 > *wall) *wall = flops * t / s / 1e9;
    }
    return best;
}

int main(int argc, char **argv)
{
    int maxt = argc > 1 ? atoi(argv[1]) : 2;
    if (maxt < 1 || maxt > 64) { fprintf(stderr, "usage: bench_peak [max-threads 1..64]\n"); return 2; }
    char model[256] = "unknown", family[32] = "?", number[32] = "?", flags[4096] = "", line[8192];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (!v) continue;
        v += 1 + (v[1] == ' ');
        v[strcspn(v, "\n")] = 0;
        if (!strncmp(line, "model name", 10) && !strcmp(model, "unknown")) snprintf(model, sizeof model, "%s", v);
        if (!strncmp(line, "cpu family", 10) && !strcmp(family, "?")) snprintf(family, sizeof family, "%s", v);
        if (!strncmp(line, "model\t", 6) && !strcmp(number, "?")) snprintf(number, sizeof number, "%s", v);
        if (!strncmp(line, "flags", 5) && !flags[0]) snprintf(flags, sizeof flags, " %s ", v);
    }
    if (f) fclose(f);
    printf("cpu: %s (family %s, model %s)\nvector flags:", model, family, number);
    static const char *want[] = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
                                 "avx512_vnni", "amx_tile", "amx_bf16"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char key[32];
        snprintf(key, sizeof key, " %s ", want[i]);
        printf(" %s%s", strstr(flags, key) ? "" : "no-", want[i]);
    }
    printf("\nregister kernels:");
    for (int v = 0; v <= BB_UK_AVX512; v++)  /* the CPU's (the emulated one is the tests') */
        printf(" %s (%s)", bb_uk_name((bb_uk_variant)v), bb_uk_supported((bb_uk_variant)v) ? "runs" : "not on this CPU");
    printf("\n");
    for (int v = BB_UK_AVX2; v <= BB_UK_AVX512; v++) {
        if (!bb_uk_supported((bb_uk_variant)v)) continue;
        for (int t = 1; t <= maxt; t++) {
            double wall, g = measure((bb_uk_variant)v, t, &wall);
            printf("peak %s threads %d GFLOP/s %.1f wall %.1f\n", bb_uk_name((bb_uk_variant)v), t, g, wall);
            fflush(stdout);
        }
    }
    return 0;
}
