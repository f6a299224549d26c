/* The CUDA backend on a real GPU against the CPU reference: every operator and
 * fusion forward and backward (in full float32 and with TF32, bounds in
 * gpu_compare.h), the loss / optimizer / reduction kernels, the device trainer
 * against the CPU trainer, and checkpoints moving between them. Each test
 * prints "skip" and passes where there is no CUDA build or no usable GPU, so
 * the suite runs anywhere; scripts/gpu_check.sh runs it on a GPU machine and
 * collects the "gpu-op" lines into its table. */
#include "test.h"
#include "fixture.h"
#include "gpu_compare.h"

#include "train/engine.h"
#include "train/trainer_internal.h"
#include "util/hooks.h"
#include "util/mem.h"
#include "util/rng.h"

#include <stdlib.h>
#include <string.h>

#ifdef BB_HAVE_CUDA
static bb_dev *open_gpu(int tf32)
{
    bb_dev_opts o;
    bb_dev_default_opts(&o);
    o.tf32 = tf32;
    bb_dev *d = NULL;
    if (bb_dev_cuda_create(&d, 0, &o) != BB_OK) {
        printf("  skip: %s\n", bb_last_error());
        return NULL;
    }
    return d;
}
#define NEED_GPU(tf32, d) bb_dev *d = open_gpu(tf32); if (!d) return
#else
#define NEED_GPU(tf32, d) bb_dev *d = NULL; printf("  skip: built without CUDA\n"); if (!d) return
#endif

TEST(cuda_every_operator_matches_the_cpu)
{
    for (int tf32 = 0; tf32 <= 1; tf32++) {
        NEED_GPU(tf32, dev);
        double bl2 = tf32 ? 5e-3 : 5e-4;
        for (int i = 0; i < gpu_ops_count(); i++) {
            bb_net net;
            int whole;
            const char *name = gpu_ops_build(i, &net, &whole);
            if (!name) { CHECK(name != NULL); continue; }
            gpu_cmp c;
            bb_status s = gpu_compare_net(dev, &net, 4, 3, 200 + (uint64_t)i, &c);
            CHECK_OK(s);
            /* whole float32 networks: 10x the single-layer max bound (errors of ~20 layers add up) */
            double bmax = tf32 ? 2e-2 : whole ? 5e-3 : 5e-4;
            int pass = s == BB_OK && gpu_cmp_pass(&c, bmax, bl2, whole && tf32);
            printf("gpu-op %-16s %-5s y %8.1e  dx %8.1e  dparam %8.1e  stats %8.1e  eval %8.1e  (l2: y %.1e dx %.1e dparam %.1e)  bound %s%.0e  %s\n",
                   name, tf32 ? "tf32" : "fp32", c.y.max, c.dx.max, c.dparam.max, c.stats.max, c.eval.max, c.y.l2, c.dx.l2,
                   c.dparam.l2, whole && tf32 ? "l2 " : "max ", whole && tf32 ? bl2 : bmax, pass ? "PASS" : "FAIL");
            fflush(stdout);
            CHECK_MSG(pass, "%s (%s): worst parameter %s", name, tf32 ? "tf32" : "fp32", c.worst_param);
            bb_net_free(&net);
        }
        bb_dev_destroy(dev);
    }
}

