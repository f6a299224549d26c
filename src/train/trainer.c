/* The trainer: setup, one iteration over the k logical workers, evaluation. */
#include "train/trainer.h"

#include "model/net.h"
#include "train/gradsum.h"
#include "train/imagefolder_config.h"
#include "train/loader.h"
#include "train/trainer_gpu.h"
#include "train/trainer_internal.h"
#include "util/mem.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bb_status parse_shape(const char *s, int64_t *c, int64_t *h, int64_t *w)
{
    long long a, b, d;
    char tail;
    if (sscanf(s, "%lldx%lldx%lld%c", &a, &b, &d, &tail) != 3)
        return bb_fail(BB_ERR_INVALID, "expected a shape CxHxW, got '%s'", s);
    *c = a; *h = b; *w = d;
    return BB_OK;
}

bb_status bb_data_from_config(const bb_config *cfg, bb_dataset *train, bb_dataset *test)
{
    const char *dir = cfg->data_dir;
    if (cfg->data == BB_DATA_IMAGEFOLDER) return bb_data_imagefolder(cfg, train, test);  /* sets its own aug */
    if (cfg->data == BB_DATA_FASHION_MNIST || cfg->data == BB_DATA_MNIST) {
        if (!dir[0]) {
            if (cfg->data == BB_DATA_MNIST)
                return bb_fail(BB_ERR_INVALID, "--data mnist needs --data-dir with the four IDX files");
            dir = "/usr/share/datasets/fashion-mnist";
        }
        BB_TRY(bb_dataset_load_mnist_dir(train, test, dir, bb_data_names[cfg->data]));
    } else if (cfg->data == BB_DATA_CIFAR10 || cfg->data == BB_DATA_CIFAR100) {
        BB_TRY(bb_dataset_load_cifar(train, test, dir, cfg->data == BB_DATA_CIFAR100));
    } else if (cfg->data == BB_DATA_SYNTHETIC) {
        int64_t c = 0, h = 0, w = 0;
        BB_TRY(parse_shape(cfg->synthetic_shape, &c, &h, &w));
        BB_TRY(bb_dataset_synthetic(train, test, cfg->synthetic_train, cfg->synthetic_test, c, h, w,
                                    cfg->synthetic_classes, (uint64_t)cfg->seed));
    } else {
        return bb_fail(BB_ERR_UNSUPPORTED, "--data %s is not available in this build", bb_data_names[cfg->data]);
    }
    bb_augment_default(&train->aug, train);
    if (cfg->crop_pad >= 0) train->aug.crop_pad = cfg->crop_pad;
    train->aug.flip = cfg->flip;
    test->aug = train->aug;  /* same normalization; evaluation never augments */
    return BB_OK;
}

bb_status bb_schedule_from_config(bb_schedule *s, const bb_config *cfg, int64_t n_train)
{
    memset(s, 0, sizeof *s);
    BB_TRY(bb_config_check_length(cfg, n_train));
    s->ref_lr = cfg->lr;
    s->ref_batch = cfg->ref_batch;
    s->batch = (double)cfg->batch_size;
    s->scaling = cfg->lr_scaling;
    s->warmup = cfg->warmup;
    s->warmup_epochs = bb_config_warmup_epochs(cfg);
    s->decay = cfg->decay;
    s->decay_factor = cfg->decay_factor;
    s->nmilestones = bb_config_milestones(cfg, s->milestones, BB_MAX_MILESTONES);
    if (s->nmilestones < 0) return bb_fail(BB_ERR_INVALID, "--milestones: cannot parse '%s'", cfg->milestones);
    s->steps_per_epoch = n_train / cfg->batch_size;
    s->epochs = cfg->epochs;
    return BB_OK;
}

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* How many executors run `local` workers on `threads` threads. An executor
 * runs whole workers one after another on a team of threads that share each
 * layer (the channels-last kernels; results do not depend on the team sizes).
 * Executor e gets split shares of the workers and of the threads; a team of t
 * threads counts as 1 + 0.8 (t - 1) threads (its threads meet at every layer),
 * and the count with the shortest estimated step wins, ties going to more
 * executors (no meeting at all). Without teams: one thread per executor. */
