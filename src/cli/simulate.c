/* `bigbatch simulate`: predicted time per iteration, images/s, scaling
 * efficiency and hidden communication of a model on a cluster of servers
 * (or on the P ranks of one host), per allreduce algorithm (src/sim/sim.h,
 * docs/SCALING.md). Reads calibration files; runs nothing but a short timing
 * of the reduction loop when --calibrate is given without --reduce-gbs. */
#include "cli/cli.h"

#include "model/models.h"
#include "sim/sim.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 64

typedef struct {
    bb_model_spec spec;
    int64_t worker_batch, batch_size;
    double fwd_ms, bwd_ms, gflops, update_ms;
    const char *profile, *run[16], *calib[8];
    int ncalib, nrun, nrun_cores;
    double run_cores[16];
    int per_server, nservers, servers[MAXN], nranks, ranks[MAXN], threads;
    double host_cores, calib_cores;
    double intra_us, intra_gbps, inter_us, inter_gbps, reduce_gbs;
    int inter_given;
    int nalgo;
    bb_sim_algo algo[BB_SIM_NALGO];
    int64_t bucket_kb, local_workers;
    int sizes;
    const char *csv;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
"usage: bigbatch simulate [flags]\n"
"Predicts time per iteration, images/s, scaling efficiency and the share of the gradient allreduce\n"
"hidden behind backprop, per allreduce algorithm, for a range of server counts (docs/SCALING.md).\n"
"model:\n"
"  --model NAME --input CxHxW --classes K [--width W] [--shortcut A|B]   (default resnet50 3x224x224 1000)\n"
"  --worker-batch N          samples per worker (default 32)\n"
"compute per worker (one of):\n"
"  --fwd-ms F --bwd-ms B     forward and backward ms per worker, split over the layers by multiply-adds\n"
"  --device-gflops R         forward = 2 x MACs x N / R, backward = 2 x forward\n"
"  --profile FILE            output of `bigbatch bench train --profile` (same model and N)\n"
"  --run DIR                 a `bigbatch train` run: per-worker medians of iters.csv (after iteration 0);\n"
"                            repeat it for several runs of one configuration (the median of each time)\n"
"  --update-ms U             optimizer time per step (default 0, or from --profile/--run)\n"
"cluster:\n"
"  --workers-per-server G    (default 8)     --servers LIST   e.g. 1,2,4 or 1..128 (doubling; default 1..128)\n"
"  --intra-latency-us A --intra-gbps B      link within a server (default 10 us, 160 Gbit/s)\n"
"  --inter-latency-us A --inter-gbps B      network between servers (default 25 us, 50 Gbit/s)\n"
"  --reduce-gbs R            GB/s at which a worker adds a received vector into its own (default 100)\n"
"  --algorithms LIST         of ring, hd (flat over all workers), hier-ring, hier-hd (the paper's three\n"
"                            phases: reduce in each server, ring or hd across servers, broadcast back)\n"
"                            (default ring,hd,hier-ring,hier-hd)\n"
"  --bucket-kb K             gradient bucket size as in training (default 1024; 0: one per layer)\n"
"  --local-workers W         logical workers each worker runs per step (default 1)\n"
"calibration on this machine:\n"
"  --calibrate FILE          `bigbatch bench allreduce` output (repeatable): alpha and beta fitted to its\n"
"                            ring and hd rows set both links; gamma is timed here unless --reduce-gbs\n"
"  --host-cores C            all ranks on one host with C cores available to this job (may be fractional\n"
"                            on a shared host; no network): give --ranks and --batch-size. N busy threads\n"
"                            run at min(1, C / N) of a core each; the allreduce runs on the same cores\n"
"                            after backward (no overlap)\n"
"  --run-cores C,...         cores that were available to each --run calibration run (default --host-cores)\n"
"  --calibrate-cores C       cores that were available to the --calibrate benchmark (default --host-cores):\n"
"                            its times are scaled to ranks on cores of their own first\n"
"  --ranks LIST              rank counts for --host-cores (default 1,2,4)\n"
"  --batch-size KN           the minibatch (host mode): KN / N logical workers over ranks x threads\n"
"  --threads T               executors per rank (host mode; default C / ranks, at least 1)\n"

"output:\n"
"  --sizes                   also the allreduce time of single buffers, 4 KiB .. 256 MiB\n"
"  --csv FILE                every row as CSV (for plots)\n");
}

