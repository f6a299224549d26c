/* Calibration inputs of the simulator (sim.h): `bigbatch bench allreduce`
 * tables and the alpha/beta least-squares fit, the per-worker times of a
 * `bigbatch train` run directory, and `bigbatch bench train --profile` output.
 * Every parser names the file and line of what it could not read. */
#include "sim/sim.h"

#include "util/file.h"
#include "util/stats.h"
#include "util/json.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the next line of *p (without its newline) into buf; 0 at the end */
static int next_line(const char **p, char *buf, size_t cap)
{
    if (!**p) return 0;
    const char *e = strchr(*p, '\n');
    size_t n = e ? (size_t)(e - *p) : strlen(*p);
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(buf, *p, k);
    buf[k] = 0;
    if (k && buf[k - 1] == '\r') buf[k - 1] = 0;
    *p += n + (e != NULL);
    return 1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

/* "4 KiB", "256 MiB", "1 GiB", "12 B" */
static int parse_size(const char *s, double *bytes)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return -1;
    while (*end == ' ') end++;
    double unit = !strcmp(end, "B") ? 1 : !strcmp(end, "KiB") ? 1024 : !strcmp(end, "MiB") ? 1048576
                : !strcmp(end, "GiB") ? 1073741824.0 : -1;
    if (unit < 0) return -1;
    *bytes = v * unit;
    return 0;
}

bb_status bb_sim_bench_parse(const char *text, const char *what, bb_sim_bench **out, int *n)
{
    *out = NULL;
    *n = 0;
    bb_sim_bench *b = NULL;
    int nb = 0, P = 0, lineno = 0;
    char line[512];
    const char *p = text;
    while (next_line(&p, line, sizeof line)) {
        lineno++;
        int ranks;
        if (sscanf(line, "# allreduce of float32, P = %d", &ranks) == 1) { P = ranks; continue; }
        if (line[0] != '|') continue;
        char *cell[6];
        int nc = 0;
        for (char *tok = strtok(line + 1, "|"); tok && nc < 6; tok = strtok(NULL, "|")) cell[nc++] = trim(tok);
        if (nc < 3 || !strcmp(cell[0], "size") || cell[0][0] == '-' || cell[0][0] == ':') continue;
        double bytes, us;
        char *end;
        if (parse_size(cell[0], &bytes) != 0)
            return free(b), bb_fail(BB_ERR_FORMAT, "%s:%d: expected a size like '4 KiB' in the first column, got '%s'",
                                    what, lineno, cell[0]);
        us = strtod(cell[2], &end);
        if (end == cell[2] || *end || !(us > 0))
            return free(b), bb_fail(BB_ERR_FORMAT, "%s:%d: expected a time in microseconds in the third column, got '%s'",
                                    what, lineno, cell[2]);
        if (P < 2)
            return free(b), bb_fail(BB_ERR_FORMAT, "%s:%d: no '# allreduce of float32, P = N ranks' header with N >= 2 "
                                    "before this row (run it as mpirun -np N bigbatch bench allreduce)", what, lineno);
        int k = 0;
        while (k < nb && !(b[k].ranks == P && !strcmp(b[k].algo, cell[1]))) k++;
        if (k == nb) {
            bb_sim_bench *nbuf = realloc(b, ((size_t)nb + 1) * sizeof *b);
            if (!nbuf) return free(b), bb_fail(BB_ERR_NOMEM, "out of memory");
            b = nbuf;
            memset(&b[nb], 0, sizeof *b);
            b[nb].ranks = P;
            snprintf(b[nb].algo, sizeof b[nb].algo, "%s", cell[1]);
            nb++;
        }
        if (b[k].n == (int)(sizeof b[k].bytes / sizeof b[k].bytes[0]))
            return free(b), bb_fail(BB_ERR_FORMAT, "%s:%d: more than 32 sizes for %s at P = %d", what, lineno, cell[1], P);
        b[k].bytes[b[k].n] = bytes;
        b[k].seconds[b[k].n] = us * 1e-6;
        b[k].n++;
    }
    if (!nb) return bb_fail(BB_ERR_FORMAT, "%s: no rows of a `bigbatch bench allreduce` table found", what);
    *out = b;
    *n = nb;
    return BB_OK;
}

/* the coefficients of alpha, beta and gamma in bench entry b's cost: unit
 * links, one server of P workers */