static int plan_executors(int64_t local, int threads, int teams)
{
    int most = threads < local ? threads : (int)local, best = most;
    if (!teams) return most;
    double best_cost = 0;
    for (int e = most; e >= 1; e--) {
        double worst = 0;
        for (int i = 0; i < e; i++) {
            long long wl, wh, tl, th;
            bb_split_range(local, e, i, &wl, &wh);
            bb_split_range(threads, e, i, &tl, &th);
            double cost = (double)(wh - wl) / (1.0 + 0.8 * (double)(th - tl - 1));
            if (cost > worst) worst = cost;
        }
        if (e == most || worst < best_cost - 1e-9) {
            best_cost = worst;
            best = e;
        }
    }
    return best;
}

static bb_status setup(bb_trainer *t)
{
    const bb_config *cfg = &t->cfg;
    BB_TRY(bb_config_validate(cfg));
    t->kn = cfg->batch_size;
    t->n = cfg->worker_batch;
    t->k = bb_config_workers(cfg);
    if (t->k < t->comm->size)
        return bb_fail(BB_ERR_INVALID, "%d MPI ranks but only %lld logical workers (--batch-size %lld / --worker-batch %lld): "
                       "every rank needs at least one worker", t->comm->size, (long long)t->k,
                       (long long)cfg->batch_size, (long long)cfg->worker_batch);
    long long lo, hi;
    bb_split_range(t->k, t->comm->size, t->comm->rank, &lo, &hi);
    t->w_lo = lo;
    t->w_hi = hi;

    /* model */
    memset(&t->spec, 0, sizeof t->spec);
    snprintf(t->spec.name, sizeof t->spec.name, "%s", cfg->model);
    t->spec.c = t->train->c;
    t->spec.h = t->train->h;
    t->spec.w = t->train->w;
    t->spec.classes = t->train->classes;
    t->spec.shortcut = bb_shortcut_names[cfg->shortcut][0];  /* 'A', 'B' or 0 */
    t->spec.width = cfg->width;
    BB_TRY(bb_model_build(&t->net, &t->spec));
    t->P = t->net.param_count;
    t->G = t->net.param_count + t->net.stat_count;
    t->params = bb_alloc((size_t)t->P * sizeof(float));
    t->momentum = bb_alloc((size_t)t->P * sizeof(float));
    t->state = bb_alloc((size_t)t->net.state_count * sizeof(float) + 64);
    if (!t->params || !t->momentum || !t->state) return bb_fail(BB_ERR_NOMEM, "cannot allocate the model's %lld parameters", (long long)t->P);
    bb_net_init_params(&t->net, (uint64_t)cfg->seed, cfg->zero_gamma, t->params, t->state);

    /* optimizer and schedule */
    t->sgd.momentum = cfg->momentum;
    t->sgd.weight_decay = cfg->weight_decay;
    t->sgd.wd_all = cfg->wd_all;
    t->sgd.nesterov = cfg->nesterov;
    t->sgd.form = cfg->momentum_form;
    t->sgd.lars = cfg->lars;
    t->sgd.lars_eta = cfg->lars_eta;
    BB_TRY(bb_schedule_from_config(&t->sched, cfg, t->train->n));
    t->steps_per_epoch = t->sched.steps_per_epoch;
    t->total_steps = bb_run_iterations(cfg, t->steps_per_epoch);
    if (cfg->max_steps > 0 && (cfg->max_steps < t->total_steps || t->total_steps == 0)) t->total_steps = cfg->max_steps;

    /* the device path: the same model, schedule and optimizer settings */
    if (t->dev_arg || cfg->device == BB_DEVICE_CUDA) {
        bb_dev *dev = t->dev_arg;
        t->dev_arg = NULL;
        if (!dev) BB_TRY(bb_gpu_open(&dev, cfg, t->comm));
        return bb_gpu_setup(t, dev);
    }

    /* executors: as many threads as cores (shared among this host's ranks),
     * never more executors than local workers; the channels-last kernels share
     * leftover threads inside workers (plan_executors), the reference kernels
     * give them to BLAS */
    int threads = cfg->threads > 0 ? (int)cfg->threads : cores() / (t->comm->local_size > 0 ? t->comm->local_size : 1);
    if (threads < 1) threads = 1;
    int64_t local = t->w_hi - t->w_lo;
    bb_kernels kern = cfg->kernels;  /* bb_config_validate checked that the CPU runs them */
    t->nex = plan_executors(local, threads, kern != BB_KERNELS_REFERENCE);
    t->blas_threads = kern == BB_KERNELS_REFERENCE ? threads / t->nex : 1;
    t->threads = kern == BB_KERNELS_REFERENCE ? t->nex * t->blas_threads : threads;
    openblas_set_num_threads(t->blas_threads);
    BB_TRY(bb_pool_create(&t->pool, t->nex));
    t->ex = calloc((size_t)t->nex, sizeof *t->ex);
    t->gs = calloc((size_t)t->nex, sizeof *t->gs);
    t->worker_loss = calloc((size_t)local, sizeof *t->worker_loss);
    t->worker_top1 = calloc((size_t)local, sizeof *t->worker_top1);
    t->worker_sq = calloc((size_t)local, sizeof *t->worker_sq);
    int64_t *order = calloc((size_t)local, sizeof *order);
    if (!t->ex || !t->gs || !t->worker_loss || !t->worker_top1 || !t->worker_sq || !order) {
        free(order);
        return bb_fail(BB_ERR_NOMEM, "trainer: out of memory");
    }
    int64_t most = 0;
    for (int e = 0; e < t->nex; e++) {
        long long a, b;
        bb_split_range(local, t->nex, e, &a, &b);
        t->ex[e].w_lo = t->w_lo + a;
        t->ex[e].w_hi = t->w_lo + b;
        if (b - a > most) most = b - a;
        long long tlo, thi;
        bb_split_range(threads, t->nex, e, &tlo, &thi);
        bb_status s = bb_exec_create_threads(&t->ex[e].ex, &t->net, t->n, kern,
                                             kern == BB_KERNELS_REFERENCE ? 1 : (int)(thi - tlo));
        if (s == BB_OK) s = bb_gradsum_init(&t->gs[e], t->k, t->G, t->ex[e].w_lo, t->ex[e].w_hi);
        if (s != BB_OK) { free(order); return s; }
    }
    t->comm->watchdog = cfg->watchdog;
    bb_status os = bb_overlap_create(&t->ov, t->comm, t->gs, t->nex, t->P, t->G, cfg->bucket_kb * 1024 / (int64_t)sizeof(float));
    if (os != BB_OK) { free(order); return os; }
    /* the loader fills workers round by round: every executor's r-th worker, then r+1 */
    int64_t pos = 0;
    for (int64_t r = 0; r < most; r++)
        for (int e = 0; e < t->nex; e++)
            if (t->ex[e].w_lo + r < t->ex[e].w_hi) order[pos++] = t->ex[e].w_lo + r;
    t->order = order;

    /* evaluation: this rank's share of the test set in chunks of n */
    long long elo, ehi;
    bb_split_range(t->test->n, t->comm->size, t->comm->rank, &elo, &ehi);
    t->eval_lo = elo;
    t->eval_hi = ehi;
    t->eval_chunks = (ehi - elo + t->n - 1) / t->n;
    t->chunk_loss = calloc((size_t)t->eval_chunks + 1, sizeof *t->chunk_loss);
    t->chunk_top = calloc(2 * (size_t)t->eval_chunks + 2, sizeof *t->chunk_top);
    if (!t->chunk_loss || !t->chunk_top) return bb_fail(BB_ERR_NOMEM, "trainer: out of memory");
    t->lr_prev = -1.0;
    return BB_OK;
}

