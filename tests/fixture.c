/* The shared test fixtures (fixture.h). */
#include "fixture.h"

#include "test.h"
#include "util/file.h"

#include <stdlib.h>
#include <string.h>

void fx_synthetic(fx_data *d, int64_t n_train, int64_t n_test, int64_t c, int64_t h, int64_t w, int64_t classes,
                  uint64_t seed)
{
    CHECK_OK(bb_dataset_synthetic(&d->train, &d->test, n_train, n_test, c, h, w, classes, seed));
    bb_augment_default(&d->train.aug, &d->train);
    d->test.aug = d->train.aug;
}

void fx_data_free(fx_data *d)
{
    bb_dataset_free(&d->train);
    bb_dataset_free(&d->test);
}

bb_config fx_config(const char *model, int64_t width, int64_t kn, int64_t n, int64_t threads)
{
    bb_config c;
    bb_config_defaults(&c);
    CHECK_OK(bb_config_set(&c, "model", model));
    c.width = width;
    c.batch_size = kn;
    c.worker_batch = n;
    c.threads = threads;
    c.epochs = 2;
    return c;
}

float *fx_train_state(const bb_config *cfg, fx_data *d, int steps, int64_t *len, double *b_noise)
{
    bb_trainer *t = NULL;
    *len = 0;
    CHECK_OK(bb_trainer_create_with_data(&t, cfg, NULL, &d->train, &d->test));
    if (!t) return NULL;
    bb_step_stats st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < steps; i++) CHECK_OK(bb_trainer_step(t, &st));
    if (b_noise) *b_noise = st.b_noise;
    const bb_net *net = bb_trainer_net(t);
    int64_t P = net->param_count, S = net->state_count;
    float *out = malloc((size_t)(2 * P + S) * sizeof *out);
    CHECK(out != NULL);
    if (out) {
        memcpy(out, bb_trainer_params(t), (size_t)P * sizeof *out);
        memcpy(out + P, bb_trainer_momentum(t), (size_t)P * sizeof *out);
        memcpy(out + 2 * P, bb_trainer_state(t), (size_t)S * sizeof *out);
        *len = 2 * P + S;
    }
    bb_trainer_destroy(t);
    return out;
}

double fx_rel_l2(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

double fx_rel_max(const float *a, const float *b, int64_t n)
{
    double worst = 0, big = 0;
    for (int64_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        big = fmax(big, fabs(b[i]));
    }
    return big > 0 ? worst / big : worst;
}

char *fx_slurp(const char *path)
{
    unsigned char *b = NULL;
    size_t n = 0;
    if (bb_file_read_all(path, (size_t)1 << 24, &b, &n) != BB_OK) return NULL;
    return (char *)b;
}
