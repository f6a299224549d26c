/* Checkpoints in safetensors: "param/NAME", "momentum/NAME" and
 * "state/BN.running_mean|running_var" tensors; metadata holds the format tag,
 * the iteration, the previous lr (momentum correction), the current epoch's
 * running sums, the metric files' lengths and every configuration field as
 * "config.FIELD". Everything else a run needs is a pure function of these. */
#include "train/trainer_internal.h"

#include "util/safetensors.h"

#include <stdlib.h>
#include <string.h>

#define FORMAT "bigbatch-checkpoint-1"

typedef struct { char key[64]; char val[600]; } kv;

bb_status bb_trainer_save_with(bb_trainer *t, const char *path, const char *const *extra);

bb_status bb_trainer_save(bb_trainer *t, const char *path) { return bb_trainer_save_with(t, path, NULL); }

bb_status bb_trainer_save_with(bb_trainer *t, const char *path, const char *const *extra)
{
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

static bb_status meta_num(const bb_st_file *f, const char *key, double *out)
{
    const char *v = bb_st_meta(f, key);
    char *end;
    if (!v) return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' is missing", f->path, key);
    *out = strtod(v, &end);
    if (end == v || *end) return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' is not a number: '%s'", f->path, key, v);
    return BB_OK;
}

bb_status bb_checkpoint_read_config(const char *path, bb_config *cfg)
{
    bb_st_file f;
    BB_TRY(bb_st_read(&f, path));
    const char *fmt = bb_st_meta(&f, "format");
    bb_status s = BB_OK;
    if (!fmt || strcmp(fmt, FORMAT) != 0)
        s = bb_fail(BB_ERR_FORMAT, "%s: not a bigbatch checkpoint (format '%s', expected '%s')", path, fmt ? fmt : "missing", FORMAT);
    bb_config_defaults(cfg);
    for (int i = 0; s == BB_OK && i < bb_config_nfields; i++) {
        char key[80];
        snprintf(key, sizeof key, "config.%s", bb_config_fields[i].name);
        const char *v = bb_st_meta(&f, key);
        if (!v) continue;  /* a field newer than the checkpoint keeps its default */
        s = bb_config_set(cfg, bb_config_fields[i].name, v);
        if (s != BB_OK) s = bb_fail_context(s, "%s: configuration", path);
    }
    bb_st_close(&f);
    return s;
}

bb_status bb_trainer_load(bb_trainer *t, const char *path)
{
    bb_st_file f;
    BB_TRY(bb_st_read(&f, path));
    bb_status s = BB_OK;
    const char *fmt = bb_st_meta(&f, "format");
    if (!fmt || strcmp(fmt, FORMAT) != 0)
        s = bb_fail(BB_ERR_FORMAT, "%s: not a bigbatch checkpoint (format '%s', expected '%s')", path, fmt ? fmt : "missing", FORMAT);
    /* the mathematics must be the same run's */
    for (int i = 0; s == BB_OK && i < bb_config_nfields; i++) {
        const bb_config_field *fd = &bb_config_fields[i];
        if (!fd->math) continue;
        char key[80], mine[600];
        snprintf(key, sizeof key, "config.%s", fd->name);
        const char *theirs = bb_st_meta(&f, key);
        bb_config_get(&t->cfg, fd, mine, sizeof mine);
        if (theirs && strcmp(theirs, mine) != 0)
            s = bb_fail(BB_ERR_INVALID, "%s: the checkpoint was trained with --%s %s, this run has --%s %s; "
                        "a resumed run must keep the run's mathematics", path, fd->name, theirs, fd->name, mine);
    }
    for (int p = 0; s == BB_OK && p < t->net.nparams; p++) {
        const bb_param *pr = &t->net.params[p];
        char name[96];
        snprintf(name, sizeof name, "param/%s", pr->name);
        s = bb_st_get_f32(&f, name, t->params + pr->offset, pr->count);
        if (s == BB_OK) {
            snprintf(name, sizeof name, "momentum/%s", pr->name);
            s = bb_st_get_f32(&f, name, t->momentum + pr->offset, pr->count);
        }
    }
    for (int l = 0; s == BB_OK && l < t->net.nlayers; l++) {
        const bb_layer *ly = &t->net.layers[l];
        if (ly->kind != BB_L_BN) continue;
        char name[96];
        snprintf(name, sizeof name, "state/%s.running_mean", ly->name);
        s = bb_st_get_f32(&f, name, t->state + ly->run_off, ly->op.bn.c);
        snprintf(name, sizeof name, "state/%s.running_var", ly->name);
        if (s == BB_OK) s = bb_st_get_f32(&f, name, t->state + ly->run_off + ly->op.bn.c, ly->op.bn.c);
    }
    double step = 0, lr_prev = 0, el = 0, ec = 0, es = 0, g2 = 0, trs = 0, ns = 0;
    if (s == BB_OK) s = meta_num(&f, "step", &step);
    if (s == BB_OK) s = meta_num(&f, "lr_prev", &lr_prev);
    if (s == BB_OK) s = meta_num(&f, "epoch_loss_sum", &el);
    if (s == BB_OK) s = meta_num(&f, "epoch_correct", &ec);
    if (s == BB_OK) s = meta_num(&f, "epoch_seen", &es);
    if (s == BB_OK) s = meta_num(&f, "noise_ema_g2", &g2);
    if (s == BB_OK) s = meta_num(&f, "noise_ema_trs", &trs);
    if (s == BB_OK) s = meta_num(&f, "noise_steps", &ns);
    if (s == BB_OK && (step < 0 || step > 1e15))
        s = bb_fail(BB_ERR_FORMAT, "%s: metadata 'step' = %g is out of range", path, step);
    if (s == BB_OK) {
        t->step = (int64_t)step;
        t->lr_prev = lr_prev;
        t->ep_loss = el;
        t->ep_correct = (int64_t)ec;
        t->ep_seen = (int64_t)es;
        t->noise.g2 = g2;
        t->noise.trace = trs;
        t->noise.steps = (int64_t)ns;
        bb_loader_destroy(t->loader);
        t->loader = NULL;
    }
    bb_st_close(&f);
    if (s != BB_OK) return bb_fail_context(s, "loading checkpoint");
    return BB_OK;
}