bb_status bb_trainer_create_dev(bb_trainer **out, const bb_config *cfg, bb_comm *comm, bb_dataset *train,
                                bb_dataset *test, bb_dev *dev)
{
    *out = NULL;
    bb_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        bb_dev_destroy(dev);
        return bb_fail(BB_ERR_NOMEM, "trainer: out of memory");
    }
    t->dev_arg = dev;
    t->cfg = *cfg;
    t->train = train;
    t->test = test;
    if (comm) t->comm = comm;
    else {
        bb_status s = bb_comm_single(&t->comm);
        if (s != BB_OK) { bb_dev_destroy(dev); free(t); return s; }
        t->own_comm = 1;
    }
    bb_status s = setup(t);
    if (s != BB_OK) { bb_trainer_destroy(t); return s; }
    *out = t;
    return BB_OK;
}

bb_status bb_trainer_create_with_data(bb_trainer **out, const bb_config *cfg, bb_comm *comm,
                                      bb_dataset *train, bb_dataset *test)
{
    return bb_trainer_create_dev(out, cfg, comm, train, test, NULL);
}

bb_status bb_trainer_create(bb_trainer **out, const bb_config *cfg, bb_comm *comm)
{
    *out = NULL;
    BB_TRY(bb_config_validate(cfg));
    bb_dataset *train = calloc(1, sizeof *train), *test = calloc(1, sizeof *test);
    if (!train || !test) { free(train); free(test); return bb_fail(BB_ERR_NOMEM, "out of memory"); }
    bb_status s = bb_data_from_config(cfg, train, test);
    if (s == BB_OK) s = bb_trainer_create_with_data(out, cfg, comm, train, test);
    if (s != BB_OK) {
        bb_dataset_free(train);
        bb_dataset_free(test);
        free(train);
        free(test);
        return s;
    }
    (*out)->own_data = 1;
    return BB_OK;
}

