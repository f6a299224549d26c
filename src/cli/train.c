/* `bigbatch train`, `bigbatch eval` and `bigbatch schedule`. */
#include "cli/cli.h"

#include "comm/comm.h"
#include "train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *cmd, bb_comm *comm)
{
    if (!comm || comm->lead) fprintf(stderr, "bigbatch %s: %s\n", cmd, bb_last_error());
    return 1;
}

/* Under MPI a failure on one rank leaves the others waiting: print it and end
 * every rank. Failures every rank sees (divergence, signals, a refused run
 * directory that rank 0 shared, a watchdog stop, a replica mismatch, a
 * configuration refused once the data is known) are printed by the lead rank
 * only. */
static int fail_job(const char *cmd, bb_comm *comm, bb_status s)
{
    int shared = s == BB_ERR_NUMERIC || s == BB_ERR_INTERRUPTED || s == BB_ERR_REFUSED || s == BB_ERR_COMM ||
                 s == BB_ERR_INVALID;
    if (comm->size == 1 || comm->lead || shared) return fail(cmd, comm);
    fprintf(stderr, "bigbatch %s: rank %d: %s\n", cmd, comm->rank, bb_last_error());
    return 1;
}

/* Ends every rank. A rank that left a job-wide failure for the lead rank to
 * print gives it a moment first, so the abort does not cut the message. */
static void abort_job(bb_comm *comm, bb_status s, int rc)
{
    if (!comm->lead && (s == BB_ERR_COMM || s == BB_ERR_INVALID)) {
        struct timespec ts = {1, 500000000L};
        nanosleep(&ts, NULL);
    }
    comm->abort(comm, rc);
}

/* The configuration of a run: defaults (or a checkpoint's when resuming), then
 * the command line on top. */
static int load_config(const char *cmd, int argc, char **argv, bb_config *cfg, const char *const *extra,
                       const char **extra_vals, const char *ckpt_flag)
{
    bb_config_defaults(cfg);
    unsigned char seen[128] = {0};
    if (cli_parse(cmd, argc, argv, cfg, extra, extra_vals, seen) != 0) return 2;
    const char *ckpt = ckpt_flag;
    char autopath[sizeof cfg->resume];
    if (!ckpt && cfg->resume[0]) {
        ckpt = cfg->resume;
        if (!strcmp(ckpt, "auto")) {
            cfg->resume_auto = 1;
            snprintf(autopath, sizeof autopath, "%.480s/checkpoint.safetensors", cfg->out);
            if (access(autopath, F_OK) != 0) { cfg->resume[0] = 0; ckpt = NULL; }
            else { snprintf(cfg->resume, sizeof cfg->resume, "%s", autopath); ckpt = cfg->resume; }
        }
    }
    if (ckpt) {
        /* the checkpoint's configuration, with the flags given now on top */
        char resume[sizeof cfg->resume];
        snprintf(resume, sizeof resume, "%s", cfg->resume);
        if (bb_config_resumed(cfg, ckpt, seen) != BB_OK) return cli_refuse(cmd, "%s", bb_last_error()) - 1;
        snprintf(cfg->resume, sizeof cfg->resume, "%s", resume);
    }
    if (bb_config_validate(cfg) != BB_OK) return cli_refuse(cmd, "%s", bb_last_error());
    return 0;
}

int cli_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bigbatch train [flags]   (mpirun -np P bigbatch train ... for P processes)\n"
                   "Trains with the large-minibatch recipe; writes metrics and checkpoints to --out.\n\n");
            cli_print_flags(stdout);
            return 0;
        }
    bb_config cfg;
    int rc = load_config("train", argc, argv, &cfg, NULL, NULL, NULL);
    if (rc) return rc;
    bb_comm *comm = NULL;
    if (cli_comm_create(&comm, bb_allreduce_names[cfg.allreduce]) != BB_OK) return fail("train", NULL);
    bb_trainer *t = NULL;
    bb_status s = bb_trainer_start(&t, &cfg, comm);
    if (s == BB_OK) {
        cli_stop_on_signals();
        s = bb_trainer_run(t);
        cli_log_end();
    }
    if (s != BB_OK) rc = s == BB_ERR_INTERRUPTED ? 130 : 1;
    if (s == BB_ERR_INTERRUPTED && comm->rank == 0) fprintf(stderr, "bigbatch train: %s\n", bb_last_error());
    else if (s != BB_OK) fail_job("train", comm, s);
    else if (comm->rank == 0) fprintf(stderr, "bigbatch train: done; metrics and checkpoint in %s\n", cfg.out);
    bb_trainer_destroy(t);
    /* every rank stops by itself after these; after the others, end the job */
    if (s != BB_OK && s != BB_ERR_INTERRUPTED && s != BB_ERR_NUMERIC && s != BB_ERR_REFUSED && comm->size > 1)
        abort_job(comm, s, rc);
    bb_comm_destroy(comm);
    return rc;
}

