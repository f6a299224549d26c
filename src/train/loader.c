/* Two-slot prefetching loader on pthreads (see loader.h). A slot is claimed by
 * the first producer to reach its step, which copies that step's sample indices
 * out of the epoch permutation, so producers never share a changing sampler. */
#include "train/loader.h"

#include "util/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t step;              /* -1: free */
    float *x;                  /* (local workers, n, c, h, w) */
    int32_t *y;
    int64_t *idx;              /* local workers x n sample indices */
    unsigned char *ready;      /* per local worker */
    int64_t claimed;           /* next position of `order` to hand to a producer */
} slot;

struct bb_loader {
    const bb_dataset *ds;
    bb_sampler sampler;
    int64_t k, n, w_lo, w_hi, nlocal, sample_len;
    int64_t *order;            /* local worker positions (w - w_lo) in request order */
    uint64_t seed;
    int64_t next_claim, end_step;
    slot slots[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t *threads;
    int nthreads;
    int stop;
    bb_status error;
    char errmsg[1024];
};

/* Claims the slot of step s (waiting until it is free) and fills its indices.
 * Called with the mutex held. */
static slot *claim(bb_loader *l, int64_t s)
{
    slot *sl = &l->slots[s % 2];
    while (!l->stop && sl->step != s && sl->step != -1) pthread_cond_wait(&l->cv, &l->mu);
    if (l->stop) return NULL;
    if (sl->step == -1) {
        int64_t spe = bb_sampler_steps_per_epoch(&l->sampler);
        int64_t epoch = s / spe, j = s % spe;
        if (l->sampler.epoch != epoch) bb_sampler_set_epoch(&l->sampler, epoch);
        for (int64_t i = 0; i < l->nlocal; i++)
            memcpy(sl->idx + i * l->n, bb_sampler_worker(&l->sampler, j, l->w_lo + i), (size_t)l->n * sizeof(int64_t));
        memset(sl->ready, 0, (size_t)l->nlocal);
        sl->claimed = 0;
        sl->step = s;
    }
    return sl;
}

static void *producer(void *arg)
{
    bb_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        /* find work: the next unhanded worker of the oldest step not fully handed out */
        int64_t s = l->next_claim;
        if (s >= l->end_step || l->stop) break;
        slot *sl = claim(l, s);
        if (!sl) break;
        if (sl->claimed >= l->nlocal) {  /* all handed out: move on to the next step */
            if (l->next_claim == s) l->next_claim = s + 1;
            continue;
        }
        int64_t pos = l->order[sl->claimed++];
        int64_t epoch = s / bb_sampler_steps_per_epoch(&l->sampler);
        pthread_mutex_unlock(&l->mu);
        bb_status st = BB_OK;
        float *x = sl->x + pos * l->n * l->sample_len;
        for (int64_t i = 0; i < l->n && st == BB_OK; i++) {
            int64_t id = sl->idx[pos * l->n + i];
            st = l->ds->fetch(l->ds, id, 1, l->seed, epoch, x + i * l->sample_len);
            sl->y[pos * l->n + i] = l->ds->labels[id];
        }
        pthread_mutex_lock(&l->mu);
        if (st != BB_OK && l->error == BB_OK) {
            l->error = st;
            snprintf(l->errmsg, sizeof l->errmsg, "%s", bb_last_error());
        }
        sl->ready[pos] = 1;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

bb_status bb_loader_create(bb_loader **out, const bb_dataset *ds, int64_t k, int64_t n, int64_t w_lo,
                           int64_t w_hi, const int64_t *order, uint64_t seed, int64_t first_step,
                           int64_t end_step, int producers)
{
    *out = NULL;
    if (!ds->labels)  /* a stand-in with the shape and size of a split that was not read (train/eval_data.c) */
        return bb_fail(BB_ERR_INVALID, "%s: the training split was not loaded (evaluation only)", ds->name);
    bb_loader *l = calloc(1, sizeof *l);
    if (!l) return bb_fail(BB_ERR_NOMEM, "loader: out of memory");
    l->ds = ds;
    l->k = k;
    l->n = n;
    l->w_lo = w_lo;
    l->w_hi = w_hi;
    l->nlocal = w_hi - w_lo;
    l->sample_len = ds->c * ds->h * ds->w;
    l->seed = seed;
    l->next_claim = first_step;
    l->end_step = end_step;
    bb_status s = bb_sampler_init(&l->sampler, ds->n, k, n, seed);
    if (s != BB_OK) { free(l); return s; }
    if (bb_sampler_steps_per_epoch(&l->sampler) < 1) {
        bb_sampler_free(&l->sampler);
        free(l);
        return bb_fail(BB_ERR_INVALID, "the minibatch of %lld is larger than the %lld training samples of %s",
                       (long long)(k * n), (long long)ds->n, ds->name);
    }
    l->order = malloc((size_t)l->nlocal * sizeof *l->order);
    int ok = l->order != NULL;
    for (int i = 0; i < 2 && ok; i++) {
        slot *sl = &l->slots[i];
        sl->step = -1;
        sl->x = bb_alloc((size_t)(l->nlocal * n * l->sample_len) * sizeof(float));
        sl->y = bb_alloc((size_t)(l->nlocal * n) * sizeof(int32_t));
        sl->idx = bb_alloc((size_t)(l->nlocal * n) * sizeof(int64_t));
        sl->ready = bb_alloc((size_t)l->nlocal);
        ok = sl->x && sl->y && sl->idx && sl->ready;
    }
    if (!ok) {
        bb_loader_destroy(l);
        return bb_fail(BB_ERR_NOMEM, "loader: cannot allocate two steps of %lld samples", (long long)(l->nlocal * n));
    }
    for (int64_t i = 0; i < l->nlocal; i++) l->order[i] = order[i] - w_lo;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->threads = calloc((size_t)producers, sizeof *l->threads);
    for (int t = 0; l->threads && t < producers; t++) {
        if (pthread_create(&l->threads[t], NULL, producer, l) != 0) break;
        l->nthreads++;
    }
    if (l->nthreads == 0) {
        bb_loader_destroy(l);
        return bb_fail(BB_ERR_INVALID, "loader: cannot start a producer thread");
    }
    *out = l;
    return BB_OK;
}

bb_status bb_loader_get(bb_loader *l, int64_t step, int64_t w, const float **x, const int32_t **y, double *waited)
{
    slot *sl = &l->slots[step % 2];
    int64_t pos = w - l->w_lo;
    double t0 = bb_now();
    pthread_mutex_lock(&l->mu);
    while (l->error == BB_OK && !(sl->step == step && sl->ready[pos])) pthread_cond_wait(&l->cv, &l->mu);
    bb_status err = l->error;
    pthread_mutex_unlock(&l->mu);
    if (waited) *waited = bb_now() - t0;
    if (err != BB_OK) return bb_fail(err, "%s", l->errmsg);
    *x = sl->x + pos * l->n * l->sample_len;
    *y = sl->y + pos * l->n;
    return BB_OK;
}

void bb_loader_release(bb_loader *l, int64_t step)
{
    pthread_mutex_lock(&l->mu);
    slot *sl = &l->slots[step % 2];
    if (sl->step == step) sl->step = -1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void bb_loader_slot_memory(const bb_loader *l, int i, void **x, size_t *bytes)
{
    *x = l->slots[i & 1].x;
    *bytes = (size_t)(l->nlocal * l->n * l->sample_len) * sizeof(float);
}

int64_t bb_loader_steps_per_epoch(const bb_loader *l) { return bb_sampler_steps_per_epoch(&l->sampler); }

void bb_loader_destroy(bb_loader *l)
{
    if (!l) return;
    if (l->nthreads) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        for (int t = 0; t < l->nthreads; t++) pthread_join(l->threads[t], NULL);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
    }
    free(l->threads);
    for (int i = 0; i < 2; i++) {
        bb_free(l->slots[i].x);
        bb_free(l->slots[i].y);
        bb_free(l->slots[i].idx);
        bb_free(l->slots[i].ready);
    }
    free(l->order);
    bb_sampler_free(&l->sampler);
    free(l);
}