void bb_trainer_destroy(bb_trainer *t)
{
    if (!t) return;
    bb_gpu_destroy(t);
    bb_dev_destroy(t->dev_arg);
    bb_loader_destroy(t->loader);
    bb_overlap_destroy(t->ov);
    for (int e = 0; t->ex && e < t->nex; e++) {
        bb_exec_destroy(&t->ex[e].ex);
        bb_gradsum_free(&t->gs[e]);
    }
    free(t->ex);
    free(t->gs);
    bb_pool_destroy(t->pool);
    free(t->order);
    free(t->worker_loss);
    free(t->worker_top1);
    free(t->worker_sq);
    free(t->chunk_loss);
    free(t->chunk_top);
    bb_free(t->params);
    bb_free(t->momentum);
    bb_free(t->state);
    bb_net_free(&t->net);
    if (t->own_data) {
        bb_dataset_free(t->train);
        bb_dataset_free(t->test);
        free(t->train);
        free(t->test);
    }
    if (t->own_comm) bb_comm_destroy(t->comm);
    free(t);
}

/* ---- one iteration ---- */

static void step_job(void *arg, int ti, int nt)
{
    bb_flush_denormals();
    (void)nt;
    bb_trainer *t = arg;
    bb_executor *e = &t->ex[ti];
    bb_gradsum *gs = &t->gs[ti];
    const bb_net *net = &t->net;
    int64_t n = t->n, classes = t->spec.classes;
    size_t in_bytes = (size_t)(n * t->spec.c * t->spec.h * t->spec.w) * sizeof(float);
    e->t_data = e->t_fwd = e->t_bwd = 0;
    for (int64_t w = e->w_lo; w < e->w_hi; w++) {
        const float *x;
        const int32_t *y;
        double waited, t0, t1, t2;
        bb_status s = bb_loader_get(t->loader, t->step, w, &x, &y, &waited);
        if (s != BB_OK) { e->status = s; snprintf(e->errmsg, sizeof e->errmsg, "%s", bb_last_error()); return; }
        e->t_data += waited;
        memcpy(bb_exec_input(&e->ex), x, in_bytes);
        memcpy(e->ex.labels, y, (size_t)n * sizeof(int32_t));
        float *g = bb_gradsum_begin(gs);
        /* the last worker's gradient is summed and allreduced bucket by bucket
         * while its backward runs (overlap.h) */
        int last = w == e->w_hi - 1;
        double *sq = t->cfg.noise_scale ? &t->worker_sq[w - t->w_lo] : NULL;
        if (last) bb_overlap_last_worker(t->ov, ti, w, g, sq);
        t0 = bb_now();
        bb_net_forward(net, &e->ex, n, t->params, t->state, 1, g + t->P);
        int64_t top1 = 0;
        double tl = e->ex.prof ? bb_now() : 0.0;
        double loss = bb_xent_forward(n, classes, bb_exec_logits(&e->ex), e->ex.labels, (double)t->kn,
                                      (float)t->cfg.label_smoothing, bb_exec_dlogits(&e->ex), &top1, NULL);
        t1 = bb_now();
        if (e->ex.prof) e->ex.prof->fwd[BB_PROF_LOSS] += t1 - tl;
        if (last) bb_overlap_ready(t->ov, ti, t->P);  /* the BN statistics are final */
        bb_net_backward(net, &e->ex, n, t->params, g, last ? bb_overlap_ready_cb : NULL,
                        last ? bb_overlap_arg(t->ov, ti) : NULL);
        t2 = bb_now();
        if (last) {
            bb_overlap_ready(t->ov, ti, 0);
        } else {
            if (sq) *sq = bb_overlap_sq(t->ov, g);
            double tp = e->ex.prof ? bb_now() : 0.0;
            bb_gradsum_push(gs, w);
            if (e->ex.prof) e->ex.prof->bwd[BB_PROF_GRADSUM] += bb_now() - tp;
        }
        t->worker_loss[w - t->w_lo] = loss;
        t->worker_top1[w - t->w_lo] = top1;
        e->t_fwd += t1 - t0;
        e->t_bwd += t2 - t1;
    }
}

