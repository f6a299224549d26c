/* Alpha-beta-gamma plans of the allreduce algorithms on a two-level cluster
 * (sim.h). Which link a step uses is found by walking the workers of that
 * step once per topology; the cost of a size is then a short sum. */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

static const char *const algo_names[BB_SIM_NALGO] = {"ring", "hd", "hier-hd", "hier-ring"};

const char *bb_sim_algo_name(bb_sim_algo a) { return a >= 0 && a < BB_SIM_NALGO ? algo_names[a] : "?"; }

bb_status bb_sim_algo_parse(const char *s, bb_sim_algo *out)
{
    for (int a = 0; a < BB_SIM_NALGO; a++)
        if (!strcmp(s, algo_names[a])) { *out = (bb_sim_algo)a; return BB_OK; }
    return bb_fail(BB_ERR_INVALID, "unknown allreduce algorithm '%s': expected ring, hd, hier-hd (reduce in each server, "
                   "hd across servers, broadcast back) or hier-ring (the same with ring across servers)", s);
}

static bb_status add_step(bb_sim_plan *pl, double mult, double frac, int intra, int inter, int flows)
{
    if (mult <= 0) return BB_OK;
    if (pl->nsteps == BB_SIM_MAX_STEPS) return bb_fail(BB_ERR_INVALID, "simulate: allreduce plan has too many steps");
    pl->step[pl->nsteps++] = (bb_sim_step){mult, frac, intra, inter, flows};
    return BB_OK;
}

static int64_t pow2_floor(int64_t p)
{
    int64_t q = 1;
    while (q * 2 <= p) q *= 2;
    return q;
}

static int log2_ceil(int64_t p)
{
    int l = 0;
    while (((int64_t)1 << l) < p) l++;
    return l;
}

/* One step of point-to-point messages between physical workers, all at once:
 * which link kinds it uses and the most messages through one server's
 * interface in one direction (links are full duplex). */
typedef struct { int64_t G, S; int64_t *out, *in; int intra, inter, flows; } step_walk;

static void walk_begin(step_walk *w)
{
    w->intra = w->inter = w->flows = 0;
    memset(w->out, 0, (size_t)w->S * sizeof *w->out);
    memset(w->in, 0, (size_t)w->S * sizeof *w->in);
}

static void walk_send(step_walk *w, int64_t from, int64_t to)
{
    int64_t a = from / w->G, b = to / w->G;
    if (a == b) { w->intra = 1; return; }
    w->inter = 1;
    if (++w->out[a] > w->flows) w->flows = (int)w->out[a];
    if (++w->in[b] > w->flows) w->flows = (int)w->in[b];
}

/* hd over workers 0..p-1 (physical ids, G per server). With allgather = 0 the
 * second half is the mirror image as a gather to one worker (the reduce of
 * hier), and the result is not sent back to the folded workers. */
static bb_status plan_hd(bb_sim_plan *pl, int64_t p, int64_t G, int allgather)
{
    if (p < 2) return BB_OK;
    int64_t S = (p + G - 1) / G;
    step_walk w = {.G = G, .S = S, .out = calloc((size_t)S, sizeof(int64_t)), .in = calloc((size_t)S, sizeof(int64_t))};
    if (!w.out || !w.in) { free(w.out); free(w.in); return bb_fail(BB_ERR_NOMEM, "simulate: out of memory"); }
    int64_t q = pow2_floor(p), r = p - q;
    bb_status s = BB_OK;
    step_walk fold = w;
    if (r > 0) {  /* fold: 2i sends its vector to 2i+1 (i < r), who adds it */
        walk_begin(&w);
        for (int64_t i = 0; i < r; i++) walk_send(&w, 2 * i, 2 * i + 1);
        fold = w;
        s = add_step(pl, 1, 1.0, w.intra, w.inter, w.flows);
        pl->reduce_frac += 1.0;
    }
    /* core worker j is physical j < r ? 2j + 1 : j + r */
    double frac = 0.5;
    for (int64_t d = 1; d < q && s == BB_OK; d *= 2, frac *= 0.5) {
        walk_begin(&w);
        for (int64_t j = 0; j < q; j++)
            walk_send(&w, j < r ? 2 * j + 1 : j + r, (j ^ d) < r ? 2 * (j ^ d) + 1 : (j ^ d) + r);
        /* halving: exchange frac b and add it; doubling (or gather) back the same sizes */
        s = add_step(pl, 2, frac, w.intra, w.inter, w.flows);
        pl->reduce_frac += frac;
    }
    if (r > 0 && allgather && s == BB_OK) s = add_step(pl, 1, 1.0, fold.intra, fold.inter, fold.flows);
    free(w.out);
    free(w.in);
    return s;
}