static int bad(const char *flag, const char *v, const char *want)
{
    fprintf(stderr, "bigbatch simulate: %s: expected %s, got '%s'\n", flag, want, v);
    return 2;
}

static int num(const char *flag, const char *v, double lo, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo) || !isfinite(x)) {
        char want[64];
        snprintf(want, sizeof want, "a number >= %g", lo);
        return bad(flag, v, want);
    }
    *out = x;
    return 0;
}

/* "1,2,4" or "1..128" (doubling) */
static int int_list(const char *flag, const char *v, int *out, int *n)
{
    long a, b;
    char tail;
    *n = 0;
    if (sscanf(v, "%ld..%ld%c", &a, &b, &tail) == 2) {
        if (a < 1 || b < a || b > 1 << 20) return bad(flag, v, "A..B with 1 <= A <= B");
        for (long x = a; x <= b && *n < MAXN; x *= 2) out[(*n)++] = (int)x;
        return 0;
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        long x = strtol(tok, &end, 10);
        if (end == tok || *end || x < 1 || x > 1 << 20 || *n == MAXN) return bad(flag, v, "a list of positive integers like 1,2,4");
        out[(*n)++] = (int)x;
    }
    return *n ? 0 : bad(flag, v, "a list of positive integers like 1,2,4");
}

static int parse(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return -1; }
        if (!strcmp(a, "--sizes")) { o->sizes = 1; continue; }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) { fprintf(stderr, "bigbatch simulate: %s needs a value (see --help)\n", a); return 2; }
        double x = 0;
        int rc = 0;
        char tail;
        if (!strcmp(a, "--model")) snprintf(o->spec.name, sizeof o->spec.name, "%s", v);
        else if (!strcmp(a, "--input")) {
            long long c, h, w;
            if (sscanf(v, "%lldx%lldx%lld%c", &c, &h, &w, &tail) != 3) return bad(a, v, "CxHxW such as 3x224x224");
            o->spec.c = c; o->spec.h = h; o->spec.w = w;
        }
        else if (!strcmp(a, "--classes")) { if (!(rc = num(a, v, 2, &x))) o->spec.classes = (int64_t)x; }
        else if (!strcmp(a, "--width")) { if (!(rc = num(a, v, 1, &x))) o->spec.width = (int64_t)x; }
        else if (!strcmp(a, "--shortcut")) o->spec.shortcut = v[0];
        else if (!strcmp(a, "--worker-batch")) { if (!(rc = num(a, v, 1, &x))) o->worker_batch = (int64_t)x; }
        else if (!strcmp(a, "--batch-size")) { if (!(rc = num(a, v, 1, &x))) o->batch_size = (int64_t)x; }
        else if (!strcmp(a, "--fwd-ms")) rc = num(a, v, 0, &o->fwd_ms);
        else if (!strcmp(a, "--bwd-ms")) rc = num(a, v, 0, &o->bwd_ms);
        else if (!strcmp(a, "--device-gflops")) rc = num(a, v, 1e-6, &o->gflops);
        else if (!strcmp(a, "--update-ms")) rc = num(a, v, 0, &o->update_ms);
        else if (!strcmp(a, "--profile")) o->profile = v;
        else if (!strcmp(a, "--run")) {
            if (o->nrun == 16) return bad(a, v, "at most 16 directories");
            o->run[o->nrun++] = v;
        }
        else if (!strcmp(a, "--calibrate")) {
            if (o->ncalib == 8) return bad(a, v, "at most 8 files");
            o->calib[o->ncalib++] = v;
        }
        else if (!strcmp(a, "--workers-per-server")) { if (!(rc = num(a, v, 1, &x))) o->per_server = (int)x; }
        else if (!strcmp(a, "--servers")) rc = int_list(a, v, o->servers, &o->nservers);
        else if (!strcmp(a, "--ranks")) rc = int_list(a, v, o->ranks, &o->nranks);
        else if (!strcmp(a, "--host-cores")) rc = num(a, v, 0.01, &o->host_cores);
        else if (!strcmp(a, "--run-cores")) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            o->nrun_cores = 0;
            for (char *tok = strtok(buf, ","); tok && !rc; tok = strtok(NULL, ",")) {
                if (o->nrun_cores == 16) return bad(a, v, "at most 16 values");
                rc = num(a, tok, 0.01, &o->run_cores[o->nrun_cores++]);
            }
        }
        else if (!strcmp(a, "--calibrate-cores")) rc = num(a, v, 0.01, &o->calib_cores);
        else if (!strcmp(a, "--threads")) { if (!(rc = num(a, v, 1, &x))) o->threads = (int)x; }
        else if (!strcmp(a, "--intra-latency-us")) rc = num(a, v, 0, &o->intra_us);
        else if (!strcmp(a, "--intra-gbps")) rc = num(a, v, 1e-6, &o->intra_gbps);
        else if (!strcmp(a, "--inter-latency-us")) { rc = num(a, v, 0, &o->inter_us); o->inter_given = 1; }
        else if (!strcmp(a, "--inter-gbps")) { rc = num(a, v, 1e-6, &o->inter_gbps); o->inter_given = 1; }
        else if (!strcmp(a, "--reduce-gbs")) rc = num(a, v, 1e-6, &o->reduce_gbs);
        else if (!strcmp(a, "--bucket-kb")) { if (!(rc = num(a, v, 0, &x))) o->bucket_kb = (int64_t)x; }
        else if (!strcmp(a, "--local-workers")) { if (!(rc = num(a, v, 1, &x))) o->local_workers = (int64_t)x; }
        else if (!strcmp(a, "--csv")) o->csv = v;
        else if (!strcmp(a, "--algorithms")) {
            char buf[128];
            snprintf(buf, sizeof buf, "%s", v);
            o->nalgo = 0;
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                if (o->nalgo == BB_SIM_NALGO || bb_sim_algo_parse(tok, &o->algo[o->nalgo]) != BB_OK) {
                    fprintf(stderr, "bigbatch simulate: --algorithms: %s\n",
                            o->nalgo == BB_SIM_NALGO ? "too many" : bb_last_error());
                    return 2;
                }
                o->nalgo++;
            }
        }
        else { fprintf(stderr, "bigbatch simulate: unknown flag %s (see --help)\n", a); return 2; }
        if (rc) return rc;
    }
    return 0;
}

