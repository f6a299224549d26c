/* Running a sweep (sweep.h): the plan, the shared configuration record, the
 * lock, and each run through the trainer with its completion record. Runs
 * happen in this process one after another; a run is a `bigbatch train` run
 * directory, so anything that reads one reads a sweep's runs. */
#include "sweep/sweep.h"

#include "train/trainer.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/lock.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAPER(name, scaling, warm, help) {name, scaling, warm, help, 1, 0, 0, BB_SWEEP_PAPER}
#define BEYOND(name, help, scaling, warmup_factor, lars, ls) \
    {name, scaling, BB_WARMUP_GRADUAL, help, warmup_factor, lars, ls, BB_SWEEP_BEYOND}
#define LIN BB_SCALE_LINEAR
const bb_sweep_variant bb_sweep_variants[] = {
    PAPER("gradual", BB_SCALE_LINEAR, BB_WARMUP_GRADUAL, "linear scaling rule, gradual warmup (the recipe)"),
    PAPER("no-warmup", BB_SCALE_LINEAR, BB_WARMUP_NONE, "linear scaling rule, no warmup"),
    PAPER("constant-warmup", BB_SCALE_LINEAR, BB_WARMUP_CONSTANT,
          "linear scaling rule, constant warmup (reference lr, then a jump)"),
    PAPER("sqrt-lr", BB_SCALE_SQRT, BB_WARMUP_GRADUAL, "lr scaled by sqrt(kn / ref-batch), gradual warmup"),
    PAPER("unscaled-lr", BB_SCALE_NONE, BB_WARMUP_NONE, "the reference lr at every kn"),
    /* beyond the paper: what the literature reports to hold the error at larger kn (the recipe's
     * warmup, and its lr unless the name says otherwise) */
    BEYOND("lars", "the recipe with LARS (You et al.; eta --lars-eta, the recipe's warmup)", LIN, 1, 1, 0),
    BEYOND("larc", "the recipe with clipped LARS (LARC: rate min(lr, eta |w|/|g|); eta --lars-eta)", LIN, 1, 2, 0),
    BEYOND("warmup-long", "the recipe with twice the warmup epochs (at most half the run)", LIN, 2, 0, 0),
    BEYOND("label-smoothing", "the recipe with label smoothing 0.1", LIN, 1, 0, 0.1),
    BEYOND("long-ls", "twice the warmup and label smoothing 0.1 together", LIN, 2, 0, 0.1),
    BEYOND("sqrt-ls", "lr scaled by sqrt(kn / ref-batch) and label smoothing 0.1", BB_SCALE_SQRT, 1, 0, 0.1),
    BEYOND("lars-long-ls", "LARS, twice the warmup and label smoothing 0.1 together", LIN, 2, 1, 0.1),
};
#undef LIN
#undef BEYOND
#undef PAPER
const int bb_sweep_nvariants = (int)(sizeof bb_sweep_variants / sizeof bb_sweep_variants[0]);
_Static_assert(sizeof bb_sweep_variants / sizeof bb_sweep_variants[0] < BB_SWEEP_VSLOTS, "a slot per variant");

int bb_sweep_variant_find(const char *name)
{
    for (int i = 0; i < bb_sweep_nvariants; i++)
        if (!strcmp(bb_sweep_variants[i].name, name)) return i;
    return -1;
}

/* whether c could be a run of variant v: the flags the variant sets agree */
static int variant_fits(const bb_sweep_variant *v, const bb_config *c)
{
    return v->lr_scaling == c->lr_scaling && v->warmup == c->warmup && (!v->lars || (c->lars && c->lars_clip == (v->lars == 2))) &&
           (!(v->label_smoothing > 0) || c->label_smoothing == v->label_smoothing);
}

