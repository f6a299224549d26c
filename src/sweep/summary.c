/* Reading a sweep's (or one run's) results back from its files, the table of
 * (kn, variant) rows over seeds, and the summary / curve files. Everything is
 * read from what the runs wrote, so any sweep directory can be summarized
 * again, also while a sweep is still running. */
#include "sweep/sweep.h"

#include "util/file.h"
#include "util/json.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bb_status read_json(const char *path, bb_json **out)
{
    unsigned char *text = NULL;
    size_t len = 0;
    BB_TRY(bb_file_read_all(path, 1 << 22, &text, &len));
    bb_status s = bb_json_parse((const char *)text, len, path, out);
    free(text);
    return s;
}

static double json_num(const bb_json *o, const char *key)
{
    const bb_json *v = bb_json_get(o, key);
    return v && v->type == BB_JSON_NUMBER ? v->num : NAN;
}

/* Keeps the last record of each epoch: a run stopped by --max-steps writes a
 * record for its partial epoch, and the resumed run writes the whole one. */
static void last_record_per_epoch(bb_csv *t)
{
    int ce = bb_csv_col(t, "epoch");
    if (ce < 0) return;
    int64_t out = 0;
    for (int64_t i = 0; i < t->nrows; i++) {
        int later = 0;
        for (int64_t j = i + 1; j < t->nrows && !later; j++) later = bb_csv_at(t, j, ce) == bb_csv_at(t, i, ce);
        if (later) continue;
        memmove(t->v + out * t->ncols, t->v + i * t->ncols, (size_t)t->ncols * sizeof(double));
        out++;
    }
    t->nrows = out;
}

bb_status bb_sweep_read_run(const char *dir, bb_sweep_run_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    const char *base = strrchr(dir, '/');
    snprintf(r->name, sizeof r->name, "%s", base && base[1] ? base + 1 : dir);
    r->final_test_err = r->final_test_top5 = r->final_train_err = r->final_train_loss = r->final_test_loss = NAN;
    char path[800];
    snprintf(path, sizeof path, "%s/config.json", dir);
    bb_json *j = NULL;
    BB_TRY(read_json(path, &j));
    bb_config_defaults(&r->cfg);
    bb_status s = BB_OK;
    for (int i = 0; s == BB_OK && i < bb_config_nfields; i++) {
        const bb_json *v = bb_json_get(j, bb_config_fields[i].name);
        if (v && v->type == BB_JSON_STRING) s = bb_config_set(&r->cfg, bb_config_fields[i].name, v->str);
    }
    r->peak_lr = json_num(j, "peak_lr");
    r->steps_per_epoch = (int64_t)json_num(j, "steps_per_epoch");
    bb_json_free(j);
    if (s != BB_OK) return bb_fail_context(s, "%s", path);
    r->variant = bb_sweep_variant_of(&r->cfg, r->name);
    r->total_steps = (int64_t)floor(r->cfg.epochs * (double)r->steps_per_epoch + 0.5);

    snprintf(path, sizeof path, "%s/epochs.csv", dir);
    if (access(path, F_OK) == 0) BB_TRY(bb_csv_read(path, &r->epochs));
    last_record_per_epoch(&r->epochs);
    snprintf(path, sizeof path, "%s/iters.csv", dir);
    if (access(path, F_OK) == 0) {
        s = bb_csv_read(path, &r->iters);
        if (s != BB_OK) { bb_csv_free(&r->epochs); return s; }
    }
    int ct = bb_csv_col(&r->iters, "t_step");
    for (int64_t i = 0; i < r->iters.nrows; i++) r->train_s += bb_csv_at(&r->iters, i, ct);
    r->steps_done = r->iters.nrows;
    /* the final numbers: the last epoch record with a test evaluation */
    const bb_csv *e = &r->epochs;
    for (int64_t i = e->nrows - 1; i >= 0; i--) {
        double te = bb_csv_at(e, i, bb_csv_col(e, "test_err"));
        if (!isfinite(te)) continue;
        r->final_test_err = te;
        r->final_test_top5 = bb_csv_at(e, i, bb_csv_col(e, "test_top5_err"));
        r->final_test_loss = bb_csv_at(e, i, bb_csv_col(e, "test_loss"));
        r->final_train_err = bb_csv_at(e, i, bb_csv_col(e, "train_err"));
        r->final_train_loss = bb_csv_at(e, i, bb_csv_col(e, "train_loss"));
        break;
    }
    snprintf(path, sizeof path, "%s/done.json", dir);
    if (access(path, F_OK) == 0) {
        s = read_json(path, &j);
        if (s != BB_OK) { bb_csv_free(&r->epochs); bb_csv_free(&r->iters); return s; }
        const bb_json *st = bb_json_get(j, "status");
        r->done = 1;
        r->diverged = st && st->type == BB_JSON_STRING && !strcmp(st->str, "diverged");
        bb_json_free(j);
    }
    return BB_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const bb_sweep_run_result *)a)->name, ((const bb_sweep_run_result *)b)->name);
}

