/* The training loop around bb_trainer_step: epochs, evaluation, metrics
 * (JSON Lines and CSV, per iteration and per epoch), progress on the terminal,
 * checkpoints, signals. Only rank 0 writes or prints. */
#include "train/engine.h"
#include "train/trainer_internal.h"

#include "train/replicas.h"
#include "train/rundir.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/safetensors.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

void bb_trainer_request_stop(int signo) { stop_signal = signo ? signo : SIGTERM; }
int bb_trainer_stop_requested(void) { return stop_signal; }

typedef struct {
    FILE *jsonl, *iter_csv, *epoch_csv;
    char dir[512];
    double t0;
} run_out;

static const char ITER_HEADER[] = "step,epoch,loss,err,lr,grad_norm,img_s,t_data,t_fwd,t_bwd,t_reduce,t_update,t_step,b_noise,t_allreduce\n";
static const char EPOCH_HEADER[] = "epoch,step,train_loss,train_err,test_loss,test_err,test_top5_err,lr,wall_s,img_s\n";

/* Opens a metrics file for appending; on resume it is first cut back to the
 * length recorded in the checkpoint, so lines written after the checkpoint by
 * the interrupted run are not duplicated. */
static bb_status open_metrics(const char *dir, const char *name, long keep, const char *header, FILE **out)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    /* a CSV from a version with other columns is not continued */
    FILE *old = keep > 0 && header ? fopen(path, "rb") : NULL;
    if (old) {
        char line[1024] = "";
        int same = fgets(line, sizeof line, old) && !strcmp(line, header);
        fclose(old);
        if (!same)
            return bb_fail(BB_ERR_FORMAT, "%s: its columns are not this version's (found '%.*s', expected '%.*s'); "
                           "resume into a copy without the metric files or start a new --out", path,
                           (int)strcspn(line, "\n"), line, (int)strcspn(header, "\n"), header);
    }
    /* never lengthen: a file shorter than recorded (lost in a crash of the
     * machine) is continued as it is rather than padded with zero bytes */
    if (keep >= 0 && stat(path, &st) == 0 && st.st_size > keep && truncate(path, keep) != 0)
        return bb_fail(BB_ERR_IO, "%s: cannot cut back to %ld bytes: %s", path, keep, strerror(errno));
    FILE *f = fopen(path, keep >= 0 ? "ab" : "wb");
    if (!f) return bb_fail(BB_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    if (header && ftell(f) == 0) fputs(header, f);
    /* a disk that is full already fails the start, not the first checkpoint */
    if (fflush(f) != 0 || ferror(f)) {
        int err = errno;
        fclose(f);
        return bb_fail(BB_ERR_IO, "%s: cannot write: %s%s", path, strerror(err), bb_io_hint(err));
    }
    *out = f;
    return BB_OK;
}

static void close_out(run_out *o)
{
    if (o->jsonl) fclose(o->jsonl);
    if (o->iter_csv) fclose(o->iter_csv);
    if (o->epoch_csv) fclose(o->epoch_csv);
    o->jsonl = o->iter_csv = o->epoch_csv = NULL;
}

static bb_status config_json_body(FILE *f, void *arg)
{
    const bb_trainer *t = arg;
    fprintf(f, "{\n  \"model_desc\": \"%s\",\n  \"parameters\": %lld,\n  \"workers\": %lld,\n  \"steps_per_epoch\": %lld,\n"
            "  \"peak_lr\": %.9g,\n  \"warmup_epochs\": %.9g,\n  \"threads\": %d,\n  \"ranks\": %d",
            t->net.model_desc, (long long)t->P, (long long)t->k, (long long)t->steps_per_epoch,
            bb_schedule_peak(&t->sched), bb_config_warmup_epochs(&t->cfg), t->threads, t->comm->size);
    for (int i = 0; i < bb_config_nfields; i++) {
        char v[600], q[1300];
        bb_config_get(&t->cfg, &bb_config_fields[i], v, sizeof v);
        bb_json_quote(q, sizeof q, v);
        fprintf(f, ",\n  \"%s\": %s", bb_config_fields[i].name, q);
    }
    fprintf(f, "\n}\n");
    return BB_OK;  /* stream errors are caught by bb_file_write_atomic */
}

static bb_status write_config_json(const bb_trainer *t, const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return bb_file_write_atomic(path, config_json_body, (void *)t);
}

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 1e7) { snprintf(buf, cap, "?"); return; }
    long v = (long)(s + 0.5);
    if (v >= 3600) snprintf(buf, cap, "%ldh%02ldm", v / 3600, (v / 60) % 60);
    else if (v >= 60) snprintf(buf, cap, "%ldm%02lds", v / 60, v % 60);
    else snprintf(buf, cap, "%lds", v);
}

