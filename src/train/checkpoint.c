/* Checkpoints in safetensors: "param/NAME", "momentum/NAME" and
 * "state/BN.running_mean|running_var" tensors; metadata holds the format tag,
 * the iteration, the previous lr (momentum correction), the current epoch's
 * running sums, the metric files' lengths and every configuration field as
 * "config.FIELD". Everything else a run needs is a pure function of these. */
#include "train/trainer_gpu.h"
#include "train/trainer_internal.h"

#include "util/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "bigbatch-checkpoint-1"

typedef struct { char key[64]; char val[600]; } kv;

bb_status bb_trainer_save_with(bb_trainer *t, const char *path, const char *const *extra);

/* A checkpoint never holds a diverged state: every parameter, momentum and BN
 * statistic must be finite, or the previous checkpoint stays as it is. */
static bb_status check_finite(const bb_trainer *t)
{
    const struct { const char *what; const float *v; int64_t n; } bufs[3] = {
        {"parameter", t->params, t->P}, {"momentum of parameter", t->momentum, t->P},
        {"batch-norm running statistics", t->state, t->net.state_count}};
    for (int b = 0; b < 3; b++)
        for (int64_t i = 0; i < bufs[b].n; i++) {
            if (isfinite(bufs[b].v[i])) continue;
            const char *name = "";
            for (int p = 0; b < 2 && p < t->net.nparams; p++)
                if (i >= t->net.params[p].offset && i < t->net.params[p].offset + t->net.params[p].count) name = t->net.params[p].name;
            return bb_fail(BB_ERR_NUMERIC, "non-finite %s %s after iteration %lld: training diverged; the checkpoint was not "
                           "written, the previous one is kept; lower --lr or lengthen --warmup-epochs", bufs[b].what, name,
                           (long long)t->step);
        }
    return BB_OK;
}

bb_status bb_trainer_save(bb_trainer *t, const char *path) { return bb_trainer_save_with(t, path, NULL); }

bb_status bb_trainer_save_with(bb_trainer *t, const char *path, const char *const *extra)
{
    if (t->gpu) BB_TRY(bb_gpu_download(t));
    BB_TRY(check_finite(t));
    int nbn = 0;
    for (int i = 0; i < t->net.nlayers; i++) nbn += t->net.layers[i].kind == BB_L_BN;
    int nt = 2 * t->net.nparams + 2 * nbn;
    bb_st_tensor *ts = calloc((size_t)nt, sizeof *ts);
    char (*names)[96] = calloc((size_t)nt, sizeof *names);
    int nkv = bb_config_nfields + 16;
    kv *m = calloc((size_t)nkv, sizeof *m);
    const char **meta = calloc(2 * (size_t)nkv + 1, sizeof *meta);
    if (!ts || !names || !m || !meta) {
        free(ts); free(names); free(m); free(meta);
        return bb_fail(BB_ERR_NOMEM, "%s: out of memory", path);
    }
    int i = 0;
    for (int p = 0; p < t->net.nparams; p++) {
        const bb_param *pr = &t->net.params[p];
        for (int which = 0; which < 2; which++, i++) {
            snprintf(names[i], sizeof names[i], "%s/%s", which ? "momentum" : "param", pr->name);
            ts[i].name = names[i];
            ts[i].dtype = "F32";
            ts[i].ndim = pr->ndim;
            memcpy(ts[i].shape, pr->shape, sizeof pr->shape);
            ts[i].data = (which ? t->momentum : t->params) + pr->offset;
        }
    }
    for (int l = 0; l < t->net.nlayers; l++) {
        const bb_layer *ly = &t->net.layers[l];
        if (ly->kind != BB_L_BN) continue;
        for (int which = 0; which < 2; which++, i++) {
            snprintf(names[i], sizeof names[i], "state/%s.%s", ly->name, which ? "running_var" : "running_mean");
            ts[i].name = names[i];
            ts[i].dtype = "F32";
            ts[i].ndim = 1;
            ts[i].shape[0] = ly->op.bn.c;
            ts[i].data = t->state + ly->run_off + which * ly->op.bn.c;
        }
    }
    int j = 0;
#define PUT(k, ...) do { snprintf(m[j].key, sizeof m[j].key, "%s", k); snprintf(m[j].val, sizeof m[j].val, __VA_ARGS__); j++; } while (0)
    PUT("format", FORMAT);
    PUT("model", "%s", t->net.model_desc);
    PUT("step", "%lld", (long long)t->step);
    PUT("lr_prev", "%.17g", t->lr_prev);
    PUT("epoch_loss_sum", "%.17g", t->ep_loss);
    PUT("epoch_correct", "%lld", (long long)t->ep_correct);
    PUT("epoch_seen", "%lld", (long long)t->ep_seen);
    PUT("noise_ema_g2", "%.17g", t->noise.g2);
    PUT("noise_ema_trs", "%.17g", t->noise.trace);
    PUT("noise_steps", "%lld", (long long)t->noise.steps);
    /* what evaluation needs of the training split (train/eval_data.c) */
    PUT("train_samples", "%lld", (long long)t->train->n);
    for (int which = 0; which < 2; which++) {
        PUT(which ? "data_std" : "data_mean", "%s", "");
        for (int64_t ch = 0; ch < t->train->c && ch < BB_MAX_CHANNELS; ch++) {
            size_t len = strlen(m[j - 1].val);
            snprintf(m[j - 1].val + len, sizeof m[j - 1].val - len, "%s%.9g", ch ? "," : "",
                     (double)(which ? t->train->aug.std[ch] : t->train->aug.mean[ch]));
        }
    }
    for (int f = 0; f < bb_config_nfields; f++) {
        snprintf(m[j].key, sizeof m[j].key, "config.%s", bb_config_fields[f].name);
        bb_config_get(&t->cfg, &bb_config_fields[f], m[j].val, sizeof m[j].val);
        j++;
    }
#undef PUT
    int q = 0;
    for (int a = 0; a < j; a++) { meta[q++] = m[a].key; meta[q++] = m[a].val; }
    for (int a = 0; extra && extra[a] && extra[a + 1]; a += 2) { meta[q++] = extra[a]; meta[q++] = extra[a + 1]; }
    meta[q] = NULL;
    bb_status s = bb_st_write(path, ts, nt, meta);
    free(ts); free(names); free(m); free(meta);
    if (s != BB_OK) return bb_fail_context(s, "writing checkpoint");
    return BB_OK;
}

