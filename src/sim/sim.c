/* The workload of one worker (layers, gradient sizes, times), bigbatch's
 * gradient buckets, their allreduce schedule against backward, and the time
 * of one iteration (sim.h). */
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bb_status bb_sim_model_from_net(bb_sim_model *m, const bb_net *net, int64_t worker_batch)
{
    memset(m, 0, sizeof *m);
    if (worker_batch < 1) return bb_fail(BB_ERR_INVALID, "simulate: worker batch must be >= 1, got %lld", (long long)worker_batch);
    m->layers = calloc((size_t)net->nlayers + 1, sizeof *m->layers);
    if (!m->layers) return bb_fail(BB_ERR_NOMEM, "simulate: out of memory");
    m->nlayers = net->nlayers;
    m->param_floats = net->param_count;
    m->stat_floats = net->stat_count;
    m->worker_batch = worker_batch;
    snprintf(m->desc, sizeof m->desc, "%s", net->model_desc);
    for (int i = 0; i < net->nlayers; i++) {
        const bb_layer *l = &net->layers[i];
        bb_sim_layer *s = &m->layers[i];
        snprintf(s->name, sizeof s->name, "%s", l->name);
        s->kind = (int)l->kind;
        const bb_dims *d = &net->tensors[l->out];
        s->act = (double)(d->c * d->h * d->w);
        s->macs = (double)bb_layer_macs(l);
        s->offset = l->nparam > 0 ? net->params[l->param0].offset : 0;
        for (int j = 0; j < l->nparam; j++) {
            const bb_param *p = &net->params[l->param0 + j];
            if (p->offset < s->offset) s->offset = p->offset;
            s->floats += p->count;
        }
    }
    return BB_OK;
}

void bb_sim_model_free(bb_sim_model *m)
{
    free(m->layers);
    memset(m, 0, sizeof *m);
}

double bb_sim_model_fwd(const bb_sim_model *m)
{
    double t = m->t_fwd_extra;
    for (int i = 0; i < m->nlayers; i++) t += m->layers[i].t_fwd;
    return t;
}

double bb_sim_model_bwd(const bb_sim_model *m)
{
    double t = m->t_bwd_extra;
    for (int i = 0; i < m->nlayers; i++) t += m->layers[i].t_bwd;
    return t;
}

void bb_sim_split_by_macs(bb_sim_model *m, double t_fwd, double t_bwd)
{
    double total = 0;
    for (int i = 0; i < m->nlayers; i++) total += m->layers[i].macs;
    for (int i = 0; i < m->nlayers; i++) {
        double share = total > 0 ? m->layers[i].macs / total : 1.0 / m->nlayers;
        m->layers[i].t_fwd = share * t_fwd;
        m->layers[i].t_bwd = share * t_bwd;
    }
    m->t_fwd_extra = m->t_bwd_extra = 0;
}


bb_status bb_sim_buckets(const bb_sim_model *m, int64_t bucket_floats, bb_sim_bucket **out, int *nb)
{
    *out = NULL;
    *nb = 0;
    if (bucket_floats < 0) return bb_fail(BB_ERR_INVALID, "simulate: negative bucket size");
    int64_t n = m->stat_floats > 0;
    if (bucket_floats > 0) n += (m->param_floats + bucket_floats - 1) / bucket_floats;
    else for (int i = 0; i < m->nlayers; i++) n += m->layers[i].floats > 0;
    if (n > 100000000) return bb_fail(BB_ERR_INVALID, "simulate: %lld buckets: choose larger buckets", (long long)n);
    bb_sim_bucket *b = calloc((size_t)n + 1, sizeof *b);
    if (!b) return bb_fail(BB_ERR_NOMEM, "simulate: out of memory");
    int k = 0;
    if (m->stat_floats > 0) b[k++] = (bb_sim_bucket){m->param_floats, m->param_floats + m->stat_floats, 0.0};
    if (bucket_floats > 0) {
        for (int64_t j = (m->param_floats + bucket_floats - 1) / bucket_floats - 1; j >= 0; j--) {
            int64_t lo = j * bucket_floats, hi = lo + bucket_floats;
            b[k++] = (bb_sim_bucket){lo, hi < m->param_floats ? hi : m->param_floats, 0.0};
        }
    } else {
        for (int i = m->nlayers - 1; i >= 0; i--)
            if (m->layers[i].floats > 0)
                b[k++] = (bb_sim_bucket){m->layers[i].offset, m->layers[i].offset + m->layers[i].floats, 0.0};
    }
    /* one pass: readiness only moves forward as lo decreases */
    double t = 0;
    int li = m->nlayers - 1;
    for (int i = m->stat_floats > 0; i < k; i++) {
        while (li >= 0 && !(m->layers[li].floats > 0 && m->layers[li].offset <= b[i].lo)) t += m->layers[li--].t_bwd;
        b[i].ready = li >= 0 ? t + m->layers[li].t_bwd : t + m->t_bwd_extra;
    }
    *out = b;
    *nb = k;
    return BB_OK;
}