static int load_text(const char *path, char **out)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (bb_file_read_all(path, 16u << 20, &buf, &len) != BB_OK) {
        fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error());
        return 1;
    }
    char *s = realloc(buf, len + 1);
    if (!s) { free(buf); return 1; }
    s[len] = 0;
    *out = s;
    return 0;
}

/* seconds per byte to add one float vector into another, in cache-sized
 * blocks as an allreduce step does (best of several passes) */
static double measure_gamma(void)
{
    const int64_t n = 1 << 20;
    float *x = bb_alloc((size_t)n * sizeof *x), *y = bb_alloc((size_t)n * sizeof *y);
    if (!x || !y) { bb_free(x); bb_free(y); return 0; }
    for (int64_t i = 0; i < n; i++) { x[i] = (float)(i % 7); y[i] = 1; }
    double best = 1e30;
    for (int rep = 0; rep < 20; rep++) {
        double t0 = bb_now();
        for (int64_t i = 0; i < n; i++) y[i] += x[i];
        double dt = bb_now() - t0;
        if (dt < best) best = dt;
    }
    volatile float sink = y[n / 2];
    (void)sink;
    bb_free(x);
    bb_free(y);
    return best / ((double)n * sizeof(float));
}

static int calibrate(opts *o, bb_link *link, double *gamma)
{
    bb_sim_bench *all = NULL;
    int nall = 0;
    for (int f = 0; f < o->ncalib; f++) {
        char *text;
        if (load_text(o->calib[f], &text)) { free(all); return 1; }
        bb_sim_bench *b = NULL;
        int nb = 0;
        bb_status s = bb_sim_bench_parse(text, o->calib[f], &b, &nb);
        free(text);
        if (s != BB_OK) { fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error()); free(all); return 1; }
        for (int i = 0; i < nb; i++) {
            bb_sim_algo a;
            if (bb_sim_algo_parse(b[i].algo, &a) != BB_OK || (a != BB_SIM_RING && a != BB_SIM_HD)) continue;
            bb_sim_bench *grown = realloc(all, ((size_t)nall + 1) * sizeof *all);
            if (!grown) { free(b); free(all); return 1; }
            all = grown;
            all[nall++] = b[i];
            /* on a shared host: P ranks had `cores` between them */
            double cores = o->calib_cores > 0 ? o->calib_cores : o->host_cores;
            double slow = cores > 0 && b[i].ranks > cores ? b[i].ranks / cores : 1;
            for (int k = 0; k < b[i].n; k++) all[nall - 1].seconds[k] /= slow;
        }
        free(b);
    }
    if (!nall) { fprintf(stderr, "bigbatch simulate: --calibrate: no ring or hd rows in the files\n"); return 1; }
    *gamma = o->reduce_gbs > 0 ? 1.0 / (o->reduce_gbs * 1e9) : measure_gamma();
    printf("calibration: gamma %.3g s/B (%.2f GB/s, %s)\n", *gamma, 1e-9 / *gamma,
           o->reduce_gbs > 0 ? "--reduce-gbs" : "timed here: y += x over 4 MiB, best of 20");
    printf("| table | ranks | sizes | alpha (us) | beta (ns/B) | bandwidth (GB/s) | rms rel. error |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i <= nall; i++) {
        bb_link l = {0, 0};
        double rms;
        int one = i < nall;
        if (bb_sim_fit(one ? &all[i] : all, one ? 1 : nall, *gamma, &l, &rms) != BB_OK) {
            fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error());
            free(all);
            return 1;
        }
        int sizes = 0;
        for (int k = one ? i : 0; k < (one ? i + 1 : nall); k++) sizes += all[k].n;
        char ranks[16];
        snprintf(ranks, sizeof ranks, "%d", all[one ? i : 0].ranks);
        printf("| %s | %s | %d | %.1f | %.3f | %.3f | %.0f%% |\n", one ? all[i].algo : "all (used)", one ? ranks : "-",
               sizes, l.alpha * 1e6, l.beta * 1e9, l.beta > 0 ? 1e-9 / l.beta : 0, 100 * rms);
        if (!one) *link = l;
    }
    free(all);
    return 0;
}