/* A metadata number: finite, written in full (no trailing text). */
static bb_status meta_num(const bb_st_file *f, const char *key, double *out)
{
    const char *v = bb_st_meta(f, key);
    char *end;
    if (!v) return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' is missing", f->path, key);
    *out = strtod(v, &end);
    if (end == v || *end || !isfinite(*out))
        return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s': expected a finite number, found '%s'", f->path, key, v);
    return BB_OK;
}

/* A metadata integer in [lo, hi]. */
static bb_status meta_int(const bb_st_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = bb_st_meta(f, key);
    char *end;
    if (!v) return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' is missing", f->path, key);
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s': expected an integer in [%lld, %lld], found '%s'", f->path, key,
                       (long long)lo, (long long)hi, v);
    *out = x;
    return BB_OK;
}

static bb_status check_format(const bb_st_file *f)
{
    const char *fmt = bb_st_meta(f, "format");
    if (!fmt || strcmp(fmt, FORMAT) != 0)
        return bb_fail(BB_ERR_FORMAT, "%s: not a bigbatch checkpoint (format '%s', expected '%s')", f->path,
                       fmt ? fmt : "missing", FORMAT);
    return BB_OK;
}

bb_status bb_checkpoint_config_from(const bb_st_file *f, bb_config *cfg)
{
    bb_config_defaults(cfg);
    BB_TRY(check_format(f));
    for (int i = 0; i < bb_config_nfields; i++) {
        char key[80];
        snprintf(key, sizeof key, "config.%s", bb_config_fields[i].name);
        const char *v = bb_st_meta(f, key);
        if (!v) continue;  /* a field newer than the checkpoint keeps its default */
        if (bb_config_set(cfg, bb_config_fields[i].name, v) != BB_OK)
            return bb_fail_context(BB_ERR_FORMAT, "%s: configuration", f->path);
    }
    return BB_OK;
}

bb_status bb_checkpoint_read_config(const char *path, bb_config *cfg)
{
    bb_st_file f;
    BB_TRY(bb_st_read(&f, path));
    bb_status s = bb_checkpoint_config_from(&f, cfg);
    bb_st_close(&f);
    return s;
}

