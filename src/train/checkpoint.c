/* Checkpoints in safetensors: "param/NAME", "momentum/NAME" and
 * "state/BN.running_mean|running_var" tensors; metadata holds the format tag,
 * the iteration, the previous lr (momentum correction), the current epoch's
 * running sums, the metric files' lengths and every configuration field as
 * "config.FIELD", and the safetensors writer's CRC-32 checksums. Everything
 * else a run needs is a pure function of these. A load checks the header
 * first (checksum, keys, values, consistency, the tensor layout the model
 * needs), then reads the data (checksums, finite values), then copies. */
#include "train/trainer_internal.h"

#include "util/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "bigbatch-checkpoint-2"      /* with checksums */
#define FORMAT_OLD "bigbatch-checkpoint-1"  /* before checksums: loaded with a notice */

/* every metadata key besides "config.FIELD" and the checksums; required: 1 in
 * every checkpoint, 2 in those with checksums (older ones lack the key) */
static const struct { const char *key; int required; } KEYS[] = {
    {"format", 1}, {"model", 1}, {"step", 1}, {"lr_prev", 1}, {"epoch_loss_sum", 1}, {"epoch_correct", 1},
    {"epoch_seen", 1}, {"noise_ema_g2", 1}, {"noise_ema_trs", 1}, {"noise_steps", 1},
    {"train_samples", 2}, {"data_mean", 2}, {"data_std", 2},
    {"metrics.jsonl", 0}, {"iters.csv", 0}, {"epochs.csv", 0}};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

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
    BB_TRY(bb_trainer_download(t));
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

static const bb_config_field *config_field(const char *key)
{
    if (strncmp(key, "config.", 7) != 0) return NULL;
    for (int i = 0; i < bb_config_nfields; i++)
        if (!strcmp(key + 7, bb_config_fields[i].name)) return &bb_config_fields[i];
    return NULL;
}

/* The format tag, the checksums it promises, and the metadata keys: each one
 * known, each required one present (a checkpoint without checksums, from
 * before they existed, may lack configuration fields added since: they keep
 * their defaults, as they did then). *old says which format it is. */
static bb_status check_header(const bb_st_file *f, int *old)
{
    const char *fmt = bb_st_meta(f, "format");
    *old = fmt && !strcmp(fmt, FORMAT_OLD);
    if (!fmt || (strcmp(fmt, FORMAT) != 0 && !*old))
        return bb_fail(BB_ERR_FORMAT, "%s: not a bigbatch checkpoint (metadata 'format' is %s%s%s, expected '%s')", f->path,
                       fmt ? "'" : "", fmt ? fmt : "missing", fmt ? "'" : "", FORMAT);
    if (!*old && !f->checksummed)
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'crc32.header' is missing: a %s file always has checksums; the file "
                       "was damaged or edited", f->path, FORMAT);
    for (int i = 0; i < f->nmeta; i++) {
        const char *k = f->meta[2 * i];
        int known = config_field(k) != NULL || (f->checksummed && !strncmp(k, "crc32.", 6));  /* those: bb_st_open */
        for (size_t j = 0; j < NKEYS && !known; j++) known = !strcmp(k, KEYS[j].key);
        if (!known)
            return bb_fail(BB_ERR_FORMAT, "%s: unknown metadata key '%s' (expected the keys a bigbatch checkpoint holds: "
                           "format, model, step, ..., config.FIELD for each configuration field)", f->path, k);
    }
    for (size_t j = 0; j < NKEYS; j++)
        if ((KEYS[j].required == 1 || (KEYS[j].required == 2 && !*old)) && !bb_st_meta(f, KEYS[j].key))
            return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' is missing", f->path, KEYS[j].key);
    for (int i = 0; i < bb_config_nfields && !*old; i++) {
        char key[80];
        snprintf(key, sizeof key, "config.%s", bb_config_fields[i].name);
        if (!bb_st_meta(f, key))
            return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' is missing (a %s file holds every configuration field)",
                           f->path, key, FORMAT);
    }
    return BB_OK;
}

bb_status bb_checkpoint_config_from(const bb_st_file *f, bb_config *cfg)
{
    int old;
    bb_config_defaults(cfg);
    BB_TRY(check_header(f, &old));
    for (int i = 0; i < bb_config_nfields; i++) {
        char key[80];
        snprintf(key, sizeof key, "config.%s", bb_config_fields[i].name);
        const char *v = bb_st_meta(f, key);
        if (!v) continue;  /* only in an old checkpoint (check_header): the field keeps its default */
        if (bb_config_set(cfg, bb_config_fields[i].name, v) != BB_OK)
            return bb_fail_context(BB_ERR_FORMAT, "%s: configuration", f->path);
    }
    return BB_OK;
}

