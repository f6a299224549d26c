/* The scaling model (src/sim): allreduce costs against hand-computed sums
 * (ring, halving/doubling with and without a power of two, two-level
 * topologies with a shared network interface, the paper's hierarchical
 * three phases), bucket readiness and the overlap schedule on a made-up layer
 * list, and the calibration parsers and fit. */
#include "test.h"

#include "model/models.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double A = 1e-5, B = 1e-9, G = 1e-10, BYTES = 1e6;

static bb_topology one_server(int p)
{
    return (bb_topology){.per_server = p, .servers = 1, .intra = {A, B}, .inter = {1, 1}, .gamma = G};
}

static void check_cost(bb_cost c, double lat, double xfer, double red)
{
    CHECK_NEAR(c.latency, lat, 1e-12 + 1e-9 * lat);
    CHECK_NEAR(c.transfer, xfer, 1e-12 + 1e-9 * xfer);
    CHECK_NEAR(c.reduce, red, 1e-12 + 1e-9 * red);
}

/* docs/SCALING.md: ring 2(p-1)a + 2(p-1)/p bB + (p-1)/p bG */
TEST(sim_ring_cost)
{
    bb_topology t = one_server(4);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_RING, BYTES), 6 * A, 1.5 * BYTES * B, 0.75 * BYTES * G);
    t = one_server(7);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_RING, BYTES), 12 * A, 12.0 / 7 * BYTES * B, 6.0 / 7 * BYTES * G);
    t = one_server(1);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_RING, BYTES), 0, 0, 0);
}

/* docs/SCALING.md: hd 2 log2(p) a + 2(p-1)/p bB + (p-1)/p bG */
TEST(sim_hd_cost_power_of_two)
{
    bb_topology t = one_server(8);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 6 * A, 1.75 * BYTES * B, 0.875 * BYTES * G);
    t = one_server(2);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 2 * A, BYTES * B, 0.5 * BYTES * G);
}

/* p not a power of two: fold to p' (one step of b, b added), hd over p',
 * unfold (one step of b) */
TEST(sim_hd_cost_not_power_of_two)
{
    bb_topology t = one_server(6);  /* p' = 4 */
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 6 * A, 3.5 * BYTES * B, 1.75 * BYTES * G);
    t = one_server(5);              /* p' = 4, one pair folds: the same steps */
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 6 * A, 3.5 * BYTES * B, 1.75 * BYTES * G);
    t = one_server(3);              /* p' = 2 */
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 4 * A, 3 * BYTES * B, 1.5 * BYTES * G);
    t = one_server(12);             /* p' = 8: 2 + 6 steps */
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 8 * A, (2 + 1.75) * BYTES * B, 1.875 * BYTES * G);
}

/* two servers of two: slow inter-server links (a 1e-5, B 1e-9), fast intra
 * (1e-6, 1e-10) */
static bb_topology two_level(int per_server, int servers)
{
    return (bb_topology){.per_server = per_server, .servers = servers, .intra = {1e-6, 1e-10},
                         .inter = {1e-5, 1e-9}, .gamma = G};
}

TEST(sim_two_level_ring_and_hd)
{
    bb_topology t = two_level(2, 2);
    /* ring: every step is paced by its inter-server hop (one flow per server) */
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_RING, BYTES), 6 * 1e-5, 6 * 0.25 * BYTES * 1e-9, 0.75 * BYTES * G);
    /* hd: distance 1 inside the servers (b/2 each way), distance 2 across,
     * both workers of a server sending b/4 through one interface */
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 2 * 1e-6 + 2 * 1e-5,
               2 * 0.5 * BYTES * 1e-10 + 2 * 2 * 0.25 * BYTES * 1e-9, 0.75 * BYTES * G);
    /* four per server: distances 1, 2 inside, 4 across with 4 flows of b/8 */
    t = two_level(4, 2);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 4 * 1e-6 + 2 * 1e-5,
               2 * (0.5 + 0.25) * BYTES * 1e-10 + 2 * 4 * 0.125 * BYTES * 1e-9, 0.875 * BYTES * G);
    /* one worker per server: every step inter-server with one flow */
    t = two_level(1, 4);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HD, BYTES), 4 * 1e-5, 1.5 * BYTES * 1e-9, 0.75 * BYTES * G);
}

/* the paper's three phases: reduce in the server (2 log2 G a + 2(G-1)/G bB +
 * (G-1)/G bG), allreduce across the S leaders, broadcast back
 * ((log2 G + G - 1) a + 2(G-1)/G bB) */