void bb_sweep_results_free(bb_sweep_results *r)
{
    for (int i = 0; i < r->nruns; i++) {
        bb_csv_free(&r->runs[i].epochs);
        bb_csv_free(&r->runs[i].iters);
        bb_csv_free(&r->runs[i].evals);
    }
    free(r->runs);
    memset(r, 0, sizeof *r);
}

bb_status bb_sweep_collect(const char *dir, bb_sweep_results *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    r->opts.tolerance = 0.005;
    r->opts.target = NAN;
    char path[800];
    snprintf(path, sizeof path, "%s/runs", dir);
    DIR *d = opendir(path);
    if (!d) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        if (access(path, F_OK) != 0)
            return bb_fail(BB_ERR_IO, "%s: neither a sweep directory (with runs/) nor a run directory (with config.json)", dir);
        r->runs = calloc(1, sizeof *r->runs);
        if (!r->runs) return bb_fail(BB_ERR_NOMEM, "out of memory");
        bb_status s = bb_sweep_read_run(dir, &r->runs[0]);
        if (s != BB_OK) { free(r->runs); r->runs = NULL; return s; }
        r->nruns = 1;
        s = bb_sweep_read_evals(dir, &r->runs[0].evals);
        if (s != BB_OK) bb_sweep_results_free(r);
        return s;
    }
    r->is_sweep = 1;
    int cap = 0;
    bb_status s = BB_OK;
    for (struct dirent *e; s == BB_OK && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char run[800], cfg[900];
        snprintf(run, sizeof run, "%s/runs/%s", dir, e->d_name);
        snprintf(cfg, sizeof cfg, "%s/config.json", run);
        if (access(cfg, F_OK) != 0) continue;  /* not started yet */
        if (r->nruns == cap) {
            cap = cap ? 2 * cap : 16;
            bb_sweep_run_result *nr = realloc(r->runs, (size_t)cap * sizeof *nr);
            if (!nr) { s = bb_fail(BB_ERR_NOMEM, "out of memory"); break; }
            r->runs = nr;
        }
        s = bb_sweep_read_run(run, &r->runs[r->nruns]);
        if (s == BB_OK) s = bb_sweep_read_evals(run, &r->runs[r->nruns++].evals);
    }
    closedir(d);
    if (s != BB_OK) { bb_sweep_results_free(r); return s; }
    qsort(r->runs, (size_t)r->nruns, sizeof *r->runs, by_name);
    return BB_OK;
}

/* ---- the table ---- */

static int row_order(const void *a, const void *b)
{
    const bb_sweep_row *x = a, *y = b;
    if (x->variant != y->variant) return (unsigned)x->variant < (unsigned)y->variant ? -1 : 1;  /* -1 (other) last */
    return x->kn < y->kn ? -1 : x->kn > y->kn;
}