bb_status bb_checkpoint_read_config(const char *path, bb_config *cfg, char *notice, size_t cap)
{
    bb_st_file f;
    if (notice && cap) notice[0] = 0;
    BB_TRY(bb_st_open(&f, path));  /* the header only: a foreign file is refused before its data is read */
    bb_status s = bb_checkpoint_config_from(&f, cfg);
    if (s == BB_OK && notice && cap && !f.checksummed)
        snprintf(notice, cap, "%s was written before checkpoints had checksums (format %s): loaded with every check but "
                 "the checksums; the next checkpoint will have them", path, FORMAT_OLD);
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

/* what a checkpoint's metadata says, once checked */
typedef struct {
    int64_t step, ec, es, ns;
    double lr_prev, el, g2, trs;
} counters;

/* The counters: each in range and consistent with the iteration and with this
 * run (its length, kn, the position in the epoch). */
static bb_status check_counters(const bb_trainer *t, const bb_st_file *f, counters *c)
{
    int64_t spe = t->steps_per_epoch, iters = bb_run_iterations(&t->cfg, spe);
    if (iters == 0) iters = t->total_steps;  /* less than an iteration of epochs: --max-steps sets the length */
    BB_TRY(meta_int(f, "step", 0, (int64_t)1e15, &c->step));
    if (c->step > iters)
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'step': %lld is beyond the run's %lld iterations (%g epochs of %lld); "
                       "the checkpoint is damaged or from another run", f->path, (long long)c->step, (long long)iters,
                       t->cfg.epochs, (long long)spe);
    BB_TRY(meta_num(f, "lr_prev", &c->lr_prev));
    if (c->step == 0 ? c->lr_prev != -1.0 : c->lr_prev < 0)
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'lr_prev': expected %s at iteration %lld, found %.17g", f->path,
                       c->step ? "a learning rate >= 0" : "-1 (no update yet)", (long long)c->step, c->lr_prev);
    BB_TRY(meta_num(f, "epoch_loss_sum", &c->el));
    BB_TRY(meta_int(f, "epoch_seen", 0, INT64_MAX / 2, &c->es));
    BB_TRY(meta_int(f, "epoch_correct", 0, c->es, &c->ec));
    /* the epoch's sums cover the iterations since its start: kn samples each
     * (a whole epoch when nothing reset them at its end) */
    int64_t pos = c->step % spe;
    if (c->es != t->kn * pos && !(pos == 0 && c->step > 0 && c->es == t->kn * spe))
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'epoch_seen': expected %lld (%lld iterations into the epoch at kn %lld), "
                       "found %lld", f->path, (long long)(t->kn * pos), (long long)pos, (long long)t->kn, (long long)c->es);
    if (c->el < 0 || (c->es == 0 && c->el != 0))
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'epoch_loss_sum': expected a sum of %lld losses (>= 0, 0 for none), "
                       "found %.17g", f->path, (long long)c->es, c->el);
    BB_TRY(meta_num(f, "noise_ema_g2", &c->g2));
    BB_TRY(meta_num(f, "noise_ema_trs", &c->trs));
    BB_TRY(meta_int(f, "noise_steps", 0, c->step, &c->ns));
    if (c->ns == 0 && (c->g2 != 0 || c->trs != 0))
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'noise_ema_g2'/'noise_ema_trs': expected 0 with no noise-scale step, "
                       "found %.17g and %.17g", f->path, c->g2, c->trs);
    return BB_OK;
}

/* The tensors the model needs, in its order: param/ and momentum/ of each
 * parameter, then the BN statistics. Fills names/counts/shapes; returns how many. */
typedef struct { char name[96]; int64_t count; int ndim; const int64_t *shape; float *dst; } want_tensor;

static int wanted(const bb_trainer *t, want_tensor *w)
{
    int n = 0;
    for (int p = 0; p < t->net.nparams; p++) {
        const bb_param *pr = &t->net.params[p];
        for (int which = 0; which < 2; which++, n++) {
            if (!w) continue;
            snprintf(w[n].name, sizeof w[n].name, "%s/%s", which ? "momentum" : "param", pr->name);
            w[n].count = pr->count;
            w[n].ndim = pr->ndim;
            w[n].shape = pr->shape;
            w[n].dst = (which ? t->momentum : t->params) + pr->offset;
        }
    }
    for (int l = 0; l < t->net.nlayers; l++) {
        const bb_layer *ly = &t->net.layers[l];
        if (ly->kind != BB_L_BN) continue;
        for (int which = 0; which < 2; which++, n++) {
            if (!w) continue;
            snprintf(w[n].name, sizeof w[n].name, "state/%s.%s", ly->name, which ? "running_var" : "running_mean");
            w[n].count = ly->op.bn.c;
            w[n].ndim = 1;
            w[n].shape = &w[n].count;
            w[n].dst = t->state + ly->run_off + which * ly->op.bn.c;
        }
    }
    return n;
}

/* Each tensor present, F32, of the model's exact shape, at its place in the
 * model's order, and nothing else. Header only. */