int cli_eval(int argc, char **argv)
{
    static const char *const extra[] = {"checkpoint", NULL};
    const char *vals[1] = {NULL};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bigbatch eval --checkpoint FILE [--data-dir DIR] [--threads T]\n"
                   "Evaluates a checkpoint on its data set's test split (top-1 and top-5 error).\n");
            return 0;
        }
    bb_config cfg;
    /* find --checkpoint before loading the configuration it holds */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--checkpoint")) vals[0] = argv[i + 1];
        else if (!strncmp(argv[i], "--checkpoint=", 13)) vals[0] = argv[i] + 13;
    if (argc > 1 && !strncmp(argv[argc - 1], "--checkpoint=", 13)) vals[0] = argv[argc - 1] + 13;
    if (!vals[0]) return cli_refuse("eval", "--checkpoint FILE is required");
    int rc = load_config("eval", argc, argv, &cfg, extra, vals, vals[0]);
    if (rc) return rc;
    bb_comm *comm = NULL;
    if (cli_comm_create(&comm, bb_allreduce_names[cfg.allreduce]) != BB_OK) return fail("eval", NULL);
    bb_trainer *t = NULL;
    bb_eval_result r;
    bb_status s = bb_trainer_create_eval(&t, &cfg, comm, vals[0]);
    if (s == BB_OK) s = bb_trainer_load(t, vals[0]);
    if (s == BB_OK) s = bb_trainer_evaluate(t, &r);
    if (s != BB_OK) rc = fail_job("eval", comm, s);
    else if (comm->rank == 0)
        printf("checkpoint %s (iteration %lld)\n%s on %lld test samples: loss %.4f, top-1 error %.2f%% (accuracy %.2f%%), "
               "top-5 error %.2f%%\n", vals[0], (long long)bb_trainer_iteration(t), bb_data_names[cfg.data],
               (long long)r.count, r.loss, 100 * r.top1_err, 100 * (1 - r.top1_err), 100 * r.top5_err);
    bb_trainer_destroy(t);
    if (s != BB_OK && comm->size > 1) abort_job(comm, s, rc);
    bb_comm_destroy(comm);
    return rc;
}

int cli_schedule(int argc, char **argv)
{
    static const char *const extra[] = {"per", "samples", NULL};
    const char *vals[2] = {"epoch", NULL};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bigbatch schedule [--per epoch|iteration] [--samples N] [training flags]\n"
                   "Prints the learning rate a training configuration would use, without training.\n"
                   "--samples: training-set size (default: that of --data).\n");
            return 0;
        }
    bb_config cfg;
    int rc = load_config("schedule", argc, argv, &cfg, extra, vals, NULL);
    if (rc) return rc;
    long long n = 0;
    if (vals[1]) {
        char *end;
        n = strtoll(vals[1], &end, 10);
        if (*end || n < 1) { fprintf(stderr, "bigbatch schedule: --samples: expected a positive integer, got '%s'\n", vals[1]); return 2; }
    } else if (cfg.data == BB_DATA_FASHION_MNIST || cfg.data == BB_DATA_MNIST) n = 60000;
    else if (cfg.data == BB_DATA_CIFAR10 || cfg.data == BB_DATA_CIFAR100) n = 50000;
    else if (cfg.data == BB_DATA_SYNTHETIC) n = cfg.synthetic_train;
    else { fprintf(stderr, "bigbatch schedule: give --samples N for --data %s\n", bb_data_names[cfg.data]); return 2; }
    int per_iter = !strcmp(vals[0], "iteration");
    if (!per_iter && strcmp(vals[0], "epoch") != 0) {
        fprintf(stderr, "bigbatch schedule: --per: expected epoch or iteration, got '%s'\n", vals[0]);
        return 2;
    }
    bb_schedule sc;
    if (bb_schedule_from_config(&sc, &cfg, n) != BB_OK) return fail("schedule", NULL) + 1;
    int64_t total = (int64_t)(cfg.epochs * (double)sc.steps_per_epoch + 0.5);
    if (cfg.max_steps > 0 && cfg.max_steps < total) total = cfg.max_steps;
    printf("# kn %lld = %lld workers x %lld, %lld samples, %lld iterations/epoch, %lld total; peak lr %.6g (%s scaling of %g "
           "for %g), warmup %s %g epochs, %s decay\n", (long long)cfg.batch_size, (long long)bb_config_workers(&cfg),
           (long long)cfg.worker_batch, n, (long long)sc.steps_per_epoch, (long long)total, bb_schedule_peak(&sc),
           bb_lr_scaling_names[cfg.lr_scaling], cfg.lr, cfg.ref_batch, bb_warmup_names[cfg.warmup],
           sc.warmup == BB_WARMUP_NONE ? 0.0 : sc.warmup_epochs, bb_decay_names[cfg.decay]);
    if (per_iter) {
        printf("iteration\tepoch\tlr\n");
        for (int64_t i = 0; i < total; i++)
            printf("%lld\t%.4f\t%.9g\n", (long long)i, (double)i / (double)sc.steps_per_epoch, bb_schedule_lr(&sc, i));
    } else {
        printf("epoch\tfirst_iteration\tlr_first\tlr_last\n");
        for (int64_t e = 0; e * sc.steps_per_epoch < total; e++) {
            int64_t a = e * sc.steps_per_epoch, b = a + sc.steps_per_epoch - 1 < total - 1 ? a + sc.steps_per_epoch - 1 : total - 1;
            printf("%lld\t%lld\t%.9g\t%.9g\n", (long long)e, (long long)a, bb_schedule_lr(&sc, a), bb_schedule_lr(&sc, b));
        }
    }
    return 0;
}
