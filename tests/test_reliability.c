/* Reliability fixes, one test each: the in-memory readers are the file
 * readers; stale temporary files of dead writers are removed and nothing
 * else; checkpoint metadata is read strictly and a checkpoint loads all or
 * nothing; safetensors headers with repeated keys are refused; the device
 * trainer resumes bit for bit. */
#include "test.h"

#include "data/data_internal.h"
#include "gpu/gnet.h"
#include "train/engine.h"
#include "train/trainer_internal.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/safetensors.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static int write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(buf, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

TEST(reliability_memory_readers_match_file_readers)
{
    enum { N = 5, H = 4, W = 3 };
    unsigned char img[16 + N * H * W], lab[8 + N];
    put_be32(img, 0x803); put_be32(img + 4, N); put_be32(img + 8, H); put_be32(img + 12, W);
    for (int i = 0; i < N * H * W; i++) img[16 + i] = (unsigned char)(i * 29 + 3);
    put_be32(lab, 0x801); put_be32(lab + 4, N);
    for (int i = 0; i < N; i++) lab[8 + i] = (unsigned char)(i * 3 % 10);
    /* the labels gzipped: both paths detect it by content */
    uLongf zcap = compressBound(sizeof lab) + 64;
    unsigned char *z = malloc(zcap);
    z_stream zs = {0};
    CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    zs.next_in = lab; zs.avail_in = sizeof lab; zs.next_out = z; zs.avail_out = (uInt)zcap;
    CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    size_t zlen = zcap - zs.avail_out;
    deflateEnd(&zs);
    char ip[600], lp[600];
    const char *dir = bb_test_tmpdir();
    snprintf(ip, sizeof ip, "%s/img", dir);
    snprintf(lp, sizeof lp, "%s/lab.gz", dir);
    CHECK(write_bytes(ip, img, sizeof img) && write_bytes(lp, z, zlen));
    bb_dataset a, b;
    CHECK_OK(bb_dataset_load_idx(&a, ip, lp, "x"));
    CHECK_OK(bb_dataset_idx_from_memory(&b, img, sizeof img, z, zlen, "x"));
    CHECK(a.n == N && b.n == N && a.h == H && b.w == W);
    if (a.pixels && b.pixels) {
        CHECK(memcmp(a.pixels, b.pixels, N * H * W) == 0);
        CHECK(memcmp(a.labels, b.labels, N * sizeof *a.labels) == 0);
        CHECK(memcmp(&a.aug, &b.aug, sizeof a.aug) == 0);
    }
    bb_dataset_free(&a);
    bb_dataset_free(&b);
    /* the same failure, with the name standing in for the path */
    CHECK_FAILS(bb_dataset_idx_from_memory(&b, img, sizeof img - 1, z, zlen, "x"), BB_ERR_FORMAT, "<images>: truncated");
    CHECK(b.pixels == NULL);
    /* CIFAR-10: two records */
    unsigned char rec[2 * 3073];
    for (size_t i = 0; i < sizeof rec; i++) rec[i] = (unsigned char)(i * 13);
    rec[0] = 7; rec[3073] = 2;
    CHECK_OK(bb_dataset_cifar_from_memory(&b, rec, sizeof rec, 0, "c"));
    CHECK(b.n == 2 && b.labels && b.labels[0] == 7 && b.labels[1] == 2);
    if (b.pixels) CHECK(memcmp(b.pixels, rec + 1, 3072) == 0 && memcmp(b.pixels + 3072, rec + 3074, 3072) == 0);
    bb_dataset_free(&b);
    CHECK_FAILS(bb_dataset_cifar_from_memory(&b, rec, sizeof rec - 5, 0, "c"), BB_ERR_FORMAT, "not a positive multiple");
    free(z);
}

