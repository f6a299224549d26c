/* Run-directory ownership (rundir.h): the lock, the rules about an existing
 * run, and the clean-up of a failed start. */
#include "train/rundir.h"

#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the files whose presence means the directory holds a run */
static const char *const run_files[] = {"config.json", "metrics.jsonl", "iters.csv", "epochs.csv", "checkpoint.safetensors"};
enum { NFILES = sizeof run_files / sizeof run_files[0], CKPT = NFILES - 1 };

static void file_path(const bb_rundir *r, int i, char *buf, size_t cap) { snprintf(buf, cap, "%s/%s", r->dir, run_files[i]); }

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* rmdir from the run directory up to the topmost one this process created;
 * a directory that is not empty stays */
static void remove_created_dirs(bb_rundir *r)
{
    size_t top = strlen(r->created);
    if (!top) return;
    char p[sizeof r->dir];
    snprintf(p, sizeof p, "%s", r->dir);
    for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--) p[n - 1] = 0;
    while (strlen(p) >= top && rmdir(p) == 0) {
        char *slash = strrchr(p, '/');
        if (!slash || strlen(p) == top) break;
        while (slash > p && slash[-1] == '/') slash--;
        *slash = 0;
    }
    r->created[0] = 0;
}

bb_status bb_rundir_claim(bb_rundir *r, const bb_config *cfg)
{
    memset(r, 0, sizeof *r);
    r->lock.fd = -1;
    if (snprintf(r->dir, sizeof r->dir, "%s", cfg->out) >= (int)sizeof r->dir)
        return bb_fail(BB_ERR_INVALID, "--out %s: path too long", cfg->out);
    BB_TRY(bb_mkdirs_new(r->dir, r->created, sizeof r->created));
    bb_status s = bb_lock_take(&r->lock, r->dir, "train");
    if (s != BB_OK) {
        remove_created_dirs(r);
        return s;
    }
    char held[200] = "", path[700];
    for (int i = 0; i < NFILES; i++) {
        struct stat st;
        file_path(r, i, path, sizeof path);
        if (lstat(path, &st) != 0) continue;
        r->existed |= 1u << i;
        snprintf(held + strlen(held), sizeof held - strlen(held), "%s%s", held[0] ? ", " : "", run_files[i]);
    }
    int has_ckpt = (r->existed >> CKPT) & 1;
    file_path(r, CKPT, path, sizeof path);
    r->own_checkpoint = cfg->resume[0] && has_ckpt && same_file(cfg->resume, path);
    if (!r->existed || r->own_checkpoint || cfg->overwrite || (cfg->resume_auto && !has_ckpt)) {
        /* the replaced run's checkpoint must not be resumed with the new run's metrics */
        if (cfg->overwrite && has_ckpt && !r->own_checkpoint && unlink(path) != 0 && errno != ENOENT) {
            s = bb_fail(BB_ERR_IO, "%s: cannot remove the checkpoint of the run --overwrite replaces: %s", path, strerror(errno));
            bb_lock_release(&r->lock);
            return s;
        }
        return BB_OK;
    }
    if (cfg->resume[0])
        s = bb_fail(BB_ERR_REFUSED, "--out %s holds another run (%s); a run resumed from %s goes into a new or empty "
                    "directory: choose another --out, or add --overwrite to replace the run in %s", r->dir, held,
                    cfg->resume, r->dir);
    else
        s = bb_fail(BB_ERR_REFUSED, "--out %s holds a run (%s); expected a new or empty directory: continue that run "
                    "with --resume auto, choose another --out, or add --overwrite to replace it", r->dir, held);
    bb_lock_release(&r->lock);
    return s;
}

void bb_rundir_abandon(bb_rundir *r)
{
    if (r->lock.fd < 0) return;
    char path[700];
    for (int i = 0; i < NFILES; i++)
        if (!((r->existed >> i) & 1)) {
            file_path(r, i, path, sizeof path);
            unlink(path);
        }
    bb_lock_release(&r->lock);
    remove_created_dirs(r);
}

void bb_rundir_release(bb_rundir *r) { bb_lock_release(&r->lock); }