static bb_status ensure_loader(bb_trainer *t)
{
    if (t->loader && t->loader_first <= t->step) return BB_OK;
    bb_loader_destroy(t->loader);
    t->loader = NULL;
    t->loader_first = t->step;
    return bb_loader_create(&t->loader, t->train, t->k, t->n, t->w_lo, t->w_hi, t->order, (uint64_t)t->cfg.seed,
                            t->step, INT64_MAX / 2, bb_loader_producers(&t->cfg, t->train));
}

/* The gradient noise scale (noise.h) from this step's per-worker squared norms
 * and the summed gradient. The weight-decay term lambda*w is part of the
 * gradient SGD follows but not of the workers' gradients: it moves |G|^2 and
 * leaves tr(Sigma) alone. Indices are drawn without replacement, so with no
 * augmentation the finite-population correction applies; with augmentation
 * every draw is a new sample and the draws count as independent. */
static bb_status noise_scale_update(bb_trainer *t, const float *sum, double sum_sq, bb_step_stats *st)
{
    double parts = 0, dot = 0, rr = 0;
    int64_t local = t->w_hi - t->w_lo;
    for (int64_t i = 0; i < local; i++) parts += t->worker_sq[i];
    if (t->comm->size > 1) BB_TRY(t->comm->allreduce_f64(t->comm, &parts, 1));
    for (int p = 0; p < t->net.nparams; p++) {
        const bb_param *pr = &t->net.params[p];
        if (!bb_sgd_decays(&t->sgd, pr) || t->sgd.weight_decay == 0) continue;
        const float *w = t->params + pr->offset, *g = sum + pr->offset;
        for (int64_t j = 0; j < pr->count; j++) {
            double r = t->sgd.weight_decay * (double)w[j];
            dot += (double)g[j] * r;
            rr += r * r;
        }
    }
    int augmented = t->train->aug.crop_pad > 0 || t->train->aug.flip;
    bb_noise_input in = {.k = t->k, .n = t->n, .population = augmented ? 0 : t->train->n,
                         .parts_sq = parts, .total_sq = sum_sq,
                         .total_dot_reg = dot, .reg_sq = rr};
    bb_noise_est e = bb_noise_estimate(&in);
    st->noise_g2 = e.g2;
    st->noise_trace = e.trace;
    bb_noise_avg_update(&t->noise, BB_NOISE_DECAY, e);
    st->b_noise = bb_noise_scale(&t->noise);
    return BB_OK;
}