TEST(reliability_stale_temporary_files_of_dead_writers_are_removed)
{
    const char *dir = bb_test_tmpdir();
    char path[600], p[700];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    const long pids[] = {(long)dead, (long)getpid(), 1};  /* dead, this process, a live one (init) */
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s.tmp.%ld", path, pids[i]);
        CHECK(write_bytes(p, "x", 1));
    }
    const char *keep[] = {"checkpoint.safetensors.tmp.abc", "checkpoint.safetensors.tmp.", "other.tmp.12345678",
                          "checkpoint.safetensors"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, keep[i]);
        CHECK(write_bytes(p, "x", 1));
    }
    int removed = -1;
    CHECK_OK(bb_file_remove_stale_tmp(path, &removed));
    CHECK(removed == 2);
    struct stat st;
    snprintf(p, sizeof p, "%s.tmp.%ld", path, (long)dead);
    CHECK(stat(p, &st) != 0);
    snprintf(p, sizeof p, "%s.tmp.%ld", path, (long)getpid());
    CHECK(stat(p, &st) != 0);
    snprintf(p, sizeof p, "%s.tmp.1", path);
    CHECK(stat(p, &st) == 0);
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, keep[i]);
        CHECK_MSG(stat(p, &st) == 0, "%s was removed", keep[i]);
    }
    /* a directory that does not exist yet has nothing stale */
    snprintf(p, sizeof p, "%s/none/checkpoint.safetensors", dir);
    CHECK_OK(bb_file_remove_stale_tmp(p, &removed));
    CHECK(removed == 0);
}

/* a safetensors buffer with this header and `data_len` zero bytes of data */
static unsigned char *st_buffer(const char *header, size_t data_len, size_t *len)
{
    size_t hl = strlen(header);
    *len = 8 + hl + data_len;
    unsigned char *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    return b;
}

TEST(reliability_safetensors_repeated_keys_refused)
{
    bb_st_file f;
    size_t len;
    unsigned char *b = st_buffer("{\"__metadata__\":{\"a\":\"1\"},\"__metadata__\":{\"b\":\"2\",\"c\":\"3\",\"d\":\"4\"}}", 0, &len);
    CHECK_FAILS(bb_st_parse(&f, "m", b, len), BB_ERR_FORMAT, "__metadata__ appears twice");
    b = st_buffer("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                  "\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, &len);
    CHECK_FAILS(bb_st_parse(&f, "t", b, len), BB_ERR_FORMAT, "tensor 't': appears twice");
    b = st_buffer("{\"__metadata__\":{\"k\":\"v\"},\"t\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, &len);
    CHECK_OK(bb_st_parse(&f, "ok", b, len));
    CHECK(f.n == 1 && f.nmeta == 1 && bb_st_meta(&f, "k") && !strcmp(bb_st_meta(&f, "k"), "v"));
    bb_st_close(&f);
}

/* Writes a checkpoint of a small trainer, then edits one metadata value. */
TEST(reliability_checkpoint_metadata_strict_and_load_all_or_nothing)
{
    bb_dataset tr, te;
    CHECK_OK(bb_dataset_synthetic(&tr, &te, 64, 16, 1, 8, 8, 4, 1));
    bb_config c;
    bb_config_defaults(&c);
    bb_config_set(&c, "model", "resnet8");
    bb_config_set(&c, "width", "2");
    c.batch_size = 16;
    c.worker_batch = 8;
    c.threads = 1;
    bb_trainer *t = NULL;
    CHECK_OK(bb_trainer_create_with_data(&t, &c, NULL, &tr, &te));
    if (!t) return;
    bb_step_stats st;
    CHECK_OK(bb_trainer_step(t, &st));
    char path[600];
    snprintf(path, sizeof path, "%s/ck.safetensors", bb_test_tmpdir());
    const char *extra[] = {"metrics.jsonl", "123", NULL};
    CHECK_OK(bb_trainer_save_with(t, path, extra));
    bb_st_file f;
    CHECK_OK(bb_st_read(&f, path));
    long keep[3];
    CHECK_OK(bb_checkpoint_metric_lengths(&f, keep));
    CHECK(keep[0] == 123 && keep[1] == 0 && keep[2] == 0);
    /* metadata values a broken or hostile file might hold */
    static const struct { const char *key, *value, *needle; } bad[] = {
        {"step", "nan", "metadata 'step': expected an integer"},
        {"step", "1e300", "metadata 'step': expected an integer"},
        {"step", "-1", "metadata 'step': expected an integer"},
        {"step", "3x", "metadata 'step': expected an integer"},
        {"epoch_seen", "16", "metadata 'epoch_correct': expected an integer in [0, 16]"},  /* correct > seen */
        {"lr_prev", "inf", "metadata 'lr_prev': expected a finite number"},
        {"noise_ema_g2", "", "metadata 'noise_ema_g2': expected a finite number"},
        {"metrics.jsonl", "-5", "metadata 'metrics.jsonl': expected an integer"},
    };
    int64_t step_before = bb_trainer_iteration(t);
    float p0 = bb_trainer_params(t)[0];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bb_st_file g;
        CHECK_OK(bb_st_read(&g, path));
        for (int m = 0; m < g.nmeta; m++) {
            const char *k = g.meta[2 * m];
            const char *v = !strcmp(k, bad[i].key) ? bad[i].value
                          : !strcmp(bad[i].key, "epoch_seen") && !strcmp(k, "epoch_correct") ? "17" : NULL;
            if (v) { free(g.meta[2 * m + 1]); g.meta[2 * m + 1] = strdup(v); }
        }
        if (!strcmp(bad[i].key, "metrics.jsonl")) CHECK_FAILS(bb_checkpoint_metric_lengths(&g, keep), BB_ERR_FORMAT, bad[i].needle);
        else CHECK_FAILS(bb_trainer_load_from(t, &g), BB_ERR_FORMAT, bad[i].needle);
        CHECK(bb_trainer_iteration(t) == step_before);
        bb_st_close(&g);
    }
    bb_st_close(&f);
    /* a tensor of the wrong size: nothing of the trainer changes, not even the
     * tensors before it */
    CHECK_OK(bb_st_read(&f, path));
    bb_st_entry *last = NULL;
    for (int i = 0; i < f.n; i++)
        if (!strncmp(f.entries[i].name, "state/", 6)) last = &f.entries[i];
    CHECK(last != NULL);
    if (last) last->shape[0] += 1;
    bb_trainer_params(t)[0] = p0 + 1.0f;
    CHECK_FAILS(bb_trainer_load_from(t, &f), BB_ERR_FORMAT, "elements, expected");
    CHECK(bb_trainer_params(t)[0] == p0 + 1.0f);
    if (last) last->shape[0] -= 1;
    CHECK_OK(bb_trainer_load_from(t, &f));
    CHECK(bb_trainer_params(t)[0] == p0);
    bb_st_close(&f);
    bb_trainer_destroy(t);
    bb_dataset_free(&tr);
    bb_dataset_free(&te);
}

