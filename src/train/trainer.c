/* The trainer core: setup of what every engine shares (model, parameters,
 * schedule, optimizer settings, the split of workers and test samples), the
 * loader, the epilogue of an iteration, evaluation's totals and the
 * accessors. The computing is the engine's (engine.h). */
#include "train/trainer.h"

#include "gpu/dev.h"
#include "train/engine.h"
#include "train/imagefolder_config.h"
#include "train/trainer_internal.h"
#include "util/mem.h"
#include "util/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    t->sgd.lars_clip = cfg->lars_clip;
    BB_TRY(bb_schedule_from_config(&t->sched, cfg, t->train->n));
    t->steps_per_epoch = t->sched.steps_per_epoch;
    t->total_steps = bb_run_iterations(cfg, t->steps_per_epoch);
    if (cfg->max_steps > 0 && (cfg->max_steps < t->total_steps || t->total_steps == 0)) t->total_steps = cfg->max_steps;

    /* this rank's share of the test set */
    long long elo, ehi;
    bb_split_range(t->test->n, t->comm->size, t->comm->rank, &elo, &ehi);
    t->eval_lo = elo;
    t->eval_hi = ehi;
    t->lr_prev = -1.0;

    /* the engine: the same model, schedule and optimizer settings on either */
    if (t->dev_arg || cfg->device == BB_DEVICE_CUDA) {
        bb_dev *dev = t->dev_arg;
        t->dev_arg = NULL;
        if (!dev) BB_TRY(bb_gpu_open(&dev, cfg, t->comm));
        return bb_engine_gpu_create(t, dev);
    }
    return bb_engine_cpu_create(t);
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
    bb_trainer_drop_loader(t);
    if (t->engine) t->engine->destroy(t);
    bb_dev_destroy(t->dev_arg);
    free(t->order);
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

void bb_trainer_drop_loader(bb_trainer *t)
{
    if (!t->loader) return;
    if (t->engine && t->engine->loader_changed) t->engine->loader_changed(t, 0);
    bb_loader_destroy(t->loader);
    t->loader = NULL;
}

bb_status bb_trainer_ensure_loader(bb_trainer *t)
{
    if (t->loader && t->loader_first <= t->step) return BB_OK;
    bb_trainer_drop_loader(t);
    t->loader_first = t->step;
    BB_TRY(bb_loader_create(&t->loader, t->train, t->k, t->n, t->w_lo, t->w_hi, t->order, (uint64_t)t->cfg.seed,
                            t->step, INT64_MAX / 2, t->producers));
    if (t->engine->loader_changed) t->engine->loader_changed(t, 1);
    return BB_OK;
}

/* The gradient noise scale (noise.h) from this step's per-worker squared norms
 * and the summed gradient. The weight-decay term lambda*w is part of the
 * gradient SGD follows but not of the workers' gradients: it moves |G|^2 and
 * leaves tr(Sigma) alone. Indices are drawn without replacement, so with no
 * augmentation the finite-population correction applies; with augmentation
 * every draw is a new sample and the draws count as independent. */
static bb_status noise_scale_update(bb_trainer *t, const bb_grads *gr, bb_step_stats *st)
{
    double parts = gr->parts_sq, dot = 0, rr = 0;
    const float *sum = gr->grad;
    if (!sum) return bb_fail(BB_ERR_UNSUPPORTED, "--noise-scale: this engine keeps the gradient on its device");
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
                         .parts_sq = parts, .total_sq = gr->grad_sq,
                         .total_dot_reg = dot, .reg_sq = rr};
    bb_noise_est e = bb_noise_estimate(&in);
    st->noise_g2 = e.g2;
    st->noise_trace = e.trace;
    bb_noise_avg_update(&t->noise, BB_NOISE_DECAY, e);
    st->b_noise = bb_noise_scale(&t->noise);
    return BB_OK;
}

/* After the engine's gradients: the sums across ranks, the lr, the
 * divergence check, the noise scale, then the engine's update. */
static bb_status finish_step(bb_trainer *t, const bb_grads *g, bb_step_stats *st, double acc[2], double *t_update)
{
    double t_sums = bb_now();
    acc[0] = g->loss_sum;
    acc[1] = g->correct;
    if (t->comm->size > 1) BB_TRY(t->comm->allreduce_f64(t->comm, acc, 2));
    *t_update = bb_now();
    st->t_reduce += *t_update - t_sums;
    st->step = t->step;
    st->loss = acc[0] / (double)t->kn;
    st->err = 1.0 - acc[1] / (double)t->kn;
    st->grad_norm = sqrt(g->grad_sq);
    st->lr = bb_schedule_lr(&t->sched, t->step);
    if (!isfinite(st->loss) || !isfinite(g->grad_sq))
        return bb_fail(BB_ERR_NUMERIC, "non-finite %s at iteration %lld (epoch %.2f, lr %g): training diverged; "
                       "lower --lr or lengthen --warmup-epochs", isfinite(st->loss) ? "gradient" : "loss",
                       (long long)t->step, (double)t->step / (double)t->steps_per_epoch, st->lr);
    if (t->cfg.noise_scale && t->k > 1) BB_TRY(noise_scale_update(t, g, st));
    BB_TRY(t->engine->update(t, st->lr, t->lr_prev > 0 ? t->lr_prev : st->lr));
    t->lr_prev = st->lr;
    return BB_OK;
}

bb_status bb_trainer_step(bb_trainer *t, bb_step_stats *st)
{
    memset(st, 0, sizeof *st);
    double t_start = bb_now();
    BB_TRY(bb_trainer_ensure_loader(t));
    bb_grads g;
    memset(&g, 0, sizeof g);
    double acc[2], t_update = 0;
    bb_status s = t->engine->gradients(t, &g, st);
    if (s == BB_OK) s = finish_step(t, &g, st, acc, &t_update);
    if (s != BB_OK) {
        t->engine->abandon(t);
        return s;
    }
    bb_loader_release(t->loader, t->step);
    double t_end = bb_now();
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

bb_status bb_trainer_evaluate(bb_trainer *t, bb_eval_result *r)
{
    double acc[3] = {0, 0, 0};
    BB_TRY(t->engine->eval_sums(t, acc));
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
bb_status bb_trainer_download(bb_trainer *t) { return t->engine->download ? t->engine->download(t) : BB_OK; }
bb_status bb_trainer_upload(bb_trainer *t) { return t->engine->upload ? t->engine->upload(t) : BB_OK; }
/* on a device these are host copies, refreshed by each call */
static void sync_host(bb_trainer *t)
{
    if (bb_trainer_download(t) != BB_OK) memset(t->params, 0xff, (size_t)t->P * sizeof(float));  /* NaN: loud */
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