/* slow: the one-host slowdown of the allreduce (1 on a cluster) */
static void print_sizes(const opts *o, const bb_topology *t, double slow)
{
    if (slow > 1)
        printf("\nallreduce of one buffer by %d ranks on %.2f cores (x %.2f): ms (latency share)\n| size |", t->per_server,
               o->host_cores, slow);
    else
        printf("\nallreduce of one buffer on %d servers x %d: ms (latency share)\n| size |", t->servers, t->per_server);
    for (int a = 0; a < o->nalgo; a++) printf(" %s |", bb_sim_algo_name(o->algo[a]));
    printf("\n|---:|");
    for (int a = 0; a < o->nalgo; a++) printf("---:|");
    printf("\n");
    for (double b = 4096; b <= 256.0 * 1048576; b *= 4) {
        if (b >= 1048576) printf("| %.0f MiB |", b / 1048576); else printf("| %.0f KiB |", b / 1024);
        for (int a = 0; a < o->nalgo; a++) {
            bb_cost c = bb_sim_allreduce_cost(t, o->algo[a], b);
            printf(" %.3f (%.0f%%) |", 1e3 * slow * bb_cost_total(c), 100 * c.latency / bb_cost_total(c));
        }
        printf("\n");
    }
}

/* N busy threads of this job on the cores available to it: each runs at
 * min(1, cores / N) of a core */
static double share_slowdown(double busy, double cores)
{
    double s = busy / cores;
    return s > 1 ? s : 1;
}

/* bigbatch's default: the host's cores divided among its ranks, at least 1
 * (the machine's cores, not the fraction available) */
static int default_threads(const opts *o, int P)
{
    int cores = (int)(o->host_cores + 0.999);
    return o->threads ? o->threads : cores / P > 1 ? cores / P : 1;
}

