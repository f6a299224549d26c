/* Fork-join thread pool on pthreads. A job is published by bumping an atomic
 * generation counter; workers and the caller first spin on the counters for a
 * few tens of microseconds (a kernel's phases follow each other closely, and a
 * sleeping thread takes far longer to wake), then sleep on a condition
 * variable, so an idle pool costs no CPU. */
#include "util/pool.h"

#include "util/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#define SPIN_SECONDS 50e-6  /* how long a thread spins before it sleeps */

struct bb_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    atomic_ulong generation;   /* bumped under mu for each job */
    atomic_int pending;        /* workers still running the current job */
    atomic_int quit;           /* set before the last bump */
    bb_pool_fn fn;             /* the job: written before the bump that publishes it */
    void *arg;
};

typedef struct { bb_pool *p; int t; } pool_slot;

static inline void cpu_relax(void)
{
#if defined(__SSE2__)
    _mm_pause();
#endif
}

/* spins until *v differs from old or SPIN_SECONDS pass; returns the last value read */
static unsigned long spin_ulong(atomic_ulong *v, unsigned long old)
{
    double t0 = 0;
    for (int i = 1;; i++) {
        unsigned long now = atomic_load_explicit(v, memory_order_acquire);
        if (now != old) return now;
        cpu_relax();
        if (i % 64 == 0) {
            double t = bb_now();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_SECONDS) return now;
        }
    }
}

static int spin_int_zero(atomic_int *v)
{
    double t0 = 0;
    for (int i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) == 0) return 1;
        cpu_relax();
        if (i % 64 == 0) {
            double t = bb_now();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_SECONDS) return 0;
        }
    }
}

static void *pool_main(void *vs)
{
    pool_slot *s = vs;
    bb_pool *p = s->p;
    int t = s->t;
    free(s);
    unsigned long seen = 0;
    for (;;) {
        unsigned long g = spin_ulong(&p->generation, seen);
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&p->start, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->quit, memory_order_relaxed)) return NULL;
        seen = g;
        p->fn(p->arg, t, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

bb_status bb_pool_create(bb_pool **out, int nthreads)
{
    if (nthreads < 1) return bb_fail(BB_ERR_INVALID, "thread pool: need at least 1 thread, got %d", nthreads);
    bb_pool *p = calloc(1, sizeof *p);
    if (!p) return bb_fail(BB_ERR_NOMEM, "thread pool: out of memory");
    p->n = nthreads;
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) { free(p); return bb_fail(BB_ERR_NOMEM, "thread pool: out of memory"); }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, 0);
    for (int t = 1; t < nthreads; t++) {
        pool_slot *s = malloc(sizeof *s);
        if (!s) { p->n = t; bb_pool_destroy(p); return bb_fail(BB_ERR_NOMEM, "thread pool: out of memory"); }
        s->p = p;
        s->t = t;
        if (pthread_create(&p->threads[t], NULL, pool_main, s) != 0) {
            free(s);
            p->n = t;
            bb_pool_destroy(p);
            return bb_fail(BB_ERR_INVALID, "thread pool: cannot start thread %d of %d", t, nthreads);
        }
    }
    *out = p;
    return BB_OK;
}

/* a job is published by this bump, under mu so that no sleeper misses it */
static void publish(bb_pool *p)
{
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
}

void bb_pool_destroy(bb_pool *p)
{
    if (!p) return;
    atomic_store_explicit(&p->quit, 1, memory_order_relaxed);
    publish(p);
    for (int t = 1; t < p->n; t++) pthread_join(p->threads[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int bb_pool_size(const bb_pool *p) { return p ? p->n : 1; }

void bb_pool_run(bb_pool *p, bb_pool_fn fn, void *arg)
{
    if (!p || p->n == 1) { fn(arg, 0, 1); return; }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    publish(p);
    fn(arg, 0, p->n);
    if (spin_int_zero(&p->pending)) return;
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

typedef struct { bb_range_fn fn; void *arg; int64_t n, align; } range_job;

static void range_main(void *vj, int t, int nt)
{
    const range_job *j = vj;
    int64_t units = (j->n + j->align - 1) / j->align;
    long long lo, hi;
    bb_split_range(units, nt, t, &lo, &hi);
    int64_t a = lo * j->align, b = hi * j->align < j->n ? hi * j->align : j->n;
    if (a < b) j->fn(j->arg, a, b, t);
}

void bb_pool_for(bb_pool *p, int64_t n, int64_t align, bb_range_fn fn, void *arg)
{
    if (n <= 0) return;
    if (align < 1) align = 1;
    if (!p || p->n == 1 || n <= align) { fn(arg, 0, n, 0); return; }
    range_job j = {fn, arg, n, align};
    bb_pool_run(p, range_main, &j);
}

void bb_flush_denormals(void)
{
#if defined(__SSE2__)
    _mm_setcsr(_mm_getcsr() | 0x8040);  /* FTZ (bit 15) | DAZ (bit 6) */
#endif
}

void bb_split_range(long long n, int parts, int i, long long *lo, long long *hi)
{
    long long base = n / parts, extra = n % parts;
    *lo = i * base + (i < extra ? i : extra);
    *hi = *lo + base + (i < extra ? 1 : 0);
}

int bb_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