double bb_sim_schedule(const double *ready, const double *cost, int nb, double *start, double *end)
{
    double t = 0;
    for (int i = 0; i < nb; i++) {
        double s = ready[i] > t ? ready[i] : t;
        t = s + cost[i];
        if (start) start[i] = s;
        if (end) end[i] = t;
    }
    return t;
}

bb_status bb_sim_iteration(const bb_sim_model *m, const bb_sim_bucket *bk, int nb, const bb_sim_config *c,
                           bb_sim_result *r)
{
    memset(r, 0, sizeof *r);
    if (c->local_workers < 1) return bb_fail(BB_ERR_INVALID, "simulate: need at least one worker per executor");
    if (!(c->slowdown >= 1) || !(c->slowdown_comm >= 1 || c->slowdown_comm == 0))
        return bb_fail(BB_ERR_INVALID, "simulate: slowdowns must be >= 1, got %g and %g", c->slowdown, c->slowdown_comm);
    bb_sim_plan plan;
    BB_TRY(bb_sim_plan_allreduce(&c->topo, c->algo, &plan));
    double s = c->slowdown, sc = c->slowdown_comm > 0 ? c->slowdown_comm : s, f = bb_sim_model_fwd(m), b = bb_sim_model_bwd(m), o = m->t_other;
    double w = (double)c->local_workers;
    /* the last local worker's backward is the only one that can overlap */
    double b0 = s * ((w - 1) * (f + b + o) + o + f), b1 = b0 + s * b;
    double *ready = malloc(((size_t)nb + 1) * 2 * sizeof *ready);
    if (!ready) return bb_fail(BB_ERR_NOMEM, "simulate: out of memory");
    double *cost = ready + nb + 1;
    double latency = 0;
    for (int i = 0; i < nb; i++) {
        bb_cost k = bb_sim_plan_cost(&plan, &c->topo, 4.0 * (double)(bk[i].hi - bk[i].lo));
        ready[i] = c->overlap ? b0 + s * bk[i].ready : b1;
        cost[i] = sc * bb_cost_total(k);
        latency += sc * k.latency;
    }
    double end = bb_sim_schedule(ready, cost, nb, NULL, NULL);
    double comm = 0;
    for (int i = 0; i < nb; i++) comm += cost[i];
    free(ready);
    bb_cost loss = bb_sim_plan_cost(&plan, &c->topo, 16.0);  /* loss and error sums, after the gradients */
    double after = end > b1 ? end : b1;
    r->t_backward_end = b1;
    r->t_exposed = after - b1 + sc * bb_cost_total(loss);
    r->t_comm = comm + sc * bb_cost_total(loss);
    r->latency = latency + sc * loss.latency;
    r->hidden = r->t_comm > 0 ? 1.0 - r->t_exposed / r->t_comm : 1.0;
    r->t_compute = s * w * (f + b + o) + sc * m->t_update;
    r->t_iter = after + sc * bb_cost_total(loss) + sc * m->t_update;
    r->workers = (int64_t)c->topo.per_server * c->topo.servers * c->local_workers;
    r->images_per_s = r->t_iter > 0 ? (double)(r->workers * m->worker_batch) / r->t_iter : 0;
    return BB_OK;
}