int bb_sweep_variant_of(const bb_config *c, const char *run_name)
{
    /* a sweep's run name: kn<digits>-<variant>-s<digits> */
    if (run_name && !strncmp(run_name, "kn", 2)) {
        const char *p = run_name + 2, *dash = strrchr(run_name, '-');
        while (*p >= '0' && *p <= '9') p++;
        if (*p == '-' && dash && dash > p && dash[1] == 's') {
            char v[64];
            snprintf(v, sizeof v, "%.*s", (int)(dash - p - 1), p + 1);
            int i = bb_sweep_variant_find(v);
            if (i >= 0 && variant_fits(&bb_sweep_variants[i], c)) return i;
        }
    }
    /* the configuration alone: the variant that fits with the most of its own flags set */
    int best = -1, best_score = -1;
    for (int i = 0; i < bb_sweep_nvariants; i++) {
        const bb_sweep_variant *v = &bb_sweep_variants[i];
        if (!variant_fits(v, c) || v->warmup_factor != 1) continue;
        int score = (v->lars > 0) + (v->label_smoothing > 0);
        if (score > best_score) { best = i; best_score = score; }
    }
    return best;
}

int bb_sweep_parse_variants(const char *text, int *out, int max)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int group = !strcmp(tok, "paper") ? BB_SWEEP_PAPER : !strcmp(tok, "beyond") ? BB_SWEEP_BEYOND
                  : !strcmp(tok, "all") ? BB_SWEEP_PAPER | BB_SWEEP_BEYOND : 0;
        int one = group ? -1 : bb_sweep_variant_find(tok);
        if (!group && one < 0) {
            char known[512] = "paper, beyond, all";
            for (int i = 0; i < bb_sweep_nvariants; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), ", %s", bb_sweep_variants[i].name);
            bb_fail(BB_ERR_INVALID, "--variants: unknown variant '%s' (known: %s)", tok, known);
            return -1;
        }
        for (int i = 0; i < bb_sweep_nvariants; i++) {
            if (group ? !(bb_sweep_variants[i].group & group) : i != one) continue;
            int dup = 0;
            for (int j = 0; j < n; j++) dup |= out[j] == i;
            if (dup) continue;
            if (n >= max) { bb_fail(BB_ERR_INVALID, "--variants: more than %d", max); return -1; }
            out[n++] = i;
        }
    }
    if (n == 0) { bb_fail(BB_ERR_INVALID, "--variants: empty list"); return -1; }
    return n;
}

int bb_sweep_parse_list(const char *text, int64_t *out, int max, const char *flag)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long long a = strtoll(p, &end, 10), b = a;
        if (end == p || a < 1) goto bad;
        if (*end == ':') {  /* a:b, the powers of two from a to b */
            p = end + 1;
            b = strtoll(p, &end, 10);
            if (end == p || b < a) goto bad;
        }
        for (long long v = a; v <= b; v *= 2) {
            if (n >= max) {
                bb_fail(BB_ERR_INVALID, "--%s: more than %d values", flag, max);
                return -1;
            }
            for (int i = 0; i < n; i++)
                if (out[i] == v) {
                    bb_fail(BB_ERR_INVALID, "--%s: %lld appears twice", flag, v);
                    return -1;
                }
            out[n++] = v;
            if (v > (1LL << 40)) break;
        }
        p = end;
        if (*p == ',') p++;
        else if (*p) goto bad;
    }
    if (n == 0) goto bad;
    for (int i = 1; i < n; i++)  /* ascending */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) { int64_t x = out[j]; out[j] = out[j - 1]; out[j - 1] = x; }
    return n;
bad:
    bb_fail(BB_ERR_INVALID, "--%s: expected positive integers separated by commas (or A:B for the powers of two "
            "from A to B), got '%s'", flag, text);
    return -1;
}

