/* Sweeps: the plan's lists, the shared-configuration check, resuming (skip
 * finished runs, continue unfinished ones bit for bit), diverged runs, the
 * table and the files it writes. Tiny synthetic runs: each sweep is a second
 * or less. */
#include "test.h"
#include "fixture.h"

#include "sweep/sweep.h"
#include "train/trainer.h"
#include "util/file.h"
#include "util/json.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(sweep_size_lists)
{
    int64_t v[BB_SWEEP_MAX];
    CHECK(bb_sweep_parse_list("256:2048", v, BB_SWEEP_MAX, "sizes") == 4);
    CHECK(v[0] == 256 && v[1] == 512 && v[2] == 1024 && v[3] == 2048);
    CHECK(bb_sweep_parse_list("512,96,256:256", v, BB_SWEEP_MAX, "sizes") == 3);
    CHECK(v[0] == 96 && v[1] == 256 && v[2] == 512);  /* sorted */
    CHECK(bb_sweep_parse_list("256,abc", v, BB_SWEEP_MAX, "sizes") == -1);
    CHECK(strstr(bb_last_error(), "--sizes") != NULL);
    CHECK(bb_sweep_parse_list("0", v, BB_SWEEP_MAX, "sizes") == -1);
    CHECK(bb_sweep_parse_list("4:2", v, BB_SWEEP_MAX, "sizes") == -1);
    CHECK(bb_sweep_parse_list("64,64", v, BB_SWEEP_MAX, "seeds") == -1);
    CHECK(strstr(bb_last_error(), "twice") != NULL);
    CHECK(bb_sweep_parse_list("", v, BB_SWEEP_MAX, "sizes") == -1);
}

TEST(config_every_default_reads_back)
{
    /* what config.json, sweep.json and checkpoints store must parse again */
    bb_config a, b;
    bb_config_defaults(&a);
    bb_config_defaults(&b);
    for (int i = 0; i < bb_config_nfields; i++) {
        char v[600];
        bb_config_get(&a, &bb_config_fields[i], v, sizeof v);
        CHECK_MSG(bb_config_set(&b, bb_config_fields[i].name, v) == BB_OK, "--%s '%s': %s", bb_config_fields[i].name, v,
                  bb_last_error());
    }
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(bb_config_set(&b, "shortcut", "C") == BB_ERR_INVALID);
}

TEST(sweep_variants_map_back)
{
    for (int i = 0; i < bb_sweep_nvariants; i++) {
        bb_sweep_spec s;
        memset(&s, 0, sizeof s);
        bb_config_defaults(&s.base);
        bb_config c;
        char name[128];
        bb_sweep_run_config(&s, 1024, i, 3, &c, name, sizeof name);
        CHECK(bb_sweep_variant_of(&c, name) == i);
        /* the configuration alone tells every variant but a longer warmup apart */
        if (bb_sweep_variants[i].warmup_factor == 1) CHECK(bb_sweep_variant_of(&c, NULL) == i);
        CHECK(c.batch_size == 1024 && c.seed == 3);
        CHECK(strstr(name, bb_sweep_variants[i].name) && !strncmp(name, "kn01024-", 8));
    }
    CHECK(bb_sweep_variant_find("gradual") == 0 && bb_sweep_variant_find("nope") == -1);
}

