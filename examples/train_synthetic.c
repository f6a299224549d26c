/* A program that embeds bigbatch through its public header only: a few
 * iterations of a small ResNet on synthetic data, an evaluation, a checkpoint,
 * and a second trainer that resumes from it and runs to the end.
 *   cc -std=c11 train_synthetic.c $(pkg-config --cflags --libs bigbatch)
 *   ./train_synthetic [DIR]      (the checkpoint goes to DIR, default .) */
#include <bigbatch.h>

#include <stdio.h>

static void print_message(bb_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level != BB_LOG_STATUS) fprintf(stderr, "bigbatch: %s\n", msg);
}

static int ok(bb_status s, const char *what)
{
    if (s != BB_OK) fprintf(stderr, "train_synthetic: %s: %s (%s)\n", what, bb_last_error(), bb_status_name(s));
    return s == BB_OK;
}

static void print_step(const bb_step_stats *st)
{
    const char *name;
    double value;
    printf("step");
    for (int i = 0; bb_step_metric(st, i, &name, &value); i++) printf(" %s=%.6g", name, value);
    printf("\n");
}

int main(int argc, char **argv)
{
    static const char *const settings[] = {
        "data", "synthetic", "synthetic-shape", "1x8x8", "synthetic-train", "256", "synthetic-test", "64",
        "synthetic-classes", "4", "model", "resnet8", "width", "4", "batch-size", "32", "worker-batch", "8",
        "threads", "2", "max-steps", "6", NULL};
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[1024];
    snprintf(path, sizeof path, "%s/example.safetensors", dir);
    bb_log_set(print_message, NULL);

    bb_config *cfg = NULL;
    if (!ok(bb_config_create(&cfg), "configuration")) return 1;
    for (int i = 0; settings[i]; i += 2)
        if (!ok(bb_config_set(cfg, settings[i], settings[i + 1]), settings[i])) { bb_config_destroy(cfg); return 1; }
    bb_trainer *t = NULL;
    int good = ok(bb_trainer_create(&t, cfg, NULL), "create");
    bb_config_destroy(cfg);  /* the trainer holds its own copy */
    bb_step_stats st;
    for (int i = 0; good && i < 3; i++)
        if ((good = ok(bb_trainer_step(t, &st), "step"))) print_step(&st);
    bb_eval_result r;
    if (good && (good = ok(bb_trainer_evaluate(t, &r), "evaluate")))
        printf("eval loss=%.6g top1_err=%.4f top5_err=%.4f count=%lld\n", r.loss, r.top1_err, r.top5_err, (long long)r.count);
    if (good) good = ok(bb_trainer_save(t, path), "save");
    bb_trainer_destroy(t);
    if (!good) return 1;

    /* a new trainer continues where the checkpoint stopped, with one setting changed */
    static const char *const overrides[] = {"log-every", "1", NULL};
    t = NULL;
    if (!ok(bb_trainer_resume(&t, path, overrides, NULL), "resume")) return 1;
    printf("resumed from iteration %lld of %lld\n", (long long)bb_trainer_iteration(t), (long long)bb_trainer_total_steps(t));
    while (good && bb_trainer_iteration(t) < bb_trainer_total_steps(t))
        if ((good = ok(bb_trainer_step(t, &st), "step"))) print_step(&st);
    if (good) printf("done after %lld iterations\n", (long long)bb_trainer_iteration(t));
    bb_trainer_destroy(t);
    return good ? 0 : 1;
}
