/* Replica checksums and fault injection (replicas.h). */
#include "train/replicas.h"

#include "train/trainer_internal.h"
#include "util/hooks.h"
#include "util/log.h"
#include "util/rng.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* four independent multiply-xor lanes over 32-bit words, then mixed */
static void hash_words(uint64_t h[4], const float *x, int64_t n)
{
    const uint64_t prime = 0x100000001b3ull;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) {
            uint32_t u;
            memcpy(&u, &x[i + j], 4);
            h[j] = (h[j] ^ u) * prime;
        }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        h[0] = (h[0] ^ u) * prime;
    }
}

uint64_t bb_trainer_checksum(bb_trainer *t)
{
    uint64_t h[4] = {0xcbf29ce484222325ull, 0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull};
    /* the accessors: on a device they bring the state to the host first */
    hash_words(h, bb_trainer_params(t), t->P);
    hash_words(h, bb_trainer_momentum(t), t->P);
    hash_words(h, bb_trainer_state(t), t->net.state_count);
    uint64_t out = 0;
    for (int j = 0; j < 4; j++) out = bb_mix64(out ^ h[j]);
    return out;
}

bb_status bb_trainer_check_replicas(bb_trainer *t, const char *when)
{
    bb_comm *c = t->comm;
    if (c->size == 1) return BB_OK;
    uint64_t mine = bb_trainer_checksum(t);
    /* every rank's checksum as two exact 32-bit halves in doubles */
    double *all = calloc(2 * (size_t)c->size, sizeof *all);
    if (!all) return bb_fail(BB_ERR_NOMEM, "replica check: out of memory");
    all[2 * c->rank] = (double)(mine >> 32);
    all[2 * c->rank + 1] = (double)(mine & 0xffffffffu);
    bb_status s = c->allreduce_f64(c, all, 2 * c->size);
    if (s != BB_OK) { free(all); return bb_fail_context(s, "replica check %s", when); }
    uint64_t *h = malloc((size_t)c->size * sizeof *h);
    if (!h) { free(all); return bb_fail(BB_ERR_NOMEM, "replica check: out of memory"); }
    for (int p = 0; p < c->size; p++) h[p] = ((uint64_t)all[2 * p] << 32) | (uint64_t)all[2 * p + 1];
    free(all);
    /* the majority's checksum (ties: the lowest rank's) */
    int best = 0, best_n = 0;
    for (int p = 0; p < c->size; p++) {
        int n = 0;
        for (int q = 0; q < c->size; q++) n += h[q] == h[p];
        if (n > best_n) { best = p; best_n = n; }
    }
    if (best_n == c->size) { free(h); return BB_OK; }
    char list[512];
    size_t len = 0;
    int odd = 0;
    for (int p = 0; p < c->size; p++)
        if (h[p] != h[best] && len < sizeof list) {
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%d (%016llx)", odd ? ", " : "", p, (unsigned long long)h[p]);
            odd++;
        }
    s = bb_fail(BB_ERR_COMM, "replica check %s (iteration %lld): the weights differ across ranks: rank%s %s disagree%s with "
                "the other %d (checksum %016llx); the ranks no longer train the same model, stopping the job",
                when, (long long)t->step, odd > 1 ? "s" : "", list, odd > 1 ? "" : "s", best_n, (unsigned long long)h[best]);
    free(h);
    return s;
}

void bb_trainer_fault_point(bb_trainer *t)
{
    const char *f = bb_hooks_get()->fault;
    if (!f || !f[0]) return;
    char kind[16];
    int rank = -1;
    long long step = -1;
    if (sscanf(f, "%15[a-z]:%d:%lld", kind, &rank, &step) != 3) return;
    if (rank != t->comm->rank || step != t->step) return;
    bb_log(BB_LOG_WARN, "bigbatch: rank %d: BB_FAULT=%s before iteration %lld", rank, f, step);
    if (!strcmp(kind, "kill")) raise(SIGKILL);
    else if (!strcmp(kind, "hang")) raise(SIGSTOP);
    else if (!strcmp(kind, "perturb")) t->params[0] = nextafterf(t->params[0], INFINITY);
}