/* each variant beyond the paper sets the training flags it names, and only those */
TEST(sweep_variants_beyond_the_paper)
{
    bb_sweep_spec s;
    memset(&s, 0, sizeof s);
    bb_config_defaults(&s.base);
    bb_config_set(&s.base, "epochs", "30");
    bb_config_set(&s.base, "lars-eta", "0.002");
    bb_config c, g;
    char name[128];
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("gradual"), 1, &g, name, sizeof name);
    CHECK(!g.lars && g.label_smoothing == 0 && bb_config_warmup_epochs(&g) == 5);
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("lars"), 1, &c, name, sizeof name);
    CHECK(c.lars == 1 && c.lars_eta == 0.002 && c.label_smoothing == 0 && bb_config_warmup_epochs(&c) == 5);
    CHECK(c.lr_scaling == BB_SCALE_LINEAR && c.warmup == BB_WARMUP_GRADUAL && !strcmp(name, "kn02048-lars-s1"));
    CHECK(!c.lars_clip && bb_sweep_variant_of(&c, NULL) == bb_sweep_variant_find("lars"));
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("larc"), 1, &c, name, sizeof name);
    CHECK(c.lars == 1 && c.lars_clip == 1 && c.lars_eta == 0.002 && bb_config_warmup_epochs(&c) == 5);
    CHECK(bb_sweep_variant_of(&c, name) == bb_sweep_variant_find("larc") &&
          bb_sweep_variant_of(&c, NULL) == bb_sweep_variant_find("larc"));
    CHECK(bb_sweep_variant_of(&c, "kn02048-lars-s1") == bb_sweep_variant_find("larc"));  /* flags decide */
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("label-smoothing"), 1, &c, name, sizeof name);
    CHECK(!c.lars && c.label_smoothing == 0.1 && bb_config_warmup_epochs(&c) == 5);
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("warmup-long"), 1, &c, name, sizeof name);
    CHECK(!c.lars && c.label_smoothing == 0 && bb_config_warmup_epochs(&c) == 10);
    CHECK(bb_sweep_variant_of(&c, name) == bb_sweep_variant_find("warmup-long"));
    CHECK(bb_sweep_variant_of(&c, NULL) == bb_sweep_variant_find("gradual"));
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("long-ls"), 1, &c, name, sizeof name);
    CHECK(!c.lars && c.label_smoothing == 0.1 && bb_config_warmup_epochs(&c) == 10);
    CHECK(bb_sweep_variant_of(&c, name) == bb_sweep_variant_find("long-ls"));
    CHECK(bb_sweep_variant_of(&c, NULL) == bb_sweep_variant_find("label-smoothing"));
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("sqrt-ls"), 1, &c, name, sizeof name);
    CHECK(!c.lars && c.label_smoothing == 0.1 && c.lr_scaling == BB_SCALE_SQRT && bb_config_warmup_epochs(&c) == 5);
    CHECK(bb_sweep_variant_of(&c, name) == bb_sweep_variant_find("sqrt-ls") &&
          bb_sweep_variant_of(&c, NULL) == bb_sweep_variant_find("sqrt-ls"));
    c.lr_scaling = g.lr_scaling;
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("lars-long-ls"), 1, &c, name, sizeof name);
    CHECK(c.lars == 1 && c.label_smoothing == 0.1 && bb_config_warmup_epochs(&c) == 10);
    /* everything else is the shared configuration */
    c.lars = g.lars;
    c.label_smoothing = g.label_smoothing;
    c.warmup_epochs = g.warmup_epochs;
    memcpy(c.out, g.out, sizeof c.out);  /* the run directory names the variant */
    CHECK(memcmp(&c, &g, sizeof c) == 0);
    /* the longer warmup stops at half the run: 8 epochs, shared warmup 3 -> 4, not 6 */
    bb_config_set(&s.base, "epochs", "8");
    bb_config_set(&s.base, "warmup-epochs", "3");
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("warmup-long"), 1, &c, name, sizeof name);
    CHECK(bb_config_warmup_epochs(&c) == 4);
    /* ... and is never shorter than the recipe's: shared 6 of 8 epochs stays 6 */
    bb_config_set(&s.base, "warmup-epochs", "6");
    bb_sweep_run_config(&s, 2048, bb_sweep_variant_find("warmup-long"), 1, &c, name, sizeof name);
    CHECK(bb_config_warmup_epochs(&c) == 6);
    /* no warmup at or below the reference minibatch, whatever the variant */
    bb_sweep_run_config(&s, 256, bb_sweep_variant_find("warmup-long"), 1, &c, name, sizeof name);
    CHECK(bb_config_warmup_epochs(&c) == 0);
    /* a LARS run trained outside a sweep is recognized by its flags */
    bb_config_defaults(&c);
    c.lars = 1;
    CHECK(bb_sweep_variant_of(&c, "my-run") == bb_sweep_variant_find("lars"));
    /* a run name that names a variant its flags do not have falls back to the flags */
    CHECK(bb_sweep_variant_of(&g, "kn02048-lars-s1") == bb_sweep_variant_find("gradual"));
}