static bb_status coefficients(const bb_sim_bench *b, double *ca, double *cb, double *cg)
{
    bb_sim_algo a;
    if (bb_sim_algo_parse(b->algo, &a) != BB_OK || (a != BB_SIM_RING && a != BB_SIM_HD))
        return bb_fail(BB_ERR_INVALID, "calibration: algorithm '%s' has no cost model (use the ring and hd rows)", b->algo);
    bb_topology t = {.per_server = b->ranks, .servers = 1};
    bb_sim_plan pl;
    BB_TRY(bb_sim_plan_allreduce(&t, a, &pl));
    t.intra = (bb_link){1, 0};
    *ca = bb_cost_total(bb_sim_plan_cost(&pl, &t, 1.0));
    t.intra = (bb_link){0, 1};
    *cb = bb_cost_total(bb_sim_plan_cost(&pl, &t, 1.0));
    *cg = pl.reduce_frac;
    return BB_OK;
}

bb_status bb_sim_fit(const bb_sim_bench *b, int nb, double gamma, bb_link *out, double *rms)
{
    /* minimise sum ((ca alpha + cb x beta - y) / t)^2 with y = t - cg x gamma:
     * relative errors, since the times span five orders of magnitude */
    double s11 = 0, s12 = 0, s22 = 0, r1 = 0, r2 = 0, ca[64], cb[64], cg[64];
    int rows = 0;
    if (nb > 64) return bb_fail(BB_ERR_INVALID, "calibration: at most 64 tables, got %d", nb);
    for (int e = 0; e < nb; e++) {
        BB_TRY(coefficients(&b[e], &ca[e], &cb[e], &cg[e]));
        for (int i = 0; i < b[e].n; i++, rows++) {
            double w = 1.0 / b[e].seconds[i], x1 = ca[e] * w, x2 = cb[e] * b[e].bytes[i] * w;
            double z = (b[e].seconds[i] - cg[e] * b[e].bytes[i] * gamma) * w;
            s11 += x1 * x1; s12 += x1 * x2; s22 += x2 * x2; r1 += x1 * z; r2 += x2 * z;
        }
    }
    if (rows < 2) return bb_fail(BB_ERR_INVALID, "calibration: need at least 2 timings, got %d", rows);
    double det = s11 * s22 - s12 * s12, alpha = 0, beta = 0;
    if (det > 0) { alpha = (r1 * s22 - r2 * s12) / det; beta = (r2 * s11 - r1 * s12) / det; }
    if (!(det > 0) || alpha < 0 || beta < 0) {
        /* keep both non-negative: the better of alpha alone and beta alone */
        alpha = s11 > 0 && r1 > 0 ? r1 / s11 : 0;
        beta = s22 > 0 && r2 > 0 ? r2 / s22 : 0;
        double ea = 0, eb = 0;
        for (int e = 0; e < nb; e++)
            for (int i = 0; i < b[e].n; i++) {
                double w = 1.0 / b[e].seconds[i], z = (b[e].seconds[i] - cg[e] * b[e].bytes[i] * gamma) * w;
                ea += pow(z - ca[e] * w * alpha, 2);
                eb += pow(z - cb[e] * b[e].bytes[i] * w * beta, 2);
            }
        if (ea <= eb) beta = 0; else alpha = 0;
    }
    double e2 = 0;
    for (int e = 0; e < nb; e++)
        for (int i = 0; i < b[e].n; i++) {
            double model = ca[e] * alpha + (cb[e] * beta + cg[e] * gamma) * b[e].bytes[i];
            e2 += pow((model - b[e].seconds[i]) / b[e].seconds[i], 2);
        }
    out->alpha = alpha;
    out->beta = beta;
    if (rms) *rms = sqrt(e2 / rows);
    return BB_OK;
}

/* ---- a training run's directory ---- */

static bb_status json_int(const bb_json *j, const char *key, const char *path, int64_t *out)
{
    const bb_json *v = bb_json_get(j, key);
    if (!v || v->type != BB_JSON_NUMBER || !v->is_integer || v->integer < 1)
        return bb_fail(BB_ERR_FORMAT, "%s: expected a positive integer \"%s\" (the run's resolved value)", path, key);
    *out = v->integer;
    return BB_OK;
}