void bb_sweep_run_config(const bb_sweep_spec *s, int64_t kn, int variant, int64_t seed, bb_config *out, char *name,
                         size_t cap)
{
    const bb_sweep_variant *v = &bb_sweep_variants[variant];
    *out = s->base;
    out->batch_size = kn;
    out->seed = seed;
    out->lr_scaling = v->lr_scaling;
    out->warmup = v->warmup;
    if (v->lars) {
        out->lars = 1;
        out->lars_clip = v->lars == 2;
    }
    if (v->label_smoothing > 0) out->label_smoothing = v->label_smoothing;
    if (v->warmup_factor != 1) {
        /* longer, but never past half the run (the decay needs the rest) nor shorter than the recipe's */
        double w = bb_config_warmup_epochs(out);
        out->warmup_epochs = fmax(w, fmin(v->warmup_factor * w, out->epochs / 2));
    }
    /* warmup climbs from the reference lr to a larger one: none at or below the reference minibatch */
    if ((double)kn <= s->base.ref_batch) out->warmup_epochs = 0;
    snprintf(name, cap, "kn%05lld-%s-s%lld", (long long)kn, v->name, (long long)seed);
    char dir[sizeof out->out];
    snprintf(dir, sizeof dir, "%.400s/runs/%.100s", s->base.out, name);
    snprintf(out->out, sizeof out->out, "%s", dir);
    out->resume[0] = 0;
}

/* ---- sweep.json: the configuration every run shares ---- */

static int per_run_field(const char *name)
{
    return !strcmp(name, "batch-size") || !strcmp(name, "seed") || !strcmp(name, "lr-scaling") || !strcmp(name, "warmup");
}

static bb_status write_sweep_json(FILE *f, void *arg)
{
    const bb_config *c = arg;
    fprintf(f, "{\n  \"format\": \"bigbatch-sweep-1\"");
    for (int i = 0; i < bb_config_nfields; i++) {
        const bb_config_field *fd = &bb_config_fields[i];
        if (!fd->math || per_run_field(fd->name)) continue;
        char v[600], q[1300];
        bb_config_get(c, fd, v, sizeof v);
        bb_json_quote(q, sizeof q, v);
        fprintf(f, ",\n  \"%s\": %s", fd->name, q);
    }
    fprintf(f, "\n}\n");
    return BB_OK;
}

/* The first invocation records the shared mathematics; later ones must agree,
 * so that one directory never mixes runs of different configurations. */
static bb_status check_sweep_json(const bb_sweep_spec *s, int rank0)
{
    char path[700];
    snprintf(path, sizeof path, "%s/sweep.json", s->base.out);
    if (access(path, F_OK) != 0) return rank0 ? bb_file_write_atomic(path, write_sweep_json, (void *)&s->base) : BB_OK;
    unsigned char *text = NULL;
    size_t len = 0;
    BB_TRY(bb_file_read_all(path, 1 << 20, &text, &len));
    bb_json *j = NULL;
    bb_status st = bb_json_parse((const char *)text, len, path, &j);
    free(text);
    if (st != BB_OK) return st;
    for (int i = 0; st == BB_OK && i < bb_config_nfields; i++) {
        const bb_config_field *fd = &bb_config_fields[i];
        if (!fd->math || per_run_field(fd->name)) continue;
        const bb_json *v = bb_json_get(j, fd->name);
        if (!v) continue;  /* a field newer than the sweep keeps its default */
        char mine[600];
        bb_config_get(&s->base, fd, mine, sizeof mine);
        if (v->type != BB_JSON_STRING)
            st = bb_fail(BB_ERR_FORMAT, "%s: \"%s\" is not a string", path, fd->name);
        else if (strcmp(v->str, mine) != 0)
            st = bb_fail(BB_ERR_INVALID, "%s: this sweep was started with --%s %s, this command has --%s %s; give the "
                         "same flags to continue it, or another --out for a new sweep", path, fd->name, v->str,
                         fd->name, mine);
    }
    bb_json_free(j);
    return st;
}

/* ---- one run ---- */

typedef struct {
    const bb_sweep_run_result *r;
    const char *status, *message;
    int variant;
} done_rec;