TEST(sweep_variant_lists)
{
    int v[BB_SWEEP_MAX];
    CHECK(bb_sweep_parse_variants("paper", v, BB_SWEEP_MAX) == 5);
    CHECK(v[0] == 0 && v[4] == bb_sweep_variant_find("unscaled-lr"));
    int n = bb_sweep_parse_variants("beyond", v, BB_SWEEP_MAX);
    CHECK(n == 7 && v[0] == bb_sweep_variant_find("lars") && v[1] == bb_sweep_variant_find("larc") &&
          v[4] == bb_sweep_variant_find("long-ls") && v[6] == bb_sweep_variant_find("lars-long-ls"));
    CHECK(bb_sweep_parse_variants("all", v, BB_SWEEP_MAX) == bb_sweep_nvariants);
    n = bb_sweep_parse_variants("gradual,lars,warmup-long,label-smoothing,lars", v, BB_SWEEP_MAX);
    CHECK(n == 4 && v[0] == 0 && v[1] == bb_sweep_variant_find("lars") && v[3] == bb_sweep_variant_find("label-smoothing"));
    CHECK(bb_sweep_parse_variants("gradual,paper", v, BB_SWEEP_MAX) == 5);  /* no duplicates */
    CHECK(bb_sweep_parse_variants("lars,nope", v, BB_SWEEP_MAX) == -1);
    CHECK(strstr(bb_last_error(), "'nope'") && strstr(bb_last_error(), "warmup-long"));
    CHECK(bb_sweep_parse_variants("", v, BB_SWEEP_MAX) == -1);
}

static bb_sweep_spec tiny_spec(const char *dir)
{
    bb_sweep_spec s;
    memset(&s, 0, sizeof s);
    bb_config_defaults(&s.base);
    bb_config_set(&s.base, "data", "synthetic");
    bb_config_set(&s.base, "synthetic-shape", "1x8x8");
    bb_config_set(&s.base, "synthetic-train", "256");
    bb_config_set(&s.base, "synthetic-test", "64");
    bb_config_set(&s.base, "synthetic-classes", "4");
    bb_config_set(&s.base, "model", "resnet8");
    bb_config_set(&s.base, "width", "4");
    bb_config_set(&s.base, "worker-batch", "8");
    bb_config_set(&s.base, "ref-batch", "16");
    bb_config_set(&s.base, "warmup-epochs", "1");
    bb_config_set(&s.base, "epochs", "2");
    bb_config_set(&s.base, "threads", "2");
    bb_config_set(&s.base, "out", dir);
    s.sizes[0] = 16;
    s.sizes[1] = 32;
    s.nsizes = 2;
    s.seeds[0] = 1;
    s.nseeds = 1;
    s.variants[0] = 0;
    s.nvariants = 1;
    return s;
}

/* bb_sweep_run with the trainer's progress lines out of the test log */
static bb_status run_quiet(const bb_sweep_spec *s, bb_comm *comm, bb_sweep_tally *t)
{
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0) dup2(null, 2);
    bb_status st = bb_sweep_run(s, comm, t);
    fflush(stderr);
    if (saved >= 0) { dup2(saved, 2); close(saved); }
    if (null >= 0) close(null);
    return st;
}

/* the columns of iters.csv that depend only on the mathematics (not on timing) */
static int same_math(const char *a_dir, const char *b_dir)
{
    bb_sweep_run_result a, b;
    if (bb_sweep_read_run(a_dir, &a) != BB_OK) return 0;
    if (bb_sweep_read_run(b_dir, &b) != BB_OK) { bb_csv_free(&a.epochs); bb_csv_free(&a.iters); return 0; }
    int ok = a.iters.nrows == b.iters.nrows && a.epochs.nrows == b.epochs.nrows && a.iters.nrows > 0;
    const char *cols[] = {"step", "loss", "err", "lr", "grad_norm"};
    for (int64_t i = 0; ok && i < a.iters.nrows; i++)
        for (int c = 0; c < 5; c++)
            ok &= bb_csv_at(&a.iters, i, bb_csv_col(&a.iters, cols[c])) == bb_csv_at(&b.iters, i, bb_csv_col(&b.iters, cols[c]));
    const char *ecols[] = {"epoch", "train_loss", "train_err", "test_loss", "test_err"};
    for (int64_t i = 0; ok && i < a.epochs.nrows; i++)
        for (int c = 0; c < 5; c++)
            ok &= bb_csv_at(&a.epochs, i, bb_csv_col(&a.epochs, ecols[c])) == bb_csv_at(&b.epochs, i, bb_csv_col(&b.epochs, ecols[c]));
    bb_csv_free(&a.epochs); bb_csv_free(&a.iters); bb_csv_free(&b.epochs); bb_csv_free(&b.iters);
    return ok;
}