static void log_iteration(bb_trainer *t, run_out *o, const bb_step_stats *st, double img_s)
{
    fprintf(o->jsonl, "{\"type\":\"iter\",\"step\":%lld,\"epoch\":%.6f,\"loss\":%.7g,\"err\":%.6g,\"lr\":%.9g,"
            "\"grad_norm\":%.7g,\"img_s\":%.2f,\"t_data\":%.6f,\"t_fwd\":%.6f,\"t_bwd\":%.6f,\"t_reduce\":%.6f,"
            "\"t_update\":%.6f,\"t_step\":%.6f,\"t_allreduce\":%.6f", (long long)st->step, st->epoch, st->loss, st->err,
            st->lr, st->grad_norm, img_s, st->t_data, st->t_fwd, st->t_bwd, st->t_reduce, st->t_update, st->t_step,
            st->t_allreduce);
    if (t->cfg.noise_scale)
        fprintf(o->jsonl, ",\"b_noise\":%.7g,\"g2\":%.7g,\"trace_sigma\":%.7g", st->b_noise, st->noise_g2,
                st->noise_trace);
    fprintf(o->jsonl, "}\n");
    fprintf(o->iter_csv, "%lld,%.6f,%.7g,%.6g,%.9g,%.7g,%.2f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.7g,%.6f\n", (long long)st->step,
            st->epoch, st->loss, st->err, st->lr, st->grad_norm, img_s, st->t_data, st->t_fwd, st->t_bwd,
            st->t_reduce, st->t_update, st->t_step, st->b_noise, st->t_allreduce);
}

static void progress(bb_trainer *t, const bb_step_stats *st, double img_s, double eta)
{
    int64_t done = t->step, spe = t->steps_per_epoch;
    char eta_s[32];
    fmt_duration(eta, eta_s, sizeof eta_s);
    char line[256];
    int len = snprintf(line, sizeof line, "epoch %lld/%g  it %lld/%lld  loss %.4f  err %5.2f%%  lr %.4g  %.0f img/s  ETA %s",
                       (long long)((done - 1) / spe + 1), t->cfg.epochs, (long long)done, (long long)t->total_steps,
                       st->loss, 100.0 * st->err, st->lr, img_s, eta_s);
    if (t->cfg.noise_scale && st->b_noise > 0) snprintf(line + len, sizeof line - (size_t)len, "  B_noise %.0f", st->b_noise);
    bb_log(done % t->cfg.log_every == 0 || done == 1 ? BB_LOG_PROGRESS : BB_LOG_STATUS, "%s", line);
}

static bb_status checkpoint(bb_trainer *t, run_out *o)
{
    if (t->comm->rank != 0) return BB_OK;
    /* the recorded lengths must be of what is really on disk */
    FILE *files[3] = {o->jsonl, o->iter_csv, o->epoch_csv};
    for (int i = 0; i < 3; i++)
        if (fflush(files[i]) != 0 || ferror(files[i]))
            return bb_fail(BB_ERR_IO, "%s: writing the metric files failed: %s%s", o->dir, strerror(errno),
                           errno == ENOSPC ? " (the disk is full)" : "");
    char len[3][32], path[700];
    snprintf(len[0], sizeof len[0], "%ld", ftell(o->jsonl));
    snprintf(len[1], sizeof len[1], "%ld", ftell(o->iter_csv));
    snprintf(len[2], sizeof len[2], "%ld", ftell(o->epoch_csv));
    const char *extra[] = {"metrics.jsonl", len[0], "iters.csv", len[1], "epochs.csv", len[2], NULL};
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", o->dir);
    return bb_trainer_save_with(t, path, extra);
}

/* Evaluation and the epoch record. At the end of an epoch the epoch's
 * training sums are reported and reset; a run that stops mid-epoch (--max-steps)
 * reports its evaluation as an "eval" record and keeps the sums, which the
 * checkpoint carries into the resumed run. */
