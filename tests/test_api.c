/* The public interface (include/bigbatch.h), used only through that header:
 * configuration by key, a few steps, a checkpoint, resuming in one call (bit
 * for bit the same next step as an uninterrupted run), the metrics by name and
 * the message callback. */
#include "test.h"

#include "bigbatch.h"

#include <stdlib.h>
#include <string.h>

static const char *const tiny[] = {
    "data", "synthetic", "synthetic-shape", "1x8x8", "synthetic-train", "128", "synthetic-test", "32",
    "synthetic-classes", "4", "model", "resnet8", "width", "4", "batch-size", "32", "worker-batch", "8",
    "threads", "2", "epochs", "2", NULL};

static bb_config *tiny_config(void)
{
    bb_config *c = NULL;
    CHECK_OK(bb_config_create(&c));
    if (!c) return NULL;
    for (int i = 0; tiny[i]; i += 2) CHECK_OK(bb_config_set(c, tiny[i], tiny[i + 1]));
    return c;
}

static double metric(const bb_step_stats *st, const char *want)
{
    const char *name;
    double v;
    for (int i = 0; bb_step_metric(st, i, &name, &v); i++)
        if (!strcmp(name, want)) return v;
    return NAN;
}

TEST(api_config)
{
    bb_config *c = tiny_config();
    if (!c) return;
    char buf[64];
    CHECK_OK(bb_config_value(c, "batch-size", buf, sizeof buf));
    CHECK(!strcmp(buf, "32"));
    CHECK_OK(bb_config_value(c, "lr", buf, sizeof buf));
    CHECK(atof(buf) > 0);
    CHECK_FAILS(bb_config_value(c, "no-such-key", buf, sizeof buf), BB_ERR_INVALID, "no-such-key");
    CHECK_FAILS(bb_config_value(c, "model", buf, 3), BB_ERR_INVALID, "buffer");
    CHECK_FAILS(bb_config_set(c, "batch-size", "many"), BB_ERR_INVALID, "integer");
    CHECK_OK(bb_config_value(c, "batch-size", buf, sizeof buf));
    CHECK(!strcmp(buf, "32"));  /* a refused value leaves the old one */
    int n = 0, found = 0;
    const char *help = NULL;
    for (const char *k; (k = bb_config_key(n, &help)) != NULL; n++) {
        found += !strcmp(k, "worker-batch");
        CHECK(help && help[0]);
    }
    CHECK(n > 30 && found == 1);
    CHECK(bb_config_key(-1, NULL) == NULL);
    CHECK_OK(bb_config_set(c, "worker-batch", "7"));
    CHECK_FAILS(bb_config_validate(c), BB_ERR_INVALID, "worker-batch");
    bb_config_destroy(c);
    bb_config_destroy(NULL);
    CHECK(!strcmp(bb_status_name(BB_ERR_IO), "i/o error"));
}

typedef struct { int lines, infos; char first[256]; } log_seen;

static void collect(bb_log_level level, const char *msg, void *user)
{
    log_seen *s = user;
    if (s->lines++ == 0) snprintf(s->first, sizeof s->first, "%s", msg);
    s->infos += level == BB_LOG_INFO;
    if (strchr(msg, '\n')) s->lines += 1000;  /* one line per message */
}

TEST(api_steps_save_resume)
{
    bb_config *c = tiny_config();
    if (!c) return;
    bb_trainer *a = NULL, *b = NULL;
    CHECK_OK(bb_trainer_create(&a, c, NULL));
    bb_config_destroy(c);  /* the trainer keeps its own copy */
    if (!a) return;
    CHECK(bb_trainer_steps_per_epoch(a) == 4 && bb_trainer_total_steps(a) == 8);
    bb_step_stats st;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(bb_trainer_step(a, &st));
        CHECK(st.step == i && metric(&st, "step") == i);
    }
    CHECK(metric(&st, "loss") == st.loss && metric(&st, "lr") == st.lr && metric(&st, "t_step") == st.t_step);
    CHECK(isnan(metric(&st, "no-such-metric")));
    char path[600];
    snprintf(path, sizeof path, "%s/api.safetensors", bb_test_tmpdir());
    CHECK_OK(bb_trainer_save(a, path));
    bb_step_stats next_a, next_b;
    CHECK_OK(bb_trainer_step(a, &next_a));
    bb_eval_result ra, rb;
    CHECK_OK(bb_trainer_evaluate(a, &ra));
    CHECK(ra.count == 32 && ra.top1_err >= 0 && ra.top1_err <= 1);

    /* a value that is not part of the mathematics may change on resume */
    const char *const over[] = {"max-steps", "5", NULL};
    CHECK_OK(bb_trainer_resume(&b, path, over, NULL));
    if (b) {
        char buf[64];
        CHECK(bb_trainer_iteration(b) == 3);
        CHECK_OK(bb_config_value(bb_trainer_config(b), "max-steps", buf, sizeof buf));
        CHECK(!strcmp(buf, "5"));
        CHECK(bb_trainer_total_steps(b) == 5);
        CHECK_OK(bb_trainer_step(b, &next_b));
        CHECK(next_b.step == 3 && next_b.loss == next_a.loss && next_b.grad_norm == next_a.grad_norm);
        CHECK_OK(bb_trainer_evaluate(b, &rb));
        CHECK(rb.loss == ra.loss && rb.top1_err == ra.top1_err);
    }
    bb_trainer_destroy(b);
    /* one that is, is refused with a message naming it; nothing is returned */
    const char *const math[] = {"batch-size", "64", NULL};
    b = (bb_trainer *)1;
    CHECK_FAILS(bb_trainer_resume(&b, path, math, NULL), BB_ERR_INVALID, "batch-size");
    CHECK(b == NULL);
    const char *const odd[] = {"max-steps", NULL};
    CHECK_FAILS(bb_trainer_resume(&b, path, odd, NULL), BB_ERR_INVALID, "no value");
    CHECK_FAILS(bb_trainer_resume(&b, "/nonexistent/x.safetensors", NULL, NULL), BB_ERR_IO, "nonexistent");

    /* the whole run reports through the callback, one line per message */
    log_seen seen = {0};
    bb_log_set(collect, &seen);
    const char *const rest[] = {"max-steps", "6", "out", bb_test_tmpdir(), NULL};
    CHECK_OK(bb_trainer_resume(&b, path, rest, NULL));
    if (b) CHECK_OK(bb_trainer_run(b));
    bb_log_set(NULL, NULL);
    CHECK_MSG(seen.lines >= 2 && seen.lines < 1000 && seen.infos >= 1, "%d lines, %d info", seen.lines, seen.infos);
    CHECK_MSG(strstr(seen.first, "parameters") != NULL, "first message: %s", seen.first);
    if (b) CHECK(bb_trainer_iteration(b) == 6);
    bb_trainer_destroy(b);
    bb_trainer_destroy(a);
    bb_trainer_destroy(NULL);
}