int bb_sweep_rows(const bb_sweep_results *r, bb_sweep_row **rows, bb_sweep_ref *ref)
{
    *rows = calloc((size_t)r->nruns + 1, sizeof **rows);
    if (!*rows) return 0;
    int n = 0;
    for (int i = 0; i < r->nruns; i++) {
        const bb_sweep_run_result *u = &r->runs[i];
        int g = 0;
        while (g < n && !((*rows)[g].kn == u->cfg.batch_size && (*rows)[g].variant == u->variant)) g++;
        bb_sweep_row *w = &(*rows)[g];
        if (g == n) {
            n++;
            w->kn = u->cfg.batch_size;
            w->variant = u->variant;
            w->lr = u->peak_lr;
        }
        w->runs++;
        w->diverged += u->diverged;
        if (!u->done || u->diverged || !isfinite(u->final_test_err)) continue;
        w->finished++;
        /* running sums; turned into means and standard deviations below */
        w->test_mean += u->final_test_err;
        w->test_std += u->final_test_err * u->final_test_err;
        w->train_mean += u->final_train_err;
        w->train_std += u->final_train_err * u->final_train_err;
        w->time_mean += u->train_s;
    }
    for (int g = 0; g < n; g++) {
        bb_sweep_row *w = &(*rows)[g];
        double m = w->finished;
        if (m == 0) {
            w->test_mean = w->test_std = w->train_mean = w->train_std = w->time_mean = NAN;
            continue;
        }
        w->test_mean /= m;
        w->train_mean /= m;
        w->time_mean /= m;
        /* sample standard deviation over seeds (0 for one seed) */
        w->test_std = m > 1 ? sqrt(fmax(0, (w->test_std - m * w->test_mean * w->test_mean) / (m - 1))) : 0;
        w->train_std = m > 1 ? sqrt(fmax(0, (w->train_std - m * w->train_mean * w->train_mean) / (m - 1))) : 0;
    }
    qsort(*rows, (size_t)n, sizeof **rows, row_order);
    bb_sweep_ref scratch;
    bb_sweep_measure(r, *rows, n, ref ? ref : &scratch);
    return n;
}

static void fmt_time(double s, char *buf, size_t cap)
{
    if (!isfinite(s)) { snprintf(buf, cap, "-"); return; }
    long v = (long)(s + 0.5);
    if (v >= 3600) snprintf(buf, cap, "%ldh%02ldm", v / 3600, (v / 60) % 60);
    else if (v >= 60) snprintf(buf, cap, "%ldm%02lds", v / 60, v % 60);
    else snprintf(buf, cap, "%lds", v);
}

static const char *variant_name(int v) { return v >= 0 ? bb_sweep_variants[v].name : "other"; }

static void fmt_err(double mean, double std, int m, char *buf, size_t cap)
{
    if (!isfinite(mean)) snprintf(buf, cap, "-");
    else if (m > 1) snprintf(buf, cap, "%.2f +- %.2f", 100 * mean, 100 * std);
    else snprintf(buf, cap, "%.2f", 100 * mean);
}

static void status_text(const bb_sweep_row *w, char *buf, size_t cap)
{
    int open = w->runs - w->finished - w->diverged;
    if (w->diverged && open) snprintf(buf, cap, "%d diverged, %d unfinished", w->diverged, open);
    else if (w->diverged) snprintf(buf, cap, "%d diverged", w->diverged);
    else if (open) snprintf(buf, cap, "%d unfinished", open);
    else buf[0] = 0;
}

static void fmt_steps(double s, char *buf, size_t cap)
{
    if (isfinite(s)) snprintf(buf, cap, "%.0f", s);
    else snprintf(buf, cap, "-");
}

/* Markdown, so the same text serves the terminal and docs; the lines after
 * the table name the reference, the target and kn* of each variant. */
void bb_sweep_print_table(const bb_sweep_row *rows, int nrows, const bb_sweep_ref *ref, FILE *f)
{
    fprintf(f, "| kn | variant | peak lr | runs | test err %% | train err %% | time/run | steps to target | note |\n");
    fprintf(f, "|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < nrows; i++) {
        const bb_sweep_row *w = &rows[i];
        char te[48], tr[48], tm[32], st[32], note[64];
        fmt_err(w->test_mean, w->test_std, w->finished, te, sizeof te);
        fmt_err(w->train_mean, w->train_std, w->finished, tr, sizeof tr);
        fmt_time(w->time_mean, tm, sizeof tm);
        fmt_steps(w->steps_to_target, st, sizeof st);
        status_text(w, note, sizeof note);
        fprintf(f, "| %lld | %s | %.4g | %d | %s | %s | %s | %s | %s |\n", (long long)w->kn, variant_name(w->variant), w->lr,
                w->finished, te, tr, tm, st, note);
    }
    if (!ref || ref->kn == 0) return;
    fprintf(f, "\nreference: kn %lld %s, test error %.2f%%; target (steps to target) %.2f%%; kn* = the largest kn "
            "within %.2g point of the reference (every smaller kn too):", (long long)ref->kn, variant_name(ref->variant),
            100 * ref->err, 100 * ref->target, 100 * ref->tolerance);
    for (int v = -1, first = 1; v < bb_sweep_nvariants && v + 1 < 16; v++) {
        int any = 0;
        for (int i = 0; i < nrows && !any; i++) any = rows[i].variant == v && rows[i].finished > 0;
        if (!any) continue;
        if (ref->knstar[v + 1]) fprintf(f, "%s %s %lld", first ? "" : ",", variant_name(v), (long long)ref->knstar[v + 1]);
        else fprintf(f, "%s %s none", first ? "" : ",", variant_name(v));
        first = 0;
    }
    fprintf(f, "\n");
}