/* The device trainer (the GPU engine, here on its host backend) resumes bit
 * for bit too, from a checkpoint taken mid-epoch: the download before a save
 * and the upload after a load carry everything the run needs. */
TEST(reliability_device_trainer_resumes_bit_for_bit_on_the_host_backend)
{
    bb_dataset tr, te;
    CHECK_OK(bb_dataset_synthetic(&tr, &te, 512, 100, 1, 12, 12, 4, 3));
    bb_augment_default(&tr.aug, &tr);
    te.aug = tr.aug;
    bb_config c;
    bb_config_defaults(&c);
    bb_config_set(&c, "model", "resnet8");
    bb_config_set(&c, "width", "4");
    bb_config_set(&c, "warmup-epochs", "1");  /* lr changes every step */
    c.batch_size = 48;                        /* 10 iterations per epoch */
    c.worker_batch = 8;
    c.threads = 2;
    c.epochs = 2;
    char path[600];
    snprintf(path, sizeof path, "%s/dev.safetensors", bb_test_tmpdir());
    bb_trainer *t[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        bb_dev *dev = NULL;
        CHECK_OK(bb_dev_host_create(&dev, NULL));
        if (dev) CHECK_OK(bb_trainer_create_dev(&t[i], &c, NULL, &tr, &te, dev));
    }
    bb_step_stats st;
    if (t[0] && t[1] && t[2]) {
        for (int i = 0; i < 13; i++) CHECK_OK(bb_trainer_step(t[0], &st));  /* uninterrupted */
        for (int i = 0; i < 6; i++) CHECK_OK(bb_trainer_step(t[1], &st));
        CHECK_OK(bb_trainer_save(t[1], path));
        CHECK_OK(bb_trainer_load(t[2], path));
        CHECK(bb_trainer_iteration(t[2]) == 6);
        for (int i = 6; i < 13; i++) CHECK_OK(bb_trainer_step(t[2], &st));
        CHECK_OK(bb_trainer_download(t[0]));
        CHECK_OK(bb_trainer_download(t[2]));
        const bb_net *net = bb_trainer_net(t[0]);
        CHECK(memcmp(bb_trainer_params(t[0]), bb_trainer_params(t[2]), (size_t)net->param_count * 4) == 0);
        CHECK(memcmp(bb_trainer_momentum(t[0]), bb_trainer_momentum(t[2]), (size_t)net->param_count * 4) == 0);
        CHECK(memcmp(bb_trainer_state(t[0]), bb_trainer_state(t[2]), (size_t)net->state_count * 4) == 0);
    }
    for (int i = 0; i < 3; i++) bb_trainer_destroy(t[i]);
    bb_dataset_free(&tr);
    bb_dataset_free(&te);
}