TEST(cuda_loss_optimizer_and_reduction_kernels_match_the_cpu)
{
    NEED_GPU(0, d);
    /* cross-entropy with smoothing, ties and 1000 classes */
    int64_t n = 64, K = 1000, P = 0;
    float *logits = bb_alloc((size_t)(n * K) * 4), *dl_cpu = bb_alloc((size_t)(n * K) * 4), *dl_gpu = bb_alloc((size_t)(n * K) * 4);
    int32_t *labels = bb_alloc((size_t)n * 4);
    bb_rng r = bb_rng_make(9, BB_RNG_TEST, 0, 0);
    for (int64_t i = 0; i < n * K; i++) logits[i] = (float)(int)(8 * bb_rng_normal(&r)) * 0.25f;
    for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)bb_rng_below(&r, (uint64_t)K);
    int64_t top1 = 0, top5 = 0;
    double loss = bb_xent_forward(n, K, logits, labels, 256.0, 0.1f, dl_cpu, &top1, &top5);
    float *dlog = NULL, *ddl = NULL;
    int32_t *dlab = NULL;
    double *dv = NULL, sums[3] = {0, 0, 0};
    CHECK_OK(d->alloc(d, (void **)&dlog, (size_t)(n * K) * 4));
    CHECK_OK(d->alloc(d, (void **)&ddl, (size_t)(n * K) * 4));
    CHECK_OK(d->alloc(d, (void **)&dlab, (size_t)n * 4));
    CHECK_OK(d->alloc(d, (void **)&dv, (size_t)(3 * n + 3) * 8));
    if (dlog && ddl && dlab && dv) {
        d->copy(d, BB_STREAM_COMPUTE, dlog, logits, (size_t)(n * K) * 4, BB_COPY_H2D);
        d->copy(d, BB_STREAM_COMPUTE, dlab, labels, (size_t)n * 4, BB_COPY_H2D);
        bb_kxent xe = {n, K, dlog, dlab, 256.0, 0.1f, ddl, dv, dv + n, dv + 2 * n};
        d->xent(d, &xe);
        for (int k = 0; k < 3; k++) d->reduce(d, BB_REDUCE_SUM_F64, dv + k * n, n, dv + 3 * n + k);
        d->copy(d, BB_STREAM_COMPUTE, dl_gpu, ddl, (size_t)(n * K) * 4, BB_COPY_D2H);
        d->copy(d, BB_STREAM_COMPUTE, sums, dv + 3 * n, 3 * 8, BB_COPY_D2H);
        CHECK_OK(d->sync(d));
        CHECK_MSG(fabs(sums[0] - loss) <= 1e-12 * fabs(loss) && sums[1] == (double)top1 && sums[2] == (double)top5,
                  "xent: loss %.17g vs %.17g, top-1 %g vs %lld, top-5 %g vs %lld", sums[0], loss, sums[1], (long long)top1,
                  sums[2], (long long)top5);
        double worst = 0;
        for (int64_t i = 0; i < n * K; i++) worst = fmax(worst, fabs(dl_gpu[i] - dl_cpu[i]));
        CHECK_MSG(worst <= 1e-9, "xent gradient differs by %.3g", worst);
        printf("gpu-op %-16s %-5s loss rel %.1e  dlogits abs %.1e  bound 1e-12 / 1e-9  %s\n", "softmax_xent", "fp64",
               fabs(sums[0] - loss) / fabs(loss), worst, worst <= 1e-9 ? "PASS" : "FAIL");
    }
    /* the optimizer over a parameter layout with large tensors, and a squared-norm reduction */
    bb_net net;
    bb_model_spec spec;
    memset(&spec, 0, sizeof spec);
    snprintf(spec.name, sizeof spec.name, "resnet18");
    spec.c = 3; spec.h = 32; spec.w = 32; spec.classes = 10; spec.width = 16;
    CHECK_OK(bb_model_build(&net, &spec));
    P = net.param_count;
    float *w0 = bb_alloc((size_t)P * 4), *u0 = bb_alloc((size_t)P * 4), *g = bb_alloc((size_t)P * 4);
    float *w1 = bb_alloc((size_t)P * 4), *u1 = bb_alloc((size_t)P * 4), *w2 = bb_alloc((size_t)P * 4), *u2 = bb_alloc((size_t)P * 4);
    for (int64_t i = 0; i < P; i++) {
        w0[i] = (float)bb_rng_normal(&r);
        u0[i] = 0.1f * (float)bb_rng_normal(&r);
        g[i] = 0.01f * (float)bb_rng_normal(&r);
    }
    const int64_t BL = 8192;
    bb_kseg *seg = calloc((size_t)net.nparams + 1, sizeof *seg);
    float *dw = NULL, *du = NULL, *dg = NULL, *dlr = NULL;
    bb_kseg *dseg = NULL;
    double *dn = NULL;
    CHECK_OK(d->alloc(d, (void **)&dw, (size_t)P * 4));
    CHECK_OK(d->alloc(d, (void **)&du, (size_t)P * 4));
    CHECK_OK(d->alloc(d, (void **)&dg, (size_t)P * 4));
    CHECK_OK(d->alloc(d, (void **)&dseg, ((size_t)net.nparams + 1) * sizeof *seg));
    CHECK_OK(d->alloc(d, (void **)&dn, ((size_t)P / BL + (size_t)net.nparams + 8) * 16));
    CHECK_OK(d->alloc(d, (void **)&dlr, ((size_t)net.nparams + 1) * 4));
    double worst_all = 0;
    for (int form = 0; form < 5 && dw && du && dg && dseg && dn && dlr; form++) {   /* 3: LARS; 4: LARC */
        bb_sgd o = {0.9, 1e-4, 0, form == 1, form == 2 ? BB_MOMENTUM_FORM10 : BB_MOMENTUM_FORM9, form >= 3,
                    form == 4 ? 0.02 : 0.001, form == 4};
        int64_t nb = bb_sgd_segments(&o, &net, BL, seg);
        double lr = 0.4, lr_prev = 0.3;
        memcpy(w1, w0, (size_t)P * 4);
        memcpy(u1, u0, (size_t)P * 4);
        bb_sgd_step(&o, &net, w1, u1, g, lr, lr_prev);
        d->copy(d, BB_STREAM_COMPUTE, dw, w0, (size_t)P * 4, BB_COPY_H2D);
        d->copy(d, BB_STREAM_COMPUTE, du, u0, (size_t)P * 4, BB_COPY_H2D);
        d->copy(d, BB_STREAM_COMPUTE, dg, g, (size_t)P * 4, BB_COPY_H2D);
        d->copy(d, BB_STREAM_COMPUTE, dseg, seg, ((size_t)net.nparams + 1) * sizeof *seg, BB_COPY_H2D);
        bb_ksgd k = {net.nparams, nb, BL, dseg, dw, du, dg, bb_sgd_rule(&o),
                     0.9f, (float)lr, bb_sgd_correction(&o, lr, lr_prev), o.lars, o.lars_clip, lr, o.lars_eta, dn, dlr};
        d->sgd(d, &k);
        d->copy(d, BB_STREAM_COMPUTE, w2, dw, (size_t)P * 4, BB_COPY_D2H);
        d->copy(d, BB_STREAM_COMPUTE, u2, du, (size_t)P * 4, BB_COPY_D2H);
        CHECK_OK(d->sync(d));
        /* The GPU fuses multiply-adds (nvcc -fmad): a few roundings apart. The
         * error is measured against the magnitudes that meet in the update
         * (old value and change), not the result, which can cancel to ~0. */
        double worst = 0;
        for (int64_t i = 0; i < P; i++) {
            worst = fmax(worst, fabs(w1[i] - w2[i]) / (fabs(w0[i]) + fabs(w1[i] - w0[i]) + 1e-12));
            worst = fmax(worst, fabs(u1[i] - u2[i]) / (fabs(u0[i]) + fabs(u1[i] - u0[i]) + 1e-12));
        }
        CHECK_MSG(worst <= 1e-5, "SGD form %d: relative difference %.3g", form, worst);
        worst_all = fmax(worst_all, worst);
    }
    printf("gpu-op %-16s %-5s rel %.1e (forms 9, Nesterov, 10, LARS)  bound 1e-5  %s\n", "sgd_update", "fp32", worst_all,
           worst_all <= 1e-5 ? "PASS" : "FAIL");
    if (dg && dn) {
        double cpu = 0, gpu = 0;
        for (int64_t i = 0; i < P; i++) cpu += (double)g[i] * g[i];
        d->reduce(d, BB_REDUCE_SUMSQ_F32, dg, P, dn);
        d->copy(d, BB_STREAM_COMPUTE, &gpu, dn, 8, BB_COPY_D2H);
        CHECK_OK(d->sync(d));
        CHECK_MSG(fabs(gpu - cpu) <= 1e-12 * cpu, "|g|^2 %.17g vs %.17g", gpu, cpu);
    }
    void *bufs[] = {dlog, ddl, dlab, dv, dw, du, dg, dseg, dn, dlr};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) if (bufs[i]) d->free(d, bufs[i]);
    bb_dev_destroy(d);
    bb_net_free(&net);
    free(seg);
    bb_free(logits); bb_free(dl_cpu); bb_free(dl_gpu); bb_free(labels);
    bb_free(w0); bb_free(u0); bb_free(g); bb_free(w1); bb_free(u1); bb_free(w2); bb_free(u2);
}

