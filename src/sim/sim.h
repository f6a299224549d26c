/* A model of the time per iteration of synchronous SGD on a cluster that is
 * not here: alpha-beta-gamma costs of the allreduce algorithms (docs/SCALING.md,
 * Thakur, Rabenseifner and Gropp 2005) on servers of G workers joined by a
 * slower network, the buckets of gradients in reverse layer order, and their
 * overlap with backprop. Times are seconds, sizes bytes. docs/SCALING.md. */
#ifndef BB_SIM_SIM_H
#define BB_SIM_SIM_H

#include "model/net.h"
#include "util/status.h"

#include <stdint.h>

/* ---- links and collectives ---- */

typedef struct { double alpha, beta; } bb_link;  /* s per message, s per byte */

/* G workers per server (numbered server by server: worker r is on server
 * r / G), S servers; a server's workers share one network interface, so m
 * bytes sent by c of them to other servers at once take alpha + c m beta. */
typedef struct {
    int per_server, servers;
    bb_link intra, inter;
    double gamma;   /* s per byte of one operand added (the reduction) */
} bb_topology;

typedef enum { BB_SIM_RING, BB_SIM_HD, BB_SIM_HIER_HD, BB_SIM_HIER_RING, BB_SIM_NALGO } bb_sim_algo;
const char *bb_sim_algo_name(bb_sim_algo a);        /* "ring", "hd", "hier-hd", "hier-ring" */
bb_status bb_sim_algo_parse(const char *s, bb_sim_algo *out);

/* One allreduce (or one phase) as synchronous steps: a step moves frac * b
 * bytes per sender over intra- and/or inter-server links (inter ones shared by
 * `flows` senders per server) and repeats `mult` times; reduce_frac * b bytes
 * are added per worker on the critical path. Costs are then linear in b apart
 * from the max over the two link kinds inside a step. */
#define BB_SIM_MAX_STEPS 96
typedef struct { double mult, frac; int intra, inter, flows; } bb_sim_step;
typedef struct {
    bb_sim_step step[BB_SIM_MAX_STEPS];
    int nsteps;
    double reduce_frac;
} bb_sim_plan;

typedef struct { double latency, transfer, reduce; } bb_cost;  /* total = sum */
static inline double bb_cost_total(bb_cost c) { return c.latency + c.transfer + c.reduce; }

/* Plans of an allreduce over all G*S workers with algorithm a.
 * ring:  2(p-1) steps of b/p                 2(p-1)a + 2(p-1)/p bB + (p-1)/p bG
 * hd:    recursive halving with distance doubling, then doubling back:
 *        2 log2 p steps of b/2, b/4, ...     2 log2(p) a + 2(p-1)/p bB + (p-1)/p bG
 *        p not a power of two (p' the largest below, r = p - p'): workers
 *        0..2r-1 first fold in pairs and the result goes back at the end (two
 *        more steps of b and b more to add), as bigbatch's hd does;
 * hier-hd: the paper's three phases: reduce to one worker per server
 *        (reduce-scatter by halving + binomial gather: hd without its last
 *        step), hd (hier-ring: ring) across the S leaders, broadcast back
 *        (binomial scatter + ring allgather: (ceil(log2 G) + G - 1) a + 2(G-1)/G bB).
 * Fails only for impossible topologies (G or S < 1, more steps than fit). */
bb_status bb_sim_plan_allreduce(const bb_topology *t, bb_sim_algo a, bb_sim_plan *out);
bb_cost bb_sim_plan_cost(const bb_sim_plan *pl, const bb_topology *t, double bytes);
/* plan + cost in one call (tests, one-off uses) */
bb_cost bb_sim_allreduce_cost(const bb_topology *t, bb_sim_algo a, double bytes);

/* ---- the workload of one worker ---- */

typedef struct {
    char name[48];
    int64_t offset, floats;  /* its parameters in the flat buffer (floats 0: none) */
    double macs;             /* forward multiply-adds per sample */
    double act;              /* output elements per sample (for memory-bound layers) */
    int kind;                /* bb_layer_kind */
    double t_fwd, t_bwd;     /* seconds per worker batch */
} bb_sim_layer;

typedef struct {
    bb_sim_layer *layers;    /* forward order */
    int nlayers;
    int64_t param_floats, stat_floats;  /* gradients, then BN batch-statistic sums */
    int64_t worker_batch;
    double t_fwd_extra;      /* per worker, after the layers (loss) */
    double t_bwd_extra;      /* per worker, after the last layer's backward */
    double t_other;          /* per worker, outside forward/backward (data copy, gradient merges) */
    double t_update;         /* per rank and step (optimizer) */
    char desc[160];
} bb_sim_model;