bb_status bb_sim_read_run(const char *dir, int skip, bb_sim_run_times *out)
{
    memset(out, 0, sizeof *out);
    char path[1024];
    unsigned char *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    BB_TRY(bb_file_read_all(path, 1 << 20, &text, &len));
    bb_json *j = NULL;
    bb_status s = bb_json_parse((const char *)text, len, path, &j);
    free(text);
    if (s != BB_OK) return s;
    int64_t workers = 0, threads = 0, ranks = 0;
    s = json_int(j, "workers", path, &workers);
    if (s == BB_OK) s = json_int(j, "threads", path, &threads);
    if (s == BB_OK) s = json_int(j, "ranks", path, &ranks);
    bb_json_free(j);
    if (s != BB_OK) return s;
    double local = (double)workers / (double)(ranks * threads);
    out->local_workers = (workers + ranks * threads - 1) / (ranks * threads);
    out->ranks = ranks;
    out->threads = threads;

    snprintf(path, sizeof path, "%s/iters.csv", dir);
    BB_TRY(bb_file_read_all(path, 64u << 20, &text, &len));
    const char *p = (const char *)text;
    char line[1024];
    enum { FWD, BWD, RED, UPD, STEP, NCOL };
    static const char *names[NCOL] = {"t_fwd", "t_bwd", "t_reduce", "t_update", "t_step"};
    int col[NCOL] = {-1, -1, -1, -1, -1};
    if (!next_line(&p, line, sizeof line)) { free(text); return bb_fail(BB_ERR_FORMAT, "%s: empty", path); }
    int c = 0;
    for (char *tok = strtok(line, ","); tok; tok = strtok(NULL, ","), c++)
        for (int k = 0; k < NCOL; k++) if (!strcmp(tok, names[k])) col[k] = c;
    for (int k = 0; k < NCOL; k++)
        if (col[k] < 0) { free(text); return bb_fail(BB_ERR_FORMAT, "%s: no column %s in the header", path, names[k]); }
    int cap = 0, n = 0, lineno = 1;
    double *v[4] = {NULL, NULL, NULL, NULL};  /* t_fwd, t_bwd, t_update, the rest of t_step */
    s = BB_OK;
    while (s == BB_OK && next_line(&p, line, sizeof line)) {
        if (++lineno - 1 <= skip || !line[0]) continue;
        double row[NCOL];
        int got = 0;
        c = 0;
        for (char *tok = strtok(line, ","); tok && s == BB_OK; tok = strtok(NULL, ","), c++)
            for (int k = 0; k < NCOL; k++)
                if (c == col[k]) {
                    char *end;
                    row[k] = strtod(tok, &end);
                    if (end == tok || *end || row[k] < 0)
                        s = bb_fail(BB_ERR_FORMAT, "%s:%d: %s: expected seconds, got '%s'", path, lineno, names[k], tok);
                    got++;
                }
        if (s == BB_OK && got != NCOL) s = bb_fail(BB_ERR_FORMAT, "%s:%d: too few columns", path, lineno);
        if (s == BB_OK && n == cap) {
            cap = cap ? 2 * cap : 256;
            for (int k = 0; k < 4 && s == BB_OK; k++) {
                double *nv = realloc(v[k], (size_t)cap * sizeof *nv);
                if (!nv) s = bb_fail(BB_ERR_NOMEM, "out of memory");
                else v[k] = nv;
            }
        }
        if (s != BB_OK) break;
        v[0][n] = row[FWD];
        v[1][n] = row[BWD];
        v[2][n] = row[UPD];
        v[3][n] = row[STEP] - row[FWD] - row[BWD] - row[RED] - row[UPD];
        n++;
    }
    free(text);
    if (s == BB_OK && n < 1) s = bb_fail(BB_ERR_FORMAT, "%s: no iterations after the first %d", path, skip);
    if (s == BB_OK) {
        out->t_fwd = bb_median(v[0], n) / local;
        out->t_bwd = bb_median(v[1], n) / local;
        out->t_update = bb_median(v[2], n);
        out->t_other = bb_median(v[3], n) / local;
        if (out->t_other < 0) out->t_other = 0;
        out->steps = n;
    }
    for (int k = 0; k < 4; k++) free(v[k]);
    return s;
}

/* ---- bench train --profile ---- */