typedef struct { const bb_sweep_results *r; const bb_sweep_row *rows; int nrows; const bb_sweep_ref *ref; } sum_ctx;

static bb_status write_md(FILE *f, void *arg)
{
    const sum_ctx *c = arg;
    fprintf(f, "Final test error (top-1, last evaluation) and training error (mean over the last epoch), mean +- "
            "sample standard deviation over the finished seeds; time/run sums the training iterations; steps to target: "
            "the first iteration at which the seed-averaged test error curve reaches the target (interpolated between "
            "evaluations).\n\n");
    bb_sweep_print_table(c->rows, c->nrows, c->ref, f);
    return BB_OK;
}

static void csv_num(FILE *f, double v) { if (isfinite(v)) fprintf(f, ",%.6g", v); else fprintf(f, ","); }
static void json_num_out(FILE *f, const char *key, double v)
{
    if (isfinite(v)) fprintf(f, ",\"%s\":%.7g", key, v);
    else fprintf(f, ",\"%s\":null", key);
}

static bb_status write_csv(FILE *f, void *arg)
{
    const sum_ctx *c = arg;
    fprintf(f, "kn,variant,peak_lr,runs,finished,diverged,test_err_mean,test_err_std,train_err_mean,train_err_std,train_s_mean,steps_to_target,within_tolerance\n");
    for (int i = 0; i < c->nrows; i++) {
        const bb_sweep_row *w = &c->rows[i];
        fprintf(f, "%lld,%s,%.9g,%d,%d,%d", (long long)w->kn, variant_name(w->variant), w->lr, w->runs, w->finished, w->diverged);
        csv_num(f, w->test_mean); csv_num(f, w->test_std); csv_num(f, w->train_mean); csv_num(f, w->train_std);
        csv_num(f, w->time_mean);
        csv_num(f, w->steps_to_target);
        fprintf(f, ",%d\n", c->ref->kn && w->finished && w->test_mean <= c->ref->err + c->ref->tolerance + 1e-9);
    }
    return BB_OK;
}

static bb_status write_json(FILE *f, void *arg)
{
    const sum_ctx *c = arg;
    fprintf(f, "{\"rows\":[");
    for (int i = 0; i < c->nrows; i++) {
        const bb_sweep_row *w = &c->rows[i];
        fprintf(f, "%s\n {\"kn\":%lld,\"variant\":\"%s\",\"peak_lr\":%.9g,\"runs\":%d,\"finished\":%d,\"diverged\":%d",
                i ? "," : "", (long long)w->kn, variant_name(w->variant), w->lr, w->runs, w->finished, w->diverged);
        json_num_out(f, "test_err_mean", w->test_mean);
        json_num_out(f, "test_err_std", w->test_std);
        json_num_out(f, "train_err_mean", w->train_mean);
        json_num_out(f, "train_err_std", w->train_std);
        json_num_out(f, "train_s_mean", w->time_mean);
        json_num_out(f, "steps_to_target", w->steps_to_target);
        fputc('}', f);
    }
    const bb_sweep_ref *ref = c->ref;
    fprintf(f, "\n],\n\"reference\":{\"kn\":%lld,\"variant\":\"%s\"", (long long)ref->kn,
            ref->kn ? variant_name(ref->variant) : "");
    json_num_out(f, "test_err", ref->err);
    json_num_out(f, "tolerance", ref->tolerance);
    json_num_out(f, "target", ref->target);
    fprintf(f, ",\"knstar\":{");
    for (int v = -1, first = 1; v < bb_sweep_nvariants && v + 1 < 16; v++) {
        int any = 0;
        for (int i = 0; i < c->nrows && !any; i++) any = c->rows[i].variant == v;
        if (!any) continue;
        fprintf(f, "%s\"%s\":%lld", first ? "" : ",", variant_name(v), (long long)ref->knstar[v + 1]);
        first = 0;
    }
    fprintf(f, "}},\n\"runs\":[");
    for (int i = 0; i < c->r->nruns; i++) {
        const bb_sweep_run_result *u = &c->r->runs[i];
        char q[300];
        bb_json_quote(q, sizeof q, u->name);
        fprintf(f, "%s\n {\"name\":%s,\"kn\":%lld,\"n\":%lld,\"seed\":%lld,\"variant\":\"%s\",\"peak_lr\":%.9g,"
                "\"status\":\"%s\",\"steps\":%lld,\"total_steps\":%lld", i ? "," : "", q,
                (long long)u->cfg.batch_size, (long long)u->cfg.worker_batch, (long long)u->cfg.seed,
                variant_name(u->variant), u->peak_lr, u->diverged ? "diverged" : u->done ? "done" : "unfinished",
                (long long)u->steps_done, (long long)u->total_steps);
        json_num_out(f, "test_err", u->final_test_err);
        json_num_out(f, "train_err", u->final_train_err);
        json_num_out(f, "train_s", u->train_s);
        fputc('}', f);
    }
    fprintf(f, "\n]}\n");
    return BB_OK;
}