TEST(sim_hierarchical_cost)
{
    bb_topology t = two_level(4, 2);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HIER_HD, BYTES), (4 + 5) * 1e-6 + 2 * 1e-5,
               3 * BYTES * 1e-10 + BYTES * 1e-9, (0.75 + 0.5) * BYTES * G);
    t = two_level(2, 4);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HIER_RING, BYTES), (2 + 2) * 1e-6 + 6 * 1e-5,
               2 * BYTES * 1e-10 + 1.5 * BYTES * 1e-9, (0.5 + 0.75) * BYTES * G);
    /* one server: reduce and broadcast only; one worker per server: across only */
    t = two_level(4, 1);
    check_cost(bb_sim_allreduce_cost(&t, BB_SIM_HIER_HD, BYTES), 9 * 1e-6, 3 * BYTES * 1e-10, 0.75 * BYTES * G);
    t = two_level(1, 8);
    bb_topology flat = t;
    bb_cost h = bb_sim_allreduce_cost(&t, BB_SIM_HIER_HD, BYTES), f = bb_sim_allreduce_cost(&flat, BB_SIM_HD, BYTES);
    CHECK_NEAR(bb_cost_total(h), bb_cost_total(f), 1e-15);
}

/* why the paper used halving/doubling across 32 servers: for small buffers
 * 2 log2(32) = 10 latencies against the ring's 2 x 31 = 62 */
TEST(sim_hd_beats_ring_when_latency_bound)
{
    bb_topology t = two_level(1, 32);
    double small = 4096, large = 256e6;
    double r = bb_cost_total(bb_sim_allreduce_cost(&t, BB_SIM_RING, small));
    double h = bb_cost_total(bb_sim_allreduce_cost(&t, BB_SIM_HD, small));
    CHECK(r / h > 5.5 && r / h < 6.2);
    r = bb_cost_total(bb_sim_allreduce_cost(&t, BB_SIM_RING, large));
    h = bb_cost_total(bb_sim_allreduce_cost(&t, BB_SIM_HD, large));
    CHECK(r / h > 0.99 && r / h < 1.01);  /* the same bytes when bandwidth-bound */
}

TEST(sim_algorithm_names)
{
    bb_sim_algo a;
    for (int i = 0; i < BB_SIM_NALGO; i++) {
        CHECK_OK(bb_sim_algo_parse(bb_sim_algo_name((bb_sim_algo)i), &a));
        CHECK(a == (bb_sim_algo)i);
    }
    CHECK_FAILS(bb_sim_algo_parse("tree", &a), BB_ERR_INVALID, "hier-ring");
    bb_sim_plan pl;
    bb_topology t = two_level(0, 2);
    CHECK_FAILS(bb_sim_plan_allreduce(&t, BB_SIM_RING, &pl), BB_ERR_INVALID, "at least 1 worker");
}

TEST(sim_schedule)
{
    double ready[4] = {0, 1, 2, 10}, cost[4] = {3, 1, 1, 1}, start[4], end[4];
    CHECK_NEAR(bb_sim_schedule(ready, cost, 4, start, end), 11, 0);
    double ws[4] = {0, 3, 4, 10}, we[4] = {3, 4, 5, 11};
    for (int i = 0; i < 4; i++) { CHECK_NEAR(start[i], ws[i], 0); CHECK_NEAR(end[i], we[i], 0); }
    CHECK_NEAR(bb_sim_schedule(ready, cost, 0, NULL, NULL), 0, 0);
}

/* four layers in forward order: L0 (100 floats, backward 3 s), L1 (none, 1 s),
 * L2 (50 floats, 2 s), L3 (250 floats, 1 s); 10 floats of BN statistics.
 * Backward runs L3 (ends at 1), L2 (3), L1 (4), L0 (7). */
static void tiny_model(bb_sim_model *m, bb_sim_layer *l)
{
    memset(l, 0, 4 * sizeof *l);
    l[0] = (bb_sim_layer){.name = "L0", .offset = 0, .floats = 100, .t_fwd = 2, .t_bwd = 3};
    l[1] = (bb_sim_layer){.name = "L1", .t_bwd = 1};
    l[2] = (bb_sim_layer){.name = "L2", .offset = 100, .floats = 50, .t_bwd = 2};
    l[3] = (bb_sim_layer){.name = "L3", .offset = 150, .floats = 250, .t_bwd = 1};
    memset(m, 0, sizeof *m);
    m->layers = l;
    m->nlayers = 4;
    m->param_floats = 400;
    m->stat_floats = 10;
    m->worker_batch = 8;
    m->t_update = 0.5;
}