bb_status bb_sim_apply_profile(bb_sim_model *m, const char *text, const char *what)
{
    char line[512], model[200] = "";
    long long kn = 0, workers = 0, n = 0;
    int threads = 0, execs = 0, in_table = 0, lineno = 0, have[BB_PROF_N] = {0};
    double fwd[BB_PROF_N] = {0}, bwd[BB_PROF_N] = {0}, update_wall = -1;
    const char *p = text;
    while (next_line(&p, line, sizeof line)) {
        lineno++;
        if (!strncmp(line, "bench train: ", 13)) {
            const char *bar = strstr(line, " | ");
            if (bar) snprintf(model, sizeof model, "%.*s", (int)(bar - line - 13), line + 13);
            const char *k = strstr(line, "| kn ");
            if (!k || sscanf(k, "| kn %lld = %lld workers x %lld | %d threads (%d executors)", &kn, &workers, &n,
                             &threads, &execs) != 5)
                return bb_fail(BB_ERR_FORMAT, "%s:%d: expected 'kn K = W workers x N | T threads (E executors)' in the "
                               "bench train header", what, lineno);
            continue;
        }
        if (!strncmp(line, "profile:", 8)) { in_table = 1; continue; }
        /* "step, wall clock (ms, mean):" then one row per part, e.g.
         * "  update (SGD, BN running stats)   1.65" */
        if (!strncmp(line, "step, wall clock", 16)) { in_table = 2; continue; }
        if (in_table == 2) {
            char *s = trim(line), *close = strchr(s, ')');
            if (!strncmp(s, "update", 6) && close) update_wall = atof(close + 1);
            continue;
        }
        if (!in_table) continue;
        char *s = trim(line);
        if (!*s || !strncmp(s, "forward", 7)) continue;
        if (!strncmp(s, "all of the above", 16)) { in_table = 0; continue; }
        int k = -1;
        for (int i = 0; i < BB_PROF_N && k < 0; i++) {
            size_t len = strlen(bb_profile_name(i));
            if (!strncmp(s, bb_profile_name(i), len) && (s[len] == ' ' || !s[len])) k = i;
        }
        if (k < 0) return bb_fail(BB_ERR_FORMAT, "%s:%d: unknown layer type in the profile: '%s'", what, lineno, s);
        /* the first two numbers after the label: forward and backward ms */
        char *q = s + strlen(bb_profile_name(k));
        if (*q == ' ' && q[1] == '(') q = strchr(q, ')') ? strchr(q, ')') + 1 : q;
        char *end;
        double f = strtod(q, &end), b = end != q ? strtod(end, &q) : 0;
        if (end == q || !(f >= 0) || !(b >= 0))
            return bb_fail(BB_ERR_FORMAT, "%s:%d: expected forward and backward ms after '%s'", what, lineno, bb_profile_name(k));
        fwd[k] = f * 1e-3;
        bwd[k] = b * 1e-3;
        have[k] = 1;
    }
    if (!workers || !execs) return bb_fail(BB_ERR_FORMAT, "%s: no 'bench train:' header line", what);
    int any = 0;
    for (int k = 0; k < BB_PROF_N; k++) any |= have[k];
    if (!any) return bb_fail(BB_ERR_FORMAT, "%s: no profile table (run bigbatch bench train with --profile)", what);
    if (strcmp(model, m->desc) != 0)
        return bb_fail(BB_ERR_INVALID, "%s: the profile is of %s, not of %s", what, model, m->desc);
    if (n != m->worker_batch)
        return bb_fail(BB_ERR_INVALID, "%s: the profile was taken with %lld samples per worker, the simulation uses %lld",
                       what, n, (long long)m->worker_batch);
    double per = (double)execs / (double)workers;  /* a thread's step runs workers / execs workers */
    for (int k = 0; k < BB_L_N; k++) {
        if (!have[k]) continue;
        /* a kind's time by its layers' multiply-adds where it has any, else by their outputs */
        double total = 0, macs = 0;
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].kind == k) macs += m->layers[i].macs;
        int by_macs = macs > 0;
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].kind == k) total += by_macs ? m->layers[i].macs : m->layers[i].act;
        if (!(total > 0)) {
            if (fwd[k] + bwd[k] > 0)
                return bb_fail(BB_ERR_INVALID, "%s: the profile has %s time but %s has no such layer", what, bb_profile_name(k), m->desc);
            continue;
        }
        for (int i = 0; i < m->nlayers; i++) {
            bb_sim_layer *l = &m->layers[i];
            if (l->kind != k) continue;
            double share = (by_macs ? l->macs : l->act) / total;
            l->t_fwd = share * fwd[k] * per;
            l->t_bwd = share * bwd[k] * per;
        }
    }
    m->t_fwd_extra = (fwd[BB_PROF_LOSS] + bwd[BB_PROF_LOSS] + fwd[BB_PROF_LAYOUT]) * per;
    m->t_bwd_extra = bwd[BB_PROF_LAYOUT] * per;
    m->t_other = (fwd[BB_PROF_GRADSUM] + bwd[BB_PROF_GRADSUM] + fwd[BB_PROF_DATA] + bwd[BB_PROF_DATA]) * per;
    /* the optimizer runs once per step on one thread: the wall clock line has it */
    m->t_update = update_wall >= 0 ? update_wall * 1e-3 : (fwd[BB_PROF_UPDATE] + bwd[BB_PROF_UPDATE]) * execs;
    return BB_OK;
}