static bb_status end_of_epoch(bb_trainer *t, run_out *o, int64_t epoch, int complete, int evaluate, double lr,
                              double t_epoch)
{
    bb_eval_result r = {0, NAN, NAN, 0};
    bb_status es = evaluate ? bb_trainer_evaluate(t, &r) : BB_OK;
    if (es == BB_ERR_NUMERIC)
        return bb_fail(BB_ERR_NUMERIC, "non-finite test loss after iteration %lld (epoch %lld): training diverged (the "
                       "model's outputs overflow); lower --lr or lengthen --warmup-epochs", (long long)t->step, (long long)epoch);
    BB_TRY(es);
    double tl = t->ep_seen ? t->ep_loss / (double)t->ep_seen : NAN;
    double te = t->ep_seen ? 1.0 - (double)t->ep_correct / (double)t->ep_seen : NAN;
    double img_s = t_epoch > 0 ? (double)t->ep_seen / t_epoch : 0;
    if (t->comm->rank == 0) {
        fprintf(o->jsonl, "{\"type\":\"%s\",\"epoch\":%lld,\"step\":%lld,\"train_loss\":%.7g,\"train_err\":%.6g",
                complete ? "epoch" : "eval", (long long)epoch, (long long)t->step, tl, te);
        if (evaluate) fprintf(o->jsonl, ",\"test_loss\":%.7g,\"test_err\":%.6g,\"test_top5_err\":%.6g", r.loss, r.top1_err, r.top5_err);
        fprintf(o->jsonl, ",\"lr\":%.9g,\"wall_s\":%.3f,\"img_s\":%.2f}\n", lr, bb_now() - o->t0, img_s);
        if (complete)
            fprintf(o->epoch_csv, "%lld,%lld,%.7g,%.6g,%.7g,%.6g,%.6g,%.9g,%.3f,%.2f\n", (long long)epoch, (long long)t->step,
                    tl, te, r.loss, r.top1_err, r.top5_err, lr, bb_now() - o->t0, img_s);
        char test[128] = "";
        if (evaluate)
            snprintf(test, sizeof test, " | test loss %.4f err %.2f%% (top-5 %.2f%%)", r.loss, 100 * r.top1_err, 100 * r.top5_err);
        bb_log(BB_LOG_INFO, "epoch %lld%s: train loss %.4f err %.2f%%%s | %.0f img/s, %.1fs", (long long)epoch,
               complete ? "" : " (partial)", tl, 100 * te, test, img_s, t_epoch);
    }
    if (complete) {
        t->ep_loss = 0;
        t->ep_correct = t->ep_seen = 0;
    }
    return BB_OK;
}

/* Rank 0's start: the run directory claimed, its metric files opened (cut
 * back on resume), config.json written, the banner printed. */
static bb_status start_run(bb_trainer *t, run_out *o, bb_rundir *rd)
{
    BB_TRY(bb_rundir_claim(rd, &t->cfg));
    if (rd->lock.notice[0]) bb_log(BB_LOG_WARN, "bigbatch: %s", rd->lock.notice);
    long keep[3] = {-1, -1, -1};
    if (rd->own_checkpoint) {
        /* lengths of the metric files when the checkpoint was written; a run
         * resumed from another directory's checkpoint starts its own files */
        bb_st_file f;
        BB_TRY(bb_st_open(&f, t->cfg.resume));
        bb_status s = bb_checkpoint_metric_lengths(&f, keep);
        bb_st_close(&f);
        BB_TRY(s);
    }
    /* temporary files of checkpoint writes that a killed process left */
    static const char *const written[2] = {"checkpoint.safetensors", "config.json"};
    int stale = 0;
    for (int i = 0; i < 2; i++) {
        char path[700];
        int n = 0;
        snprintf(path, sizeof path, "%s/%s", o->dir, written[i]);
        BB_TRY(bb_file_remove_stale_tmp(path, &n));
        stale += n;
    }
    if (stale) bb_log(BB_LOG_INFO, "bigbatch: removed %d unfinished temporary file%s of an interrupted run", stale, stale > 1 ? "s" : "");
    BB_TRY(write_config_json(t, o->dir));
    BB_TRY(open_metrics(o->dir, "metrics.jsonl", keep[0], NULL, &o->jsonl));
    BB_TRY(open_metrics(o->dir, "iters.csv", keep[1], ITER_HEADER, &o->iter_csv));
    BB_TRY(open_metrics(o->dir, "epochs.csv", keep[2], EPOCH_HEADER, &o->epoch_csv));
    char where[300];
    snprintf(where, sizeof where, "%s", t->engine->describe(t));
    bb_log(BB_LOG_INFO, "bigbatch: %s, %lld parameters | kn = %lld = %lld workers x %lld | lr %.4g (peak), warmup %g epochs, "
           "%s decay | %lld iterations/epoch, %lld total | %s x %d rank%s",
           t->net.model_desc, (long long)t->P, (long long)t->kn, (long long)t->k, (long long)t->n,
           bb_schedule_peak(&t->sched), t->sched.warmup == BB_WARMUP_NONE ? 0.0 : t->sched.warmup_epochs,
           bb_decay_names[t->cfg.decay], (long long)t->steps_per_epoch, (long long)t->total_steps, where,
           t->comm->size, t->comm->size > 1 ? "s" : "");
    return BB_OK;
}