TEST(sim_bucket_readiness)
{
    bb_sim_layer l[4];
    bb_sim_model m;
    tiny_model(&m, l);
    bb_sim_bucket *b = NULL;
    int nb = 0;
    CHECK_OK(bb_sim_buckets(&m, 100, &b, &nb));
    /* statistics, [300,400) and [200,300) (L3), [100,200) (L2), [0,100) (L0) */
    int64_t lo[5] = {400, 300, 200, 100, 0}, hi[5] = {410, 400, 300, 200, 100};
    double ready[5] = {0, 1, 1, 3, 7};
    CHECK(nb == 5);
    for (int i = 0; i < nb && i < 5; i++) {
        CHECK(b[i].lo == lo[i] && b[i].hi == hi[i]);
        CHECK_NEAR(b[i].ready, ready[i], 1e-12);
    }
    free(b);
    CHECK_OK(bb_sim_buckets(&m, 0, &b, &nb));  /* one per layer with parameters */
    int64_t plo[4] = {400, 150, 100, 0};
    double pready[4] = {0, 1, 3, 7};
    CHECK(nb == 4);
    for (int i = 0; i < nb && i < 4; i++) { CHECK(b[i].lo == plo[i]); CHECK_NEAR(b[i].ready, pready[i], 1e-12); }
    free(b);
}

TEST(sim_iteration_overlap)
{
    bb_sim_layer l[4];
    bb_sim_model m;
    tiny_model(&m, l);
    bb_sim_bucket *b = NULL;
    int nb = 0;
    CHECK_OK(bb_sim_buckets(&m, 0, &b, &nb));
    /* every allreduce (2 workers, ring: 2 steps) costs 2 x 0.5 s whatever its size */
    bb_sim_config c = {.topo = {.per_server = 2, .servers = 1, .intra = {0.5, 0}}, .algo = BB_SIM_RING,
                       .local_workers = 1, .slowdown = 1, .overlap = 1};
    bb_sim_result r;
    /* backward from 2 to 9; buckets ready at 2, 3, 5, 9 run 2-3, 3-4, 5-6,
     * 9-10, then the loss allreduce 10-11, then the update */
    CHECK_OK(bb_sim_iteration(&m, b, nb, &c, &r));
    CHECK_NEAR(r.t_backward_end, 9, 1e-12);
    CHECK_NEAR(r.t_iter, 11.5, 1e-12);
    CHECK_NEAR(r.t_comm, 5, 1e-12);
    CHECK_NEAR(r.t_exposed, 2, 1e-12);
    CHECK_NEAR(r.hidden, 0.6, 1e-12);
    CHECK_NEAR(r.latency, 5, 1e-12);
    CHECK(r.workers == 2);
    CHECK_NEAR(r.images_per_s, 16 / 11.5, 1e-12);
    /* two local workers and 0.5 s of other work each: the second one's
     * backward runs 12..19 */
    m.t_other = 0.5;
    c.local_workers = 2;
    CHECK_OK(bb_sim_iteration(&m, b, nb, &c, &r));
    CHECK_NEAR(r.t_iter, 21.5, 1e-12);
    /* no overlap: all four after backward (9..13) */
    m.t_other = 0;
    c.local_workers = 1;
    c.overlap = 0;
    CHECK_OK(bb_sim_iteration(&m, b, nb, &c, &r));
    CHECK_NEAR(r.t_iter, 14.5, 1e-12);
    CHECK_NEAR(r.hidden, 0, 1e-12);
    /* compute twice as slow, communication not: backward 4..18 */
    c.overlap = 1;
    c.slowdown = 2;
    c.slowdown_comm = 1;
    CHECK_OK(bb_sim_iteration(&m, b, nb, &c, &r));
    CHECK_NEAR(r.t_iter, 20.5, 1e-12);
    c.slowdown = 0.5;
    CHECK_FAILS(bb_sim_iteration(&m, b, nb, &c, &r), BB_ERR_INVALID, "slowdowns");
    free(b);
}