TEST(sweep_resumes_and_skips)
{
    char ref[600], dir[600], path[800];
    snprintf(ref, sizeof ref, "%s", bb_test_tmpdir());
    snprintf(dir, sizeof dir, "%s", bb_test_tmpdir());
    bb_comm *comm = NULL;
    CHECK_OK(bb_comm_single(&comm));
    if (!comm) return;
    bb_sweep_tally t;
    /* the reference: uninterrupted */
    bb_sweep_spec s = tiny_spec(ref);
    CHECK_OK(run_quiet(&s, comm, &t));
    CHECK(t.planned == 2 && t.finished == 2 && t.skipped == 0);

    /* interrupted after 5 iterations of each run (mid-epoch: 16 and 8 per epoch) */
    s = tiny_spec(dir);
    s.base.max_steps = 5;
    CHECK_OK(run_quiet(&s, comm, &t));
    CHECK(t.finished == 0 && t.unfinished == 2);
    snprintf(path, sizeof path, "%s/runs/kn00016-gradual-s1/done.json", dir);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/runs/kn00016-gradual-s1/checkpoint.safetensors", dir);
    CHECK(access(path, F_OK) == 0);
    /* the table shows them as unfinished */
    bb_sweep_results res;
    CHECK_OK(bb_sweep_collect(dir, &res));
    CHECK(res.is_sweep && res.nruns == 2 && !res.runs[0].done && res.runs[0].steps_done == 5);
    bb_sweep_results_free(&res);

    /* continued: both resume from their checkpoints and finish */
    s.base.max_steps = 0;
    CHECK_OK(run_quiet(&s, comm, &t));
    CHECK(t.finished == 2 && t.skipped == 0 && t.unfinished == 0);
    for (int i = 0; i < 2; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/runs/kn%05d-gradual-s1", ref, 16 << i);
        snprintf(b, sizeof b, "%s/runs/kn%05d-gradual-s1", dir, 16 << i);
        CHECK_MSG(same_math(a, b), "%s differs from the uninterrupted run", b);
    }
    snprintf(path, sizeof path, "%s/runs/kn00032-gradual-s1/done.json", dir);
    struct stat st0, st1;
    CHECK(stat(path, &st0) == 0);

    /* run again: everything is skipped, nothing rewritten */
    CHECK_OK(run_quiet(&s, comm, &t));
    CHECK(t.skipped == 2 && t.finished == 0);
    CHECK(stat(path, &st1) == 0 && st0.st_mtime == st1.st_mtime && st0.st_size == st1.st_size);
    char *done = fx_slurp(path);
    CHECK(done && strstr(done, "\"status\":\"done\"") && strstr(done, "\"kn\":32"));
    free(done);

    /* another seed and the ablations join the same directory */
    s.seeds[0] = 2;
    s.sizes[0] = 32;
    s.nsizes = 1;
    s.nvariants = 0;
    for (int i = 0; i < bb_sweep_nvariants; i++) s.variants[s.nvariants++] = i;
    CHECK_OK(run_quiet(&s, comm, &t));
    CHECK(t.finished == bb_sweep_nvariants);
    CHECK_OK(bb_sweep_collect(dir, &res));
    CHECK(res.nruns == 2 + bb_sweep_nvariants);
    bb_sweep_row *rows = NULL;
    int n = bb_sweep_rows(&res, &rows, NULL);
    CHECK(n == 1 + bb_sweep_nvariants);
    /* gradual at 32: two seeds, mean and sample standard deviation of their final errors */
    double e1 = NAN, e2 = NAN;
    for (int i = 0; i < res.nruns; i++)
        if (res.runs[i].cfg.batch_size == 32 && res.runs[i].variant == 0)
            *(res.runs[i].cfg.seed == 1 ? &e1 : &e2) = res.runs[i].final_test_err;
    for (int i = 0; rows && i < n; i++) {
        if (rows[i].kn != 32 || rows[i].variant != 0) continue;
        CHECK(rows[i].finished == 2);
        CHECK_NEAR(rows[i].test_mean, (e1 + e2) / 2, 1e-12);
        CHECK_NEAR(rows[i].test_std, fabs(e1 - e2) / sqrt(2.0), 1e-12);
        CHECK_NEAR(rows[i].lr, 0.2, 1e-12);  /* 0.1 x 32 / 16 */
    }
    free(rows);
    CHECK_OK(bb_sweep_write_summary(&res, NULL));
    static const char *files[] = {"summary.md", "summary.csv", "summary.json", "curves.csv", "curves.json"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        char *text = fx_slurp(path);
        CHECK_MSG(text && strlen(text) > 50, "%s", path);
        if (text && strstr(files[i], ".json")) {
            bb_json *j = NULL;
            CHECK_OK(bb_json_parse(text, strlen(text), path, &j));
            bb_json_free(j);
        }
        if (text && !strcmp(files[i], "summary.md")) CHECK(strstr(text, "| 32 | sqrt-lr | 0.1414 |") != NULL);
        free(text);
    }
    bb_sweep_results_free(&res);
    bb_comm_destroy(comm);
}