/* ---- the trainer on the GPU against the CPU ---- */

static bb_config cfg_for(const char *model, int tf32)
{
    bb_config c;
    bb_config_defaults(&c);
    bb_config_set(&c, "model", model);
    bb_config_set(&c, "width", "8");
    bb_config_set(&c, "warmup-epochs", "1");
    c.batch_size = 96;
    c.worker_batch = 16;  /* k = 6 */
    c.epochs = 2;
    c.tf32 = tf32;
    bb_config_set(&c, "device", "cuda");
    return c;
}

TEST(cuda_trainer_matches_the_cpu_trainer)
{
    NEED_GPU(0, probe);
    bb_dev_destroy(probe);
    fx_data dp;
    fx_synthetic(&dp, 960, 200, 1, 16, 16, 5, 4);
    /* fp32 (tight), TF32, and fp32 with the workers in 3 chunks of 2 */
    for (int v = 0; v < 3; v++) {
        bb_config c = cfg_for("resnet8", v == 1);
        bb_config cc = c;
        bb_config_set(&cc, "device", "cpu");
        bb_hooks h;
        bb_hooks_default(&h);
        h.gpu_chunk_workers = v == 2 ? 2 : 0;
        bb_hooks_set(&h);
        bb_trainer *g = NULL, *cpu = NULL;
        CHECK_OK(bb_trainer_create_with_data(&g, &c, NULL, &dp.train, &dp.test));
        bb_hooks_default(&h);
        bb_hooks_set(&h);
        CHECK_OK(bb_trainer_create_with_data(&cpu, &cc, NULL, &dp.train, &dp.test));
        if (!g || !cpu) { bb_trainer_destroy(g); bb_trainer_destroy(cpu); continue; }
        double worst = 0;
        for (int i = 0; i < 6; i++) {
            bb_step_stats a, b;
            CHECK_OK(bb_trainer_step(g, &a));
            CHECK_OK(bb_trainer_step(cpu, &b));
            worst = fmax(worst, fabs(a.loss - b.loss) / b.loss);
        }
        const bb_net *net = bb_trainer_net(cpu);
        double dpar = fx_rel_max(bb_trainer_params(g), bb_trainer_params(cpu), net->param_count);
        double dst = fx_rel_max(bb_trainer_state(g), bb_trainer_state(cpu), net->state_count);
        bb_eval_result eg, ec;
        CHECK_OK(bb_trainer_evaluate(g, &eg));
        CHECK_OK(bb_trainer_evaluate(cpu, &ec));
        double lb = v == 1 ? 2e-2 : 1e-4, pb = v == 1 ? 5e-2 : 2e-3;
        int pass = worst <= lb && dpar <= pb && dst <= pb && fabs(eg.loss - ec.loss) <= 10 * lb * ec.loss;
        printf("gpu-op %-16s %-5s 6 steps: loss rel %.1e  params %.1e  BN state %.1e  eval loss %.5f vs %.5f  bound %.0e/%.0e  %s\n",
               v == 2 ? "trainer_chunked" : "trainer", v == 1 ? "tf32" : "fp32", worst, dpar, dst, eg.loss, ec.loss, lb, pb,
               pass ? "PASS" : "FAIL");
        CHECK(pass);
        bb_trainer_destroy(g);
        bb_trainer_destroy(cpu);
    }
    fx_data_free(&dp);
}