bb_status bb_checkpoint_metric_lengths(const bb_st_file *f, long keep[3])
{
    static const char *const names[3] = {"metrics.jsonl", "iters.csv", "epochs.csv"};
    for (int i = 0; i < 3; i++) {
        int64_t v = 0;
        keep[i] = 0;
        if (bb_st_meta(f, names[i])) BB_TRY(meta_int(f, names[i], 0, (int64_t)1 << 50, &v));
        keep[i] = (long)v;
    }
    return BB_OK;
}

/* The parameters, momentum and BN statistics, then the counters; the
 * trainer is changed only when every field has been checked. */
static bb_status load_from(bb_trainer *t, const bb_st_file *f)
{
    BB_TRY(check_format(f));
    /* the mathematics must be the same run's */
    for (int i = 0; i < bb_config_nfields; i++) {
        const bb_config_field *fd = &bb_config_fields[i];
        if (!fd->math) continue;
        char key[80], mine[600];
        snprintf(key, sizeof key, "config.%s", fd->name);
        const char *theirs = bb_st_meta(f, key);
        bb_config_get(&t->cfg, fd, mine, sizeof mine);
        if (theirs && strcmp(theirs, mine) != 0)
            return bb_fail(BB_ERR_INVALID, "%s: the checkpoint was trained with --%s %s, this run has --%s %s; "
                           "a resumed run must keep the run's mathematics", f->path, fd->name, theirs, fd->name, mine);
    }
    int64_t step, ec, es, ns;
    double lr_prev, el, g2, trs;
    BB_TRY(meta_int(f, "step", 0, (int64_t)1e15, &step));
    BB_TRY(meta_num(f, "lr_prev", &lr_prev));
    BB_TRY(meta_num(f, "epoch_loss_sum", &el));
    BB_TRY(meta_int(f, "epoch_seen", 0, INT64_MAX / 2, &es));
    BB_TRY(meta_int(f, "epoch_correct", 0, es, &ec));
    BB_TRY(meta_num(f, "noise_ema_g2", &g2));
    BB_TRY(meta_num(f, "noise_ema_trs", &trs));
    BB_TRY(meta_int(f, "noise_steps", 0, INT64_MAX / 2, &ns));
    /* every tensor is checked (present, F32, element count) before any is copied */
    for (int pass = 0; pass < 2; pass++) {
        for (int p = 0; p < t->net.nparams; p++) {
            const bb_param *pr = &t->net.params[p];
            char name[96];
            snprintf(name, sizeof name, "param/%s", pr->name);
            BB_TRY(bb_st_get_f32(f, name, pass ? t->params + pr->offset : NULL, pr->count));
            snprintf(name, sizeof name, "momentum/%s", pr->name);
            BB_TRY(bb_st_get_f32(f, name, pass ? t->momentum + pr->offset : NULL, pr->count));
        }
        for (int l = 0; l < t->net.nlayers; l++) {
            const bb_layer *ly = &t->net.layers[l];
            if (ly->kind != BB_L_BN) continue;
            char name[96];
            snprintf(name, sizeof name, "state/%s.running_mean", ly->name);
            BB_TRY(bb_st_get_f32(f, name, pass ? t->state + ly->run_off : NULL, ly->op.bn.c));
            snprintf(name, sizeof name, "state/%s.running_var", ly->name);
            BB_TRY(bb_st_get_f32(f, name, pass ? t->state + ly->run_off + ly->op.bn.c : NULL, ly->op.bn.c));
        }
    }
    t->step = step;
    t->lr_prev = lr_prev;
    t->ep_loss = el;
    t->ep_correct = ec;
    t->ep_seen = es;
    t->noise.g2 = g2;
    t->noise.trace = trs;
    t->noise.steps = ns;
    bb_loader_destroy(t->loader);
    t->loader = NULL;
    if (t->gpu) BB_TRY(bb_gpu_upload(t));
    return BB_OK;
}

bb_status bb_trainer_load_from(bb_trainer *t, const bb_st_file *f)
{
    bb_status s = load_from(t, f);
    if (s != BB_OK) return bb_fail_context(s, "loading checkpoint");
    return BB_OK;
}

bb_status bb_trainer_load(bb_trainer *t, const char *path)
{
    bb_st_file f;
    bb_status s = bb_st_read(&f, path);
    if (s != BB_OK) return bb_fail_context(s, "loading checkpoint");
    s = bb_trainer_load_from(t, &f);
    bb_st_close(&f);
    return s;
}