/* compute per worker from the chosen source */
static int set_compute(const opts *o, bb_sim_model *m, const char **how)
{
    int sources = (o->fwd_ms > 0 || o->bwd_ms > 0) + (o->gflops > 0) + (o->profile != NULL) + (o->nrun > 0);
    if (sources != 1) {
        fprintf(stderr, "bigbatch simulate: give exactly one source of compute times: --fwd-ms/--bwd-ms, "
                "--device-gflops, --profile or --run (got %d)\n", sources);
        return 2;
    }
    double macs = 0;
    for (int i = 0; i < m->nlayers; i++) macs += m->layers[i].macs;
    if (o->profile) {
        char *text;
        if (load_text(o->profile, &text)) return 1;
        bb_status s = bb_sim_apply_profile(m, text, o->profile);
        free(text);
        if (s != BB_OK) { fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error()); return 1; }
        *how = "per layer type from the profile, spread over layers by multiply-adds or output size";
    } else if (o->nrun) {
        if (o->nrun_cores && o->nrun_cores != o->nrun) {
            fprintf(stderr, "bigbatch simulate: --run-cores: %d values for %d --run directories\n", o->nrun_cores, o->nrun);
            return 2;
        }
        double t[4][16];  /* forward, backward, other, update of each run */
        for (int r = 0; r < o->nrun; r++) {
            bb_sim_run_times rt;
            if (bb_sim_read_run(o->run[r], 1, &rt) != BB_OK) { fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error()); return 1; }
            /* on a shared host, to the time on a core of its own */
            double s = 1, su = 1;
            if (o->host_cores > 0) {
                double cores = o->nrun_cores ? o->run_cores[r] : o->host_cores;
                s = share_slowdown((double)(rt.ranks * rt.threads), cores);
                su = share_slowdown((double)rt.ranks, cores);
            }
            t[0][r] = rt.t_fwd / s;
            t[1][r] = rt.t_bwd / s;
            t[2][r] = rt.t_other / s;
            t[3][r] = rt.t_update / su;
        }
        bb_sim_split_by_macs(m, bb_median(t[0], o->nrun), bb_median(t[1], o->nrun));
        m->t_other = bb_median(t[2], o->nrun);
        m->t_update = bb_median(t[3], o->nrun);
        *how = o->host_cores > 0 ? "medians of the runs' iters.csv, per core of its own, split over layers by multiply-adds"
                                 : "medians of the runs' iters.csv, split over layers by multiply-adds";
    } else if (o->gflops > 0) {
        double f = 2.0 * macs * (double)m->worker_batch / (o->gflops * 1e9);
        bb_sim_split_by_macs(m, f, 2 * f);
        *how = "multiply-adds at --device-gflops (backward = 2 x forward)";
    } else {
        bb_sim_split_by_macs(m, o->fwd_ms * 1e-3, o->bwd_ms * 1e-3);
        *how = "--fwd-ms/--bwd-ms split over layers by multiply-adds";
    }
    if (o->update_ms > 0) m->t_update = o->update_ms * 1e-3;
    return 0;
}