static bb_status write_done(FILE *f, void *arg)
{
    const done_rec *d = arg;
    const bb_sweep_run_result *r = d->r;
    char q[1200], qn[300];
    bb_json_quote(q, sizeof q, d->message ? d->message : "");
    bb_json_quote(qn, sizeof qn, r->name);
    fprintf(f, "{\"status\":\"%s\",\"name\":%s,\"kn\":%lld,\"n\":%lld,\"seed\":%lld,\"variant\":\"%s\","
            "\"peak_lr\":%.9g,\"steps\":%lld,\"total_steps\":%lld",
            d->status, qn, (long long)r->cfg.batch_size, (long long)r->cfg.worker_batch, (long long)r->cfg.seed,
            d->variant >= 0 ? bb_sweep_variants[d->variant].name : "other", r->peak_lr, (long long)r->steps_done,
            (long long)r->total_steps);
    if (isfinite(r->final_test_err))
        fprintf(f, ",\"test_err\":%.6g,\"test_top5_err\":%.6g,\"test_loss\":%.7g", r->final_test_err, r->final_test_top5,
                r->final_test_loss);
    if (isfinite(r->final_train_err)) fprintf(f, ",\"train_err\":%.6g,\"train_loss\":%.7g", r->final_train_err, r->final_train_loss);
    fprintf(f, ",\"train_s\":%.3f,\"message\":%s}\n", r->train_s, q);
    return BB_OK;
}

static bb_status record_done(const char *dir, const char *status, const char *message)
{
    bb_sweep_run_result r;
    BB_TRY(bb_sweep_read_run(dir, &r));
    done_rec d = {&r, status, message, r.variant};
    char path[800];
    snprintf(path, sizeof path, "%s/done.json", dir);
    bb_status s = bb_file_write_atomic(path, write_done, &d);
    bb_csv_free(&r.epochs);
    bb_csv_free(&r.iters);
    return s;
}

static int64_t full_steps(const bb_config *c, int64_t n_train)
{
    int64_t spe = n_train / c->batch_size;
    return (int64_t)floor(c->epochs * (double)spe + 0.5);
}

static bb_status run_one(const bb_config *cfg, const char *name, bb_comm *comm, int64_t n_train, bb_sweep_tally *tally)
{
    char done[700], ckpt[sizeof cfg->resume];
    snprintf(done, sizeof done, "%s/done.json", cfg->out);
    if (snprintf(ckpt, sizeof ckpt, "%.480s/checkpoint.safetensors", cfg->out) >= (int)sizeof ckpt)
        return bb_fail(BB_ERR_INVALID, "%s: path too long", cfg->out);
    int rank0 = comm->rank == 0;
    if (access(done, F_OK) == 0) {
        if (rank0) bb_log(BB_LOG_INFO, "sweep: %s: finished before, skipped", name);
        tally->skipped++;
        return BB_OK;
    }
    bb_config c = *cfg;
    /* the sweep's own run: continued from its checkpoint, or started over when it has none */
    c.resume_auto = 1;
    int resume = access(ckpt, F_OK) == 0;
    if (resume) snprintf(c.resume, sizeof c.resume, "%s", ckpt);
    bb_trainer *t = NULL;
    bb_status s = bb_trainer_start(&t, &c, comm);
    if (s != BB_OK) {
        bb_trainer_destroy(t);
        return bb_fail_context(s, "sweep run %s", name);
    }
    if (rank0) {
        if (resume) bb_log(BB_LOG_INFO, "sweep: %s: resuming from iteration %lld (%s)", name, (long long)bb_trainer_iteration(t), ckpt);
        else bb_log(BB_LOG_INFO, "sweep: %s: starting (kn %lld, %s, seed %lld)", name, (long long)c.batch_size,
                    bb_sweep_variant_of(&c, name) >= 0 ? bb_sweep_variants[bb_sweep_variant_of(&c, name)].help : "",
                    (long long)c.seed);
    }
    s = bb_trainer_run(t);
    int64_t reached = bb_trainer_iteration(t);
    bb_trainer_destroy(t);
    if (s == BB_ERR_NUMERIC) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", bb_last_error());
        if (rank0) {
            bb_log(BB_LOG_INFO, "sweep: %s: diverged: %s", name, msg);
            BB_TRY(record_done(cfg->out, "diverged", msg));
        }
        tally->diverged++;
        return BB_OK;
    }
    if (s != BB_OK) return s == BB_ERR_INTERRUPTED ? s : bb_fail_context(s, "sweep run %s", name);
    if (reached < full_steps(cfg, n_train)) {  /* stopped by --max-steps */
        if (rank0) bb_log(BB_LOG_INFO, "sweep: %s: stopped at iteration %lld of %lld (--max-steps); the next sweep "
                          "command continues it", name, (long long)reached, (long long)full_steps(cfg, n_train));
        tally->unfinished++;
        return BB_OK;
    }
    if (rank0) BB_TRY(record_done(cfg->out, "done", ""));
    tally->finished++;
    return BB_OK;
}