bb_status bb_trainer_run(bb_trainer *t)
{
    run_out o = {0};
    bb_rundir rd = {.lock.fd = -1};
    int rank0 = t->comm->rank == 0;
    snprintf(o.dir, sizeof o.dir, "%s", t->cfg.out);
    o.t0 = bb_now();
    bb_status s = BB_OK;
    if (rank0) {
        s = start_run(t, &o, &rd);
        if (s != BB_OK) {
            close_out(&o);
            bb_rundir_abandon(&rd);
        }
    }
    /* the ranks start from the same weights (or stop here, naming the odd ones);
     * they arrive after loading their data, which may take minutes (an image
     * folder's index): at least 10 minutes' patience for this one */
    double watchdog = t->comm->watchdog;
    if (watchdog > 0 && watchdog < 600) t->comm->watchdog = 600;
    s = bb_comm_share_outcome(t->comm, s, "to start the run directory");
    if (s == BB_OK) s = bb_trainer_check_replicas(t, t->cfg.resume[0] ? "after loading the checkpoint" : "at startup");
    t->comm->watchdog = watchdog;
    double t_epoch0 = bb_now(), t_last = bb_now();
    double eval_every = t->cfg.eval_every, ckpt_every = t->cfg.checkpoint_every;
    double sum_allreduce = 0, sum_exposed = 0;
    int64_t steps_run = 0;
    while (t->step < t->total_steps && s == BB_OK) {
        bb_step_stats st;
        bb_trainer_fault_point(t);
        s = bb_trainer_step(t, &st);
        if (s == BB_OK && t->cfg.checksum_every > 0 && t->step % t->cfg.checksum_every == 0)
            s = bb_trainer_check_replicas(t, "after an update");
        if (s != BB_OK) break;
        sum_allreduce += st.t_allreduce;
        sum_exposed += st.t_reduce;
        steps_run++;
        double now = bb_now();
        double img_s = (double)t->kn / (now - t_last);
        t_last = now;
        if (rank0) {
            log_iteration(t, &o, &st, img_s);
            progress(t, &st, img_s, (double)(t->total_steps - t->step) * st.t_step);
        }
        int end_epoch = t->step % t->steps_per_epoch == 0;
        int last = t->step == t->total_steps;
        if (end_epoch || last) {
            int64_t epoch = (t->step + t->steps_per_epoch - 1) / t->steps_per_epoch;
            int ev = last || (eval_every > 0 && fmod((double)epoch, eval_every) < 1e-9);
            if (end_epoch || ev) s = end_of_epoch(t, &o, epoch, end_epoch, ev, st.lr, now - t_epoch0);
            if (end_epoch) t_epoch0 = bb_now();
            if (s == BB_OK && (last || (ckpt_every > 0 && fmod((double)epoch, ckpt_every) < 1e-9)))
                s = checkpoint(t, &o);
        }
        /* a signal on any rank stops every rank after the same iteration */
        double flag[1] = {(double)stop_signal};
        if (s == BB_OK && t->comm->size > 1) s = t->comm->allreduce_f64(t->comm, flag, 1);
        if (s == BB_OK && flag[0] != 0 && t->step < t->total_steps) {
            s = checkpoint(t, &o);
            if (s == BB_OK)
                s = bb_fail(BB_ERR_INTERRUPTED, "stopped by a signal after iteration %lld; checkpoint written to "
                            "%s/checkpoint.safetensors (continue with --resume %s/checkpoint.safetensors)",
                            (long long)t->step, o.dir, o.dir);
        }
    }
    if (rank0 && t->comm->size > 1 && steps_run > 0 && s == BB_OK && t->allreduce_buckets > 0)
        bb_log(BB_LOG_INFO, "bigbatch: gradient allreduce (%s, %d buckets): %.2f ms per iteration, %.2f ms of it exposed "
               "after backward (%.0f%% hidden)", t->comm->algorithm, t->allreduce_buckets,
               1e3 * sum_allreduce / (double)steps_run, 1e3 * sum_exposed / (double)steps_run,
               sum_allreduce > 0 ? fmax(0.0, 100.0 * (1.0 - sum_exposed / sum_allreduce)) : 0.0);
    close_out(&o);
    bb_rundir_release(&rd);
    return s;
}