TEST(sweep_refuses_a_changed_configuration)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", bb_test_tmpdir());
    bb_comm *comm = NULL;
    CHECK_OK(bb_comm_single(&comm));
    if (!comm) return;
    bb_sweep_tally t;
    bb_sweep_spec s = tiny_spec(dir);
    s.base.max_steps = 1;
    CHECK_OK(run_quiet(&s, comm, &t));
    bb_config_set(&s.base, "epochs", "3");
    CHECK_FAILS(run_quiet(&s, comm, &t), BB_ERR_INVALID, "--epochs 2");
    /* sizes larger than the training set are refused before any run */
    s = tiny_spec(dir);
    s.sizes[1] = 512;
    CHECK_FAILS(run_quiet(&s, comm, &t), BB_ERR_INVALID, "larger than the 256 training samples");
    bb_comm_destroy(comm);
}

TEST(sweep_records_a_diverged_run_and_goes_on)
{
    char dir[600], path[800];
    snprintf(dir, sizeof dir, "%s", bb_test_tmpdir());
    bb_comm *comm = NULL;
    CHECK_OK(bb_comm_single(&comm));
    if (!comm) return;
    bb_sweep_tally t;
    bb_sweep_spec s = tiny_spec(dir);
    s.base.lr = 1e5;
    s.variants[0] = bb_sweep_variant_find("no-warmup");
    CHECK_OK(run_quiet(&s, comm, &t));
    CHECK(t.diverged == 2 && t.finished == 0);
    snprintf(path, sizeof path, "%s/runs/kn00016-no-warmup-s1/done.json", dir);
    char *text = fx_slurp(path);
    CHECK(text && strstr(text, "\"status\":\"diverged\"") && strstr(text, "non-finite"));
    free(text);
    CHECK_OK(run_quiet(&s, comm, &t));
    CHECK(t.skipped == 2);
    bb_sweep_results res;
    CHECK_OK(bb_sweep_collect(dir, &res));
    bb_sweep_row *rows = NULL;
    int n = bb_sweep_rows(&res, &rows, NULL);
    CHECK(n == 2 && rows && rows[0].diverged == 1 && rows[0].finished == 0);
    free(rows);
    bb_sweep_results_free(&res);
    bb_comm_destroy(comm);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

TEST(sweep_csv_reader)
{
    char path[600];
    snprintf(path, sizeof path, "%s/t.csv", bb_test_tmpdir());
    bb_csv t;
    /* a file its writer has not flushed yet: no columns, no rows */
    write_text(path, "");
    CHECK_OK(bb_csv_read(path, &t));
    CHECK(t.nrows == 0 && bb_csv_col(&t, "step") < 0 && isnan(bb_csv_at(&t, 0, 0)));
    bb_csv_free(&t);
    write_text(path, "step,err");
    CHECK_OK(bb_csv_read(path, &t));
    CHECK(t.nrows == 0);
    bb_csv_free(&t);
    /* a last line cut short is ignored; nan and empty cells are NAN */
    write_text(path, "step,err,lr\n0,0.5,nan\n1,,0.1\n2,0.2");
    CHECK_OK(bb_csv_read(path, &t));
    CHECK(t.nrows == 2 && t.ncols == 3 && bb_csv_col(&t, "lr") == 2);
    CHECK(bb_csv_at(&t, 0, 1) == 0.5 && isnan(bb_csv_at(&t, 0, 2)) && isnan(bb_csv_at(&t, 1, 1)));
    CHECK(bb_csv_at(&t, 1, 2) == 0.1);
    bb_csv_free(&t);
    write_text(path, "step,err\n0,0.5\n1,x\n");
    CHECK_FAILS(bb_csv_read(path, &t), BB_ERR_FORMAT, "line 3, column 'err'");
    write_text(path, "step,err\n0,0.5,7\n");
    CHECK_FAILS(bb_csv_read(path, &t), BB_ERR_FORMAT, "line 2");
}