static const char *const CURVE_COLS[] = {"epoch", "step", "train_loss", "train_err", "test_loss", "test_err",
                                         "test_top5_err", "lr", "wall_s", "img_s", NULL};

static bb_status write_curves_csv(FILE *f, void *arg)
{
    const sum_ctx *c = arg;
    fprintf(f, "run,kn,variant,seed");
    for (int k = 0; CURVE_COLS[k]; k++) fprintf(f, ",%s", CURVE_COLS[k]);
    fputc('\n', f);
    for (int i = 0; i < c->r->nruns; i++) {
        const bb_sweep_run_result *u = &c->r->runs[i];
        for (int64_t row = 0; row < u->epochs.nrows; row++) {
            fprintf(f, "%s,%lld,%s,%lld", u->name, (long long)u->cfg.batch_size, variant_name(u->variant), (long long)u->cfg.seed);
            for (int k = 0; CURVE_COLS[k]; k++) csv_num(f, bb_csv_at(&u->epochs, row, bb_csv_col(&u->epochs, CURVE_COLS[k])));
            fputc('\n', f);
        }
    }
    return BB_OK;
}

static bb_status write_curves_json(FILE *f, void *arg)
{
    const sum_ctx *c = arg;
    fprintf(f, "{\"runs\":[");
    for (int i = 0; i < c->r->nruns; i++) {
        const bb_sweep_run_result *u = &c->r->runs[i];
        char q[300];
        bb_json_quote(q, sizeof q, u->name);
        fprintf(f, "%s\n {\"name\":%s,\"kn\":%lld,\"variant\":\"%s\",\"seed\":%lld,\"peak_lr\":%.9g", i ? "," : "",
                q, (long long)u->cfg.batch_size, variant_name(u->variant), (long long)u->cfg.seed, u->peak_lr);
        for (int k = 0; CURVE_COLS[k]; k++) {
            int col = bb_csv_col(&u->epochs, CURVE_COLS[k]);
            fprintf(f, ",\"%s\":[", CURVE_COLS[k]);
            for (int64_t row = 0; row < u->epochs.nrows; row++) {
                double v = bb_csv_at(&u->epochs, row, col);
                if (isfinite(v)) fprintf(f, "%s%.7g", row ? "," : "", v);
                else fprintf(f, "%snull", row ? "," : "");
            }
            fputc(']', f);
        }
        fputc('}', f);
    }
    fprintf(f, "\n]}\n");
    return BB_OK;
}

bb_status bb_sweep_write_summary(const bb_sweep_results *r, FILE *out)
{
    bb_sweep_row *rows = NULL;
    bb_sweep_ref ref;
    int n = bb_sweep_rows(r, &rows, &ref);
    if (!rows) return bb_fail(BB_ERR_NOMEM, "out of memory");
    sum_ctx c = {r, rows, n, &ref};
    static const struct { const char *name; bb_file_writer fn; } files[] = {
        {"summary.md", write_md}, {"summary.csv", write_csv}, {"summary.json", write_json},
        {"curves.csv", write_curves_csv}, {"curves.json", write_curves_json},
    };
    bb_status s = BB_OK;
    for (size_t i = 0; s == BB_OK && i < sizeof files / sizeof files[0]; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s", r->dir, files[i].name);
        s = bb_file_write_atomic(path, files[i].fn, &c);
    }
    if (s == BB_OK && out) bb_sweep_print_table(rows, n, &ref, out);
    free(rows);
    return s;
}