/* The layers of a built network, with no times yet. */
bb_status bb_sim_model_from_net(bb_sim_model *m, const bb_net *net, int64_t worker_batch);
void bb_sim_model_free(bb_sim_model *m);
double bb_sim_model_fwd(const bb_sim_model *m);  /* per worker, layers + extra */
double bb_sim_model_bwd(const bb_sim_model *m);
/* Splits forward and backward times per worker over the layers in proportion
 * to their multiply-adds (layers without any get none). */
void bb_sim_split_by_macs(bb_sim_model *m, double t_fwd, double t_bwd);

/* ---- buckets and the overlap with backward ---- */

typedef struct {
    int64_t lo, hi;  /* floats */
    double ready;    /* seconds after the start of backward when it is final */
} bb_sim_bucket;

/* bigbatch's buckets (train/overlap.c): the BN statistics first (ready when
 * backward starts), then the parameters cut every bucket_floats from the top;
 * bucket_floats 0: one bucket per layer with parameters (the paper's
 * per-layer allreduce). A bucket is ready when backward has passed the first
 * layer (in backward order) whose parameters start at or below its lo.
 * *out is malloc'd. */
bb_status bb_sim_buckets(const bb_sim_model *m, int64_t bucket_floats, bb_sim_bucket **out, int *nb);

/* Allreduces in order, one at a time: start_i = max(ready_i, end_{i-1}),
 * end_i = start_i + cost_i. Returns the end of the last (0 if none);
 * start/end may be NULL. */
double bb_sim_schedule(const double *ready, const double *cost, int nb, double *start, double *end);

/* ---- one iteration ---- */

typedef struct {
    bb_topology topo;
    bb_sim_algo algo;
    int64_t local_workers;  /* logical workers each executor runs one after another (1 on GPUs) */
    double slowdown;        /* >= 1: forward/backward/other run this much slower (cores shared) */
    double slowdown_comm;   /* >= 1: the allreduces and the update (one thread per rank); 0: = slowdown */
    int overlap;            /* 0: the allreduces start after backward (they share the compute's cores) */
} bb_sim_config;

typedef struct {
    double t_iter;          /* seconds per iteration */
    double t_compute;       /* forward + backward + other of all local workers, + update */
    double t_backward_end;  /* from the start of the step */
    double t_comm;          /* sum of the gradient allreduces (+ the loss one) */
    double t_exposed;       /* communication after backward ended */
    double hidden;          /* share of t_comm that ran during backward, 0..1 */
    double latency;         /* the latency (alpha) part of t_comm */
    int64_t workers;        /* G * S * local_workers */
    double images_per_s;
} bb_sim_result;

/* bk from bb_sim_buckets. Adds an allreduce of 2 doubles (loss and error sums)
 * after the gradients, as bigbatch does. */
bb_status bb_sim_iteration(const bb_sim_model *m, const bb_sim_bucket *bk, int nb, const bb_sim_config *c,
                           bb_sim_result *r);

/* ---- calibration ---- */

/* One algorithm's timings from `bigbatch bench allreduce` output. */
typedef struct {
    int ranks;
    char algo[16];
    int n;
    double bytes[32], seconds[32];
} bb_sim_bench;

/* Parses the Markdown table printed by `bigbatch bench allreduce` (its
 * "# allreduce of float32, P = N ranks" header gives P). *out is malloc'd, one
 * entry per algorithm found. */
bb_status bb_sim_bench_parse(const char *text, const char *what, bb_sim_bench **out, int *n);

/* One link (alpha, beta) for all rows of the nb tables together: least
 * squares of the relative error (weights 1/t^2) with gamma fixed,
 * t(b) - cg b gamma = ca alpha + cb b beta, the coefficients those of ring or
 * hd on one server of P workers. Both stay >= 0. rms: root mean square
 * relative error of the fit. */
bb_status bb_sim_fit(const bb_sim_bench *b, int nb, double gamma, bb_link *out, double *rms);

/* Per worker compute from a run directory of `bigbatch train` (iters.csv and
 * config.json): medians over iterations after the first `skip` of t_fwd,
 * t_bwd, t_update and the rest of t_step outside t_reduce, divided by the
 * logical workers per executor. */
typedef struct {
    double t_fwd, t_bwd, t_other, t_update;
    int64_t local_workers, ranks, threads;
    int steps;
} bb_sim_run_times;
bb_status bb_sim_read_run(const char *dir, int skip, bb_sim_run_times *out);

/* `bigbatch bench train --profile` output: per layer type forward/backward
 * ms per step and thread; spread over the layers of each type (convolutions
 * and linear layers by multiply-adds, the others by output size) per worker.
 * Also sets t_fwd_extra (loss), t_other (gradient sum, data wait) and
 * t_update. */
bb_status bb_sim_apply_profile(bb_sim_model *m, const char *text, const char *what);

#endif