TEST(cuda_checkpoints_move_between_gpu_and_cpu)
{
    NEED_GPU(0, probe);
    bb_dev_destroy(probe);
    fx_data dp;
    fx_synthetic(&dp, 960, 200, 1, 16, 16, 5, 4);
    bb_config c = cfg_for("resnet8", 0), cc = c;
    bb_config_set(&cc, "device", "cpu");
    char path[600];
    snprintf(path, sizeof path, "%s/gpu.safetensors", bb_test_tmpdir());
    bb_trainer *g = NULL, *cpu = NULL;
    CHECK_OK(bb_trainer_create_with_data(&g, &c, NULL, &dp.train, &dp.test));
    bb_step_stats st;
    for (int i = 0; g && i < 3; i++) CHECK_OK(bb_trainer_step(g, &st));
    if (g) CHECK_OK(bb_trainer_save(g, path));
    CHECK_OK(bb_trainer_create_with_data(&cpu, &cc, NULL, &dp.train, &dp.test));
    if (cpu) CHECK_OK(bb_trainer_load(cpu, path));
    if (g && cpu) {
        const bb_net *net = bb_trainer_net(cpu);
        CHECK(memcmp(bb_trainer_params(g), bb_trainer_params(cpu), (size_t)net->param_count * 4) == 0);
        CHECK(memcmp(bb_trainer_momentum(g), bb_trainer_momentum(cpu), (size_t)net->param_count * 4) == 0);
        bb_eval_result eg, ec;
        CHECK_OK(bb_trainer_evaluate(g, &eg));
        CHECK_OK(bb_trainer_evaluate(cpu, &ec));
        CHECK_MSG(fabs(eg.loss - ec.loss) <= 1e-4 * ec.loss, "evaluation of the same checkpoint: %.7g vs %.7g", eg.loss, ec.loss);
        /* and back: the CPU's checkpoint continues on the GPU */
        CHECK_OK(bb_trainer_step(cpu, &st));
        CHECK_OK(bb_trainer_save(cpu, path));
        CHECK_OK(bb_trainer_load(g, path));
        CHECK(bb_trainer_iteration(g) == 4);
        CHECK(memcmp(bb_trainer_params(g), bb_trainer_params(cpu), (size_t)net->param_count * 4) == 0);
        CHECK_OK(bb_trainer_step(g, &st));
    }
    bb_trainer_destroy(g);
    bb_trainer_destroy(cpu);
    fx_data_free(&dp);
}
