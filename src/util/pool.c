/* Fork-join thread pool on pthreads: one mutex, two condition variables and a
 * generation counter; workers sleep between jobs. */
#include "util/pool.h"

#include <pthread.h>
#include <stdlib.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

struct bb_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned long generation;
    int pending;
    int quit;
    bb_pool_fn fn;
    void *arg;
};

typedef struct { bb_pool *p; int t; } pool_slot;

static void *pool_main(void *vs)
{
    pool_slot *s = vs;
    bb_pool *p = s->p;
    int t = s->t;
    free(s);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->generation == seen && !p->quit) pthread_cond_wait(&p->start, &p->mu);
        if (p->quit) { pthread_mutex_unlock(&p->mu); return NULL; }
        seen = p->generation;
        bb_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, t, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
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

void bb_pool_destroy(bb_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
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
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
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