int cli_simulate(int argc, char **argv)
{
    opts o = {.worker_batch = 32, .per_server = 8, .intra_us = 10, .intra_gbps = 160, .inter_us = 25,
              .inter_gbps = 50, .bucket_kb = 1024, .local_workers = 1,
              .nalgo = 4, .algo = {BB_SIM_RING, BB_SIM_HD, BB_SIM_HIER_RING, BB_SIM_HIER_HD}};
    o.spec = (bb_model_spec){.c = 3, .h = 224, .w = 224, .classes = 1000};
    snprintf(o.spec.name, sizeof o.spec.name, "resnet50");
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    int host = o.host_cores > 0;
    if (!o.nservers) int_list("--servers", "1..128", o.servers, &o.nservers);
    if (!o.nranks) int_list("--ranks", "1,2,4", o.ranks, &o.nranks);
    if (host && (o.batch_size < o.worker_batch || o.batch_size % o.worker_batch)) {
        fprintf(stderr, "bigbatch simulate: --host-cores needs --batch-size, a multiple of --worker-batch (%lld)\n",
                (long long)o.worker_batch);
        return 2;
    }
    bb_net net;
    if (bb_model_build(&net, &o.spec) != BB_OK) { fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error()); return 2; }
    bb_sim_model m;
    bb_status s = bb_sim_model_from_net(&m, &net, o.worker_batch);
    bb_net_free(&net);
    if (s != BB_OK) { fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error()); return 1; }
    const char *how = "";
    FILE *csv = NULL;
    bb_sim_bucket *bk = NULL;
    int nb = 0;
    if ((rc = set_compute(&o, &m, &how))) goto done;

    bb_topology topo = {.per_server = o.per_server, .servers = 1,
                        .intra = {o.intra_us * 1e-6, 8.0 / (o.intra_gbps * 1e9)},
                        .inter = {o.inter_us * 1e-6, 8.0 / (o.inter_gbps * 1e9)},
                        .gamma = 1.0 / ((o.reduce_gbs > 0 ? o.reduce_gbs : 100) * 1e9)};
    if (o.ncalib) {
        bb_link l = {0, 0};
        if ((rc = calibrate(&o, &l, &topo.gamma))) goto done;
        topo.intra = l;
        if (!o.inter_given) topo.inter = l;
    }
    if (bb_sim_buckets(&m, o.bucket_kb * 256, &bk, &nb) != BB_OK) {
        fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error());
        rc = 1;
        goto done;
    }
    if (o.csv && !(csv = fopen(o.csv, "w"))) {
        fprintf(stderr, "bigbatch simulate: cannot write %s\n", o.csv);
        rc = 1;
        goto done;
    }
    double f = bb_sim_model_fwd(&m), b = bb_sim_model_bwd(&m);
    printf("model: %s, %.2fM parameters, %.1f MB of gradients + %.2f MB of BN statistics, in %d buckets (%s)\n",
           m.desc, (double)m.param_floats / 1e6, 4e-6 * (double)m.param_floats, 4e-6 * (double)m.stat_floats, nb,
           o.bucket_kb ? "--bucket-kb" : "one per layer");
    printf("compute per worker of %lld samples: forward %.2f ms, backward %.2f ms, other %.2f ms; update %.2f ms per step "
           "(%s)\n", (long long)m.worker_batch, 1e3 * f, 1e3 * b, 1e3 * m.t_other, 1e3 * m.t_update, how);
    if (host)
        printf("one host, %.2f cores available: link alpha %.1f us, %.3f GB/s; gamma %.2f GB/s; ranks time-share the "
               "cores (compute x max(1, ranks x threads / cores), allreduce and update x max(1, ranks / cores)); the "
               "allreduce runs on the same cores, after backward\n",
               o.host_cores, 1e6 * topo.intra.alpha, 1e-9 / topo.intra.beta, 1e-9 / topo.gamma);
    else
        printf("servers of %d workers: intra alpha %.1f us, %.2f GB/s; inter alpha %.1f us, %.3f GB/s shared by a server's "
               "workers; reduction %.1f GB/s\n", o.per_server, 1e6 * topo.intra.alpha, 1e-9 / topo.intra.beta,
               1e6 * topo.inter.alpha, 1e-9 / topo.inter.beta, 1e-9 / topo.gamma);
    if (csv) fprintf(csv, "mode,servers,workers_per_server,ranks,threads,algorithm,t_iter_ms,images_s,efficiency,t_comm_ms,"
                          "t_exposed_ms,hidden,latency_ms\n");

    int npoints = host ? o.nranks : o.nservers;
    bb_sim_result *res = calloc((size_t)npoints * o.nalgo, sizeof *res);
    if (!res) { rc = 1; goto done; }
    for (int i = 0; i < npoints && !rc; i++)
        for (int a = 0; a < o.nalgo && !rc; a++) {
            bb_sim_config c = {.topo = topo, .algo = o.algo[a], .local_workers = o.local_workers, .slowdown = 1, .overlap = 1};
            if (host) {
                int P = o.ranks[i], T = default_threads(&o, P);
                int64_t k = o.batch_size / o.worker_batch;
                c.topo.per_server = P;
                c.local_workers = (k + (int64_t)P * T - 1) / ((int64_t)P * T);
                c.slowdown = share_slowdown((double)P * T, o.host_cores);
                c.slowdown_comm = share_slowdown((double)P, o.host_cores);
                c.overlap = 0;
            } else {
                c.topo.servers = o.servers[i];
            }
            if (bb_sim_iteration(&m, bk, nb, &c, &res[i * o.nalgo + a]) != BB_OK) {
                fprintf(stderr, "bigbatch simulate: %s\n", bb_last_error());
                rc = 1;
            }
            if (host) res[i * o.nalgo + a].workers = o.batch_size / o.worker_batch;
            if (host) res[i * o.nalgo + a].images_per_s = (double)o.batch_size / res[i * o.nalgo + a].t_iter;
        }
    if (rc) { free(res); goto done; }
    /* efficiency: images/s per worker against the fastest algorithm at the first point */
    double base = 0;
    for (int a = 0; a < o.nalgo; a++)
        if (res[a].images_per_s / (double)(host ? 1 : o.servers[0]) > base) base = res[a].images_per_s / (double)(host ? 1 : o.servers[0]);
    if (host)
        printf("\n| ranks | threads | workers per executor | algorithm | ms/iter | images/s | speedup | allreduce ms | exposed ms |\n"
               "|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
    else
        printf("\n| servers | workers | algorithm | ms/iter | images/s | efficiency | allreduce ms | latency ms | exposed ms | hidden |\n"
               "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < npoints; i++) {
        int best = 0;
        for (int a = 1; a < o.nalgo; a++) if (res[i * o.nalgo + a].t_iter < res[i * o.nalgo + best].t_iter) best = a;
        for (int a = 0; a < o.nalgo; a++) {
            const bb_sim_result *r = &res[i * o.nalgo + a];
            const char *name = bb_sim_algo_name(o.algo[a]), *mark = a == best && o.nalgo > 1 ? " *" : "";
            double eff = host ? r->images_per_s / base : r->images_per_s / (double)o.servers[i] / base;
            if (host) {
                int P = o.ranks[i], T = default_threads(&o, P);
                int64_t k = o.batch_size / o.worker_batch, w = (k + (int64_t)P * T - 1) / ((int64_t)P * T);
                printf("| %d | %d | %lld | %s%s | %.1f | %.1f | %.2f | %.2f | %.2f |\n", P, T, (long long)w, name, mark,
                       1e3 * r->t_iter, r->images_per_s, eff, 1e3 * r->t_comm, 1e3 * r->t_exposed);
                if (csv) fprintf(csv, "host,1,%d,%d,%d,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", P, P, T, name, 1e3 * r->t_iter,
                                 r->images_per_s, eff, 1e3 * r->t_comm, 1e3 * r->t_exposed, r->hidden, 1e3 * r->latency);
            } else {
                printf("| %d | %lld | %s%s | %.1f | %.0f | %.1f%% | %.1f | %.1f | %.1f | %.0f%% |\n", o.servers[i],
                       (long long)r->workers, name, mark, 1e3 * r->t_iter, r->images_per_s, 100 * eff, 1e3 * r->t_comm,
                       1e3 * r->latency, 1e3 * r->t_exposed, 100 * r->hidden);
                if (csv) fprintf(csv, "cluster,%d,%d,%lld,1,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", o.servers[i], o.per_server,
                                 (long long)r->workers, name, 1e3 * r->t_iter, r->images_per_s, eff, 1e3 * r->t_comm,
                                 1e3 * r->t_exposed, r->hidden, 1e3 * r->latency);
            }
        }
    }
    printf("(* fastest at that size; efficiency = images/s per %s against the fastest at the first)\n",
           host ? "host" : "server");
    free(res);
    if (o.sizes) {
        bb_topology t = topo;
        if (host) t.per_server = o.ranks[o.nranks - 1];
        else t.servers = o.servers[o.nservers - 1];
        print_sizes(&o, &t, host ? share_slowdown((double)t.per_server, o.host_cores) : 1.0);
    }
done:
    if (csv && fclose(csv) != 0) { fprintf(stderr, "bigbatch simulate: writing %s failed\n", o.csv); rc = 1; }
    free(bk);
    bb_sim_model_free(&m);
    return rc;
}