bb_status bb_sim_plan_allreduce(const bb_topology *t, bb_sim_algo a, bb_sim_plan *pl)
{
    memset(pl, 0, sizeof *pl);
    if (t->per_server < 1 || t->servers < 1)
        return bb_fail(BB_ERR_INVALID, "simulate: need at least 1 worker per server and 1 server, got %d and %d",
                       t->per_server, t->servers);
    int64_t G = t->per_server, S = t->servers, p = G * S;
    switch (a) {
    case BB_SIM_RING:
        if (p < 2) return BB_OK;
        /* workers in server order: each server has one link into the ring and one out */
        pl->reduce_frac = (double)(p - 1) / (double)p;
        return add_step(pl, 2.0 * (double)(p - 1), 1.0 / (double)p, G > 1, S > 1, 1);
    case BB_SIM_HD:
        return plan_hd(pl, p, G, 1);
    case BB_SIM_HIER_HD:
    case BB_SIM_HIER_RING: {
        BB_TRY(plan_hd(pl, G, G, 0));  /* reduce within a server */
        if (S > 1) {                   /* the leaders, one per server */
            bb_topology across = *t;
            across.per_server = 1;
            bb_sim_plan mid;
            BB_TRY(bb_sim_plan_allreduce(&across, a == BB_SIM_HIER_HD ? BB_SIM_HD : BB_SIM_RING, &mid));
            for (int i = 0; i < mid.nsteps; i++)
                BB_TRY(add_step(pl, mid.step[i].mult, mid.step[i].frac, 0, 1, 1));
            pl->reduce_frac += mid.reduce_frac;
        }
        if (G > 1) {  /* broadcast: binomial scatter, then ring allgather */
            int l = log2_ceil(G);
            BB_TRY(add_step(pl, l, (double)(G - 1) / (double)G / l, 1, 0, 0));
            BB_TRY(add_step(pl, (double)(G - 1), 1.0 / (double)G, 1, 0, 0));
        }
        return BB_OK;
    }
    default:
        return bb_fail(BB_ERR_INVALID, "simulate: unknown allreduce algorithm %d", (int)a);
    }
}

bb_cost bb_sim_plan_cost(const bb_sim_plan *pl, const bb_topology *t, double bytes)
{
    bb_cost c = {0, 0, 0};
    for (int i = 0; i < pl->nsteps; i++) {
        const bb_sim_step *s = &pl->step[i];
        double m = s->frac * bytes, lat = 0, xfer = 0;
        if (s->intra) { lat = t->intra.alpha; xfer = m * t->intra.beta; }
        if (s->inter) {
            double la = t->inter.alpha, xa = m * t->inter.beta * s->flows;
            if (!s->intra || la + xa > lat + xfer) { lat = la; xfer = xa; }
        }
        c.latency += s->mult * lat;
        c.transfer += s->mult * xfer;
    }
    c.reduce = pl->reduce_frac * bytes * t->gamma;
    return c;
}

bb_cost bb_sim_allreduce_cost(const bb_topology *t, bb_sim_algo a, double bytes)
{
    bb_sim_plan pl;
    if (bb_sim_plan_allreduce(t, a, &pl) != BB_OK) return (bb_cost){-1, 0, 0};
    return bb_sim_plan_cost(&pl, t, bytes);
}