bb_status bb_sweep_run(const bb_sweep_spec *s, bb_comm *comm, bb_sweep_tally *tally)
{
    memset(tally, 0, sizeof *tally);
    int rank0 = comm->rank == 0;
    if (s->base.resume[0])
        return bb_fail(BB_ERR_INVALID, "--resume is not a sweep flag: run the same sweep command again to continue it");
    if (s->base.overwrite)
        return bb_fail(BB_ERR_INVALID, "--overwrite is not a sweep flag: a sweep continues the runs in its directory; "
                       "choose another --out for a new sweep");
    if (s->nsizes < 1 || s->nseeds < 1 || s->nvariants < 1) return bb_fail(BB_ERR_INVALID, "sweep: empty plan");
    /* every run's configuration must be valid before hours are spent on the first */
    for (int i = 0; i < s->nsizes; i++) {
        bb_config c;
        char name[128];
        bb_sweep_run_config(s, s->sizes[i], s->variants[0], s->seeds[0], &c, name, sizeof name);
        BB_TRY(bb_config_validate(&c));
    }
    bb_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    BB_TRY(bb_data_from_config(&s->base, &train, &test));
    int64_t n_train = train.n;
    bb_dataset_free(&train);
    bb_dataset_free(&test);
    for (int i = 0; i < s->nsizes; i++) {
        if (s->sizes[i] > n_train)
            return bb_fail(BB_ERR_INVALID, "--sizes: %lld is larger than the %lld training samples (an epoch would "
                           "have no iteration)", (long long)s->sizes[i], (long long)n_train);
        /* kn sets the iterations per epoch: every size's run must have some, with its milestones inside */
        bb_config c;
        char name[128];
        bb_sweep_run_config(s, s->sizes[i], s->variants[0], s->seeds[0], &c, name, sizeof name);
        bb_status cs = bb_config_check_length(&c, n_train);
        if (cs != BB_OK) return bb_fail_context(cs, "--sizes %lld", (long long)s->sizes[i]);
    }

    char runs[700];
    snprintf(runs, sizeof runs, "%s/runs", s->base.out);
    /* one sweep command per directory at a time */
    bb_lock lock = {.fd = -1};
    bb_status st = BB_OK;
    if (rank0) {
        st = bb_mkdirs(runs);
        if (st == BB_OK) st = bb_lock_take(&lock, s->base.out, "sweep");
        if (st == BB_OK && lock.notice[0]) bb_log(BB_LOG_WARN, "bigbatch: %s", lock.notice);
    }
    st = bb_comm_share_outcome(comm, st, "to take the sweep directory");
    if (st == BB_OK) st = check_sweep_json(s, rank0);
    tally->planned = s->nsizes * s->nseeds * s->nvariants;
    for (int a = 0; st == BB_OK && a < s->nseeds; a++)
        for (int v = 0; st == BB_OK && v < s->nvariants; v++)
            for (int i = 0; st == BB_OK && i < s->nsizes; i++) {
                if (bb_trainer_stop_requested()) {
                    st = bb_fail(BB_ERR_INTERRUPTED, "sweep stopped by a signal; run the same command to continue");
                    break;
                }
                bb_config c;
                char name[128];
                bb_sweep_run_config(s, s->sizes[i], s->variants[v], s->seeds[a], &c, name, sizeof name);
                st = run_one(&c, name, comm, n_train, tally);
            }
    bb_lock_release(&lock);
    return st;
}