bb_status bb_trainer_step(bb_trainer *t, bb_step_stats *st)
{
    if (t->gpu) return bb_gpu_step(t, st);
    memset(st, 0, sizeof *st);
    double t_start = bb_now();
    BB_TRY(ensure_loader(t));
    for (int e = 0; e < t->nex; e++) t->ex[e].status = BB_OK;
    bb_overlap_start(t->ov);
    bb_pool_run(t->pool, step_job, t);
    for (int e = 0; e < t->nex; e++)
        if (t->ex[e].status != BB_OK) {
            bb_overlap_abandon(t->ov);
            for (int x = 0; x < t->nex; x++) bb_gradsum_reset(&t->gs[x]);
            return bb_fail(t->ex[e].status, "%s", t->ex[e].errmsg);
        }
    double t_reduce = bb_now();
    float *sum = NULL;
    bb_status rs = bb_overlap_finish(t->ov, &sum, &st->t_allreduce);
    if (rs != BB_OK) {
        for (int x = 0; x < t->nex; x++) bb_gradsum_reset(&t->gs[x]);
        return bb_fail_context(rs, "iteration %lld: gradient allreduce", (long long)t->step);
    }

    /* loss and error in a fixed order over workers, then across ranks */
    int64_t local = t->w_hi - t->w_lo;
    double acc[2] = {0, 0};
    for (int64_t i = 0; i < local; i++) { acc[0] += t->worker_loss[i]; acc[1] += (double)t->worker_top1[i]; }
    if (t->comm->size > 1) BB_TRY(t->comm->allreduce_f64(t->comm, acc, 2));
    double gn = 0;
    for (int64_t i = 0; i < t->P; i++) gn += (double)sum[i] * sum[i];
    double t_update = bb_now();
    st->step = t->step;
    st->loss = acc[0] / (double)t->kn;
    st->err = 1.0 - acc[1] / (double)t->kn;
    st->grad_norm = sqrt(gn);
    st->lr = bb_schedule_lr(&t->sched, t->step);
    if (!isfinite(st->loss) || !isfinite(gn)) {
        for (int e = 0; e < t->nex; e++) bb_gradsum_reset(&t->gs[e]);
        return bb_fail(BB_ERR_NUMERIC, "non-finite %s at iteration %lld (epoch %.2f, lr %g): training diverged; "
                       "lower --lr or lengthen --warmup-epochs", isfinite(st->loss) ? "gradient" : "loss",
                       (long long)t->step, (double)t->step / (double)t->steps_per_epoch, st->lr);
    }
    if (t->cfg.noise_scale && t->k > 1) BB_TRY(noise_scale_update(t, sum, gn, st));
    bb_sgd_step(&t->sgd, &t->net, t->params, t->momentum, sum, st->lr, t->lr_prev > 0 ? t->lr_prev : st->lr);
    t->lr_prev = st->lr;
    for (int i = 0; i < t->net.nlayers; i++) {
        const bb_layer *l = &t->net.layers[i];
        if (l->kind == BB_L_BN)
            bb_bn_update_running(l->op.bn.c, (float)t->cfg.bn_momentum, sum + t->P + l->stat_off, (double)t->k,
                                 t->state + l->run_off, t->state + l->run_off + l->op.bn.c);
    }
    for (int e = 0; e < t->nex; e++) bb_gradsum_reset(&t->gs[e]);
    bb_loader_release(t->loader, t->step);
    double t_end = bb_now();
    for (int e = 0; e < t->nex; e++) {
        st->t_data += t->ex[e].t_data / t->nex;
        st->t_fwd += t->ex[e].t_fwd / t->nex;
        st->t_bwd += t->ex[e].t_bwd / t->nex;
    }
    st->t_reduce = t_update - t_reduce;
    st->t_update = t_end - t_update;
    st->t_step = t_end - t_start;
    bb_trainer_count_step(t, st, acc);
    return BB_OK;
}

void bb_trainer_count_step(bb_trainer *t, bb_step_stats *st, const double acc[2])
{
    /* a step that starts an epoch starts its sums (bb_trainer_run has reset
     * them already; a caller stepping by itself has not), so they always
     * cover the iterations since the epoch began, as checkpoints require */
    if (t->step % t->steps_per_epoch == 0) {
        t->ep_loss = 0;
        t->ep_correct = t->ep_seen = 0;
    }
    t->step++;
    st->epoch = (double)t->step / (double)t->steps_per_epoch;
    t->ep_loss += acc[0];
    t->ep_correct += (int64_t)acc[1];
    t->ep_seen += t->kn;
}

/* ---- evaluation ---- */