TEST(sim_model_from_resnet50)
{
    bb_model_spec spec = {.name = "resnet50", .c = 3, .h = 224, .w = 224, .classes = 1000};
    bb_net net;
    CHECK_OK(bb_model_build(&net, &spec));
    bb_sim_model m;
    CHECK_OK(bb_sim_model_from_net(&m, &net, 32));
    CHECK(m.param_floats == 25557032);
    int64_t sum = 0;
    int with = 0;
    double macs = 0;
    for (int i = 0; i < m.nlayers; i++) {
        sum += m.layers[i].floats;
        with += m.layers[i].floats > 0;
        macs += m.layers[i].macs;
    }
    CHECK(sum == m.param_floats);
    CHECK(with == 107);  /* 53 convolutions, 53 batch norms, fc */
    CHECK_NEAR(macs, (double)bb_net_macs(&net), 0);
    bb_sim_split_by_macs(&m, 0.06, 0.12);
    CHECK_NEAR(bb_sim_model_fwd(&m), 0.06, 1e-12);
    CHECK_NEAR(bb_sim_model_bwd(&m), 0.12, 1e-12);
    bb_sim_bucket *b;
    int nb;
    CHECK_OK(bb_sim_buckets(&m, 0, &b, &nb));
    CHECK(nb == 108);
    CHECK_NEAR(b[nb - 1].ready, 0.12, 1e-12);  /* conv1's, at the very end */
    for (int i = 1; i < nb; i++) CHECK(b[i].ready >= b[i - 1].ready);
    free(b);
    bb_sim_model_free(&m);
    bb_net_free(&net);
}

/* a bench allreduce table made from known alpha, beta, gamma: the fit gives
 * them back */