static bb_status check_tensors(const bb_st_file *f, const want_tensor *w, int nw)
{
    uint64_t off = 0;
    for (int i = 0; i < nw; i++) {
        BB_TRY(bb_st_get_f32(f, w[i].name, NULL, w[i].count));
        const bb_st_entry *e = bb_st_find(f, w[i].name);
        int same = e->ndim == w[i].ndim;
        for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == w[i].shape[d];
        if (!same) {
            char have[160] = "", need[160] = "";
            for (int d = 0; d < e->ndim; d++) snprintf(have + strlen(have), sizeof have - strlen(have), "%s%lld", d ? "," : "", (long long)e->shape[d]);
            for (int d = 0; d < w[i].ndim; d++) snprintf(need + strlen(need), sizeof need - strlen(need), "%s%lld", d ? "," : "", (long long)w[i].shape[d]);
            return bb_fail(BB_ERR_FORMAT, "%s: tensor '%s' has shape [%s], the model needs [%s]", f->path, w[i].name, have, need);
        }
        if (e != &f->entries[i] || e->begin != off)
            return bb_fail(BB_ERR_FORMAT, "%s: tensor '%s' is entry %d of the header with data_offsets [%llu, %llu], expected "
                           "entry %d at [%llu, %llu]: the tensors are stored in the model's order", f->path, w[i].name,
                           (int)(e - f->entries), (unsigned long long)e->begin, (unsigned long long)e->end, i,
                           (unsigned long long)off, (unsigned long long)(off + 4 * (uint64_t)w[i].count));
        off = e->end;
    }
    if (f->n != nw)
        return bb_fail(BB_ERR_FORMAT, "%s: %d tensors, the model has %d: '%s' is not one of them", f->path, f->n, nw,
                       f->entries[nw < f->n ? nw : 0].name);
    return BB_OK;
}

/* A checkpoint never holds a non-finite value (check_finite refuses to write
 * one), so one found here means damage, not divergence. */
static bb_status check_values(const bb_st_file *f, const want_tensor *w, int nw)
{
    for (int i = 0; i < nw; i++) {
        const bb_st_entry *e = bb_st_find(f, w[i].name);
        for (int64_t j = 0; j < w[i].count; j++) {
            float v;
            memcpy(&v, f->data + e->begin + 4 * (uint64_t)j, 4);
            if (!isfinite(v))
                return bb_fail(BB_ERR_FORMAT, "%s: tensor '%s' element %lld is %s: the checkpoint is damaged (bigbatch never "
                               "writes a non-finite value); use an earlier checkpoint", f->path, w[i].name, (long long)j,
                               isnan(v) ? "NaN" : "infinite");
        }
    }
    return BB_OK;
}

/* Everything the header says, checked against this trainer: the format and
 * keys, the run's mathematics, the model, the counters and the tensor layout. */
static bb_status check_against(const bb_trainer *t, const bb_st_file *f, counters *c, want_tensor **w, int *nw)
{
    int old;
    *w = NULL;
    BB_TRY(check_header(f, &old));
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
    const char *model = bb_st_meta(f, "model");
    if (strcmp(model, t->net.model_desc) != 0)
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'model' is '%s', the configuration builds '%s'", f->path, model,
                       t->net.model_desc);
    BB_TRY(check_counters(t, f, c));
    *nw = wanted(t, NULL);
    *w = calloc((size_t)*nw, sizeof **w);
    if (!*w) return bb_fail(BB_ERR_NOMEM, "%s: out of memory", f->path);
    wanted(t, *w);
    return check_tensors(f, *w, *nw);
}

/* The parameters, momentum and BN statistics, then the counters; the
 * trainer is changed only when every field has been checked. */
static bb_status load_from(bb_trainer *t, const bb_st_file *f)
{
    counters c;
    want_tensor *w;
    int nw = 0;
    bb_status s = check_against(t, f, &c, &w, &nw);
    if (s == BB_OK && !f->data) s = bb_fail(BB_ERR_INVALID, "%s: the tensors were not read", f->path);
    if (s == BB_OK) s = check_values(f, w, nw);
    for (int i = 0; i < nw && s == BB_OK; i++) s = bb_st_get_f32(f, w[i].name, w[i].dst, w[i].count);
    free(w);
    BB_TRY(s);
    t->step = c.step;
    t->lr_prev = c.lr_prev;
    t->ep_loss = c.el;
    t->ep_correct = c.ec;
    t->ep_seen = c.es;
    t->noise.g2 = c.g2;
    t->noise.trace = c.trs;
    t->noise.steps = c.ns;
    bb_trainer_drop_loader(t);
    BB_TRY(bb_trainer_upload(t));
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
    bb_status s = bb_st_open(&f, path);
    if (s != BB_OK) return bb_fail_context(s, "loading checkpoint");
    /* the header against this trainer before the data is read: memory stays
     * bounded by what the model needs */
    counters c;
    want_tensor *w;
    int nw = 0;
    s = check_against(t, &f, &c, &w, &nw);
    free(w);
    if (s == BB_OK) s = bb_st_read_data(&f);
    if (s == BB_OK) s = bb_trainer_load_from(t, &f);
    else s = bb_fail_context(s, "loading checkpoint");
    bb_st_close(&f);
    return s;
}