static void eval_job(void *arg, int ti, int nt)
{
    bb_flush_denormals();
    bb_trainer *t = arg;
    bb_executor *e = &t->ex[ti];
    int64_t classes = t->spec.classes, len = t->spec.c * t->spec.h * t->spec.w;
    for (int64_t ch = ti; ch < t->eval_chunks; ch += nt) {
        int64_t lo = t->eval_lo + ch * t->n, hi = lo + t->n < t->eval_hi ? lo + t->n : t->eval_hi, m = hi - lo;
        float *x = bb_exec_input(&e->ex);
        for (int64_t i = 0; i < m; i++) {
            bb_status s = t->test->fetch(t->test, lo + i, 0, 0, 0, x + i * len);
            if (s != BB_OK) { e->status = s; snprintf(e->errmsg, sizeof e->errmsg, "%s", bb_last_error()); return; }
            e->ex.labels[i] = t->test->labels[lo + i];
        }
        bb_net_forward(&t->net, &e->ex, m, t->params, t->state, 0, NULL);
        t->chunk_loss[ch] = bb_xent_forward(m, classes, bb_exec_logits(&e->ex), e->ex.labels, 1.0, 0.0f, NULL,
                                            &t->chunk_top[2 * ch], &t->chunk_top[2 * ch + 1]);
    }
}

/* this rank's share of the test set on the CPU: acc = {summed loss, top-1 hits, top-5 hits} */
static bb_status eval_sums(bb_trainer *t, double acc[3])
{
    for (int e = 0; e < t->nex; e++) t->ex[e].status = BB_OK;
    bb_pool_run(t->pool, eval_job, t);
    for (int e = 0; e < t->nex; e++)
        if (t->ex[e].status != BB_OK) return bb_fail(t->ex[e].status, "evaluating: %s", t->ex[e].errmsg);
    for (int64_t ch = 0; ch < t->eval_chunks; ch++) {
        acc[0] += t->chunk_loss[ch];
        acc[1] += (double)t->chunk_top[2 * ch];
        acc[2] += (double)t->chunk_top[2 * ch + 1];
    }
    return BB_OK;
}

bb_status bb_trainer_evaluate(bb_trainer *t, bb_eval_result *r)
{
    double acc[3] = {0, 0, 0};
    BB_TRY(t->gpu ? bb_gpu_eval_sums(t, acc) : eval_sums(t, acc));
    if (t->comm->size > 1) BB_TRY(t->comm->allreduce_f64(t->comm, acc, 3));
    double count = (double)t->test->n;
    r->count = t->test->n;
    r->loss = acc[0] / count;
    r->top1_err = 1.0 - acc[1] / count;
    r->top5_err = 1.0 - acc[2] / count;
    /* the errors above already count a sample with non-finite outputs as
     * wrong; a non-finite loss says the model itself is broken, and no number
     * derived from it may pass for a result */
    if (!isfinite(r->loss))
        return bb_fail(BB_ERR_NUMERIC, "evaluating on %lld test samples: the test loss is %g, not finite: the model's "
                       "outputs overflow or hold non-finite values (counted as wrong, the top-1 error is %.2f%%)",
                       (long long)r->count, r->loss, 100 * r->top1_err);
    return BB_OK;
}

/* ---- accessors ---- */
const bb_net *bb_trainer_net(const bb_trainer *t) { return &t->net; }
const bb_config *bb_trainer_config(const bb_trainer *t) { return &t->cfg; }
/* on a device these are host copies, refreshed by each call */
static void sync_host(bb_trainer *t)
{
    if (t->gpu && bb_gpu_download(t) != BB_OK) memset(t->params, 0xff, (size_t)t->P * sizeof(float));  /* NaN: loud */
}
float *bb_trainer_params(bb_trainer *t) { sync_host(t); return t->params; }
float *bb_trainer_momentum(bb_trainer *t) { sync_host(t); return t->momentum; }
float *bb_trainer_state(bb_trainer *t) { sync_host(t); return t->state; }
int64_t bb_trainer_iteration(const bb_trainer *t) { return t->step; }
int64_t bb_trainer_steps_per_epoch(const bb_trainer *t) { return t->steps_per_epoch; }
int64_t bb_trainer_total_steps(const bb_trainer *t) { return t->total_steps; }
const bb_schedule *bb_trainer_schedule(const bb_trainer *t) { return &t->sched; }
int bb_trainer_threads(const bb_trainer *t) { return t->threads; }
bb_comm *bb_trainer_comm(bb_trainer *t) { return t->comm; }