TEST(sim_calibration_fit)
{
    const double alpha = 30e-6, beta = 2e-9, gamma = 2e-10;
    char text[8192];
    size_t n = 0;
    for (int P = 2; P <= 4; P += 2) {
        n += (size_t)snprintf(text + n, sizeof text - n, "# allreduce of float32, P = %d ranks (%d on this host)\n"
                              "| size | algorithm | time (us) | algbw (GB/s) | busbw (GB/s) |\n|---:|---|---:|---:|---:|\n", P, P);
        for (double b = 4096; b <= 16 * 1048576; b *= 4)
            for (int a = 0; a < 2; a++) {
                bb_topology t = {.per_server = P, .servers = 1, .intra = {alpha, beta}, .gamma = gamma};
                double sec = bb_cost_total(bb_sim_allreduce_cost(&t, a ? BB_SIM_HD : BB_SIM_RING, b));
                char size[32];
                if (b >= 1048576) snprintf(size, sizeof size, "%.0f MiB", b / 1048576);
                else snprintf(size, sizeof size, "%.0f KiB", b / 1024);
                n += (size_t)snprintf(text + n, sizeof text - n, "| %s | %s | %.4f | 0.1 | 0.1 |\n", size, a ? "hd" : "ring", sec * 1e6);
            }
        n += (size_t)snprintf(text + n, sizeof text - n, "| 4 KiB | mpi | 50.0 | 0.1 | 0.1 |\n");
    }
    bb_sim_bench *b = NULL;
    int nb = 0;
    CHECK_OK(bb_sim_bench_parse(text, "made-up", &b, &nb));
    CHECK(nb == 6);
    bb_link l;
    double rms = 1;
    CHECK_OK(bb_sim_fit(b, 2, gamma, &l, &rms));  /* ring and hd at P = 2 */
    CHECK_NEAR(l.alpha, alpha, 1e-3 * alpha);
    CHECK_NEAR(l.beta, beta, 1e-3 * beta);
    CHECK(rms < 1e-4);
    CHECK_OK(bb_sim_fit(b + 3, 2, gamma, &l, &rms));  /* P = 4 */
    CHECK_NEAR(l.alpha, alpha, 1e-3 * alpha);
    CHECK_NEAR(l.beta, beta, 1e-3 * beta);
    CHECK_FAILS(bb_sim_fit(b + 2, 1, gamma, &l, &rms), BB_ERR_INVALID, "no cost model");
    free(b);
    CHECK_FAILS(bb_sim_bench_parse("| 4 KiB | ring | 10 | 1 | 1 |\n", "x.md", &b, &nb), BB_ERR_FORMAT, "x.md:1: no '# allreduce");
    CHECK_FAILS(bb_sim_bench_parse("# allreduce of float32, P = 2 ranks\n| 4 KB | ring | 10 | 1 | 1 |\n", "x.md", &b, &nb),
                BB_ERR_FORMAT, "x.md:2: expected a size");
    CHECK_FAILS(bb_sim_bench_parse("nothing here\n", "x.md", &b, &nb), BB_ERR_FORMAT, "no rows");
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

TEST(sim_read_run)
{
    const char *dir = bb_test_tmpdir();
    write_file(dir, "config.json", "{\"workers\": 8, \"threads\": 2, \"ranks\": 1, \"threads\": \"0\"}\n");
    write_file(dir, "iters.csv",
               "step,epoch,loss,err,lr,grad_norm,img_s,t_data,t_fwd,t_bwd,t_reduce,t_update,t_step,b_noise,t_allreduce\n"
               "0,0,1,1,0.1,1,1,0,9,9,9,9,99,0,0\n"
               "1,0,1,1,0.1,1,1,0,0.4,0.8,0.01,0.02,1.31,0,0\n"
               "2,0,1,1,0.1,1,1,0,0.5,0.9,0.01,0.03,1.54,0,0\n"
               "3,0,1,1,0.1,1,1,0,0.6,1.0,0.01,0.01,1.72,0,0\n");
    bb_sim_run_times rt;
    CHECK_OK(bb_sim_read_run(dir, 1, &rt));
    CHECK(rt.steps == 3 && rt.local_workers == 4 && rt.ranks == 1 && rt.threads == 2);
    CHECK_NEAR(rt.t_fwd, 0.5 / 4, 1e-12);
    CHECK_NEAR(rt.t_bwd, 0.9 / 4, 1e-12);
    CHECK_NEAR(rt.t_update, 0.02, 1e-12);
    CHECK_NEAR(rt.t_other, 0.1 / 4, 1e-9);
    write_file(dir, "iters.csv", "step,t_fwd\n1,0.5\n");
    CHECK_FAILS(bb_sim_read_run(dir, 1, &rt), BB_ERR_FORMAT, "no column t_bwd");
    write_file(dir, "config.json", "{\"threads\": 2, \"ranks\": 1}\n");
    CHECK_FAILS(bb_sim_read_run(dir, 1, &rt), BB_ERR_FORMAT, "\"workers\"");
}

static char *read_fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    if (buf) fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* `bigbatch bench train --profile` of ResNet-20 (2 workers of 32 on one thread) */
TEST(sim_profile)
{
    char *text = read_fixture("profile_resnet20.txt");
    CHECK(text != NULL);
    if (!text) return;
    bb_model_spec spec = {.name = "resnet20", .c = 1, .h = 28, .w = 28, .classes = 10};
    bb_net net;
    CHECK_OK(bb_model_build(&net, &spec));
    bb_sim_model m;
    CHECK_OK(bb_sim_model_from_net(&m, &net, 32));
    CHECK_OK(bb_sim_apply_profile(&m, text, "profile_resnet20.txt"));
    /* per worker: half of each per-step figure */
    double conv_b = 0, bn_f = 0;
    for (int i = 0; i < m.nlayers; i++) {
        if (m.layers[i].kind == BB_L_CONV) conv_b += m.layers[i].t_bwd;
        if (m.layers[i].kind == BB_L_BN) bn_f += m.layers[i].t_fwd;
        if (m.layers[i].kind == BB_L_RELU) CHECK(m.layers[i].t_fwd == 0 && m.layers[i].t_bwd == 0);
    }
    CHECK_NEAR(conv_b, 0.33915 / 2, 1e-9);
    CHECK_NEAR(bn_f, 0.02404 / 2, 1e-9);
    CHECK_NEAR(bb_sim_model_bwd(&m), (0.38719 - 0.00027) / 2, 1e-6);  /* all but the gradient sum */
    CHECK_NEAR(m.t_update, 0.0042, 1e-9);
    CHECK_NEAR(m.t_other, 0.00027 / 2, 1e-9);
    bb_sim_model_free(&m);
    CHECK_OK(bb_sim_model_from_net(&m, &net, 16));
    CHECK_FAILS(bb_sim_apply_profile(&m, text, "p.txt"), BB_ERR_INVALID, "32 samples per worker");
    bb_sim_model_free(&m);
    bb_net_free(&net);
    spec.classes = 100;
    CHECK_OK(bb_model_build(&net, &spec));
    CHECK_OK(bb_sim_model_from_net(&m, &net, 32));
    CHECK_FAILS(bb_sim_apply_profile(&m, text, "p.txt"), BB_ERR_INVALID, "the profile is of resnet20");
    bb_sim_model_free(&m);
    bb_net_free(&net);
    free(text);
}
