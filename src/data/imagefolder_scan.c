/* Scanning a class-per-folder root: list the class folders and their files,
 * verify new or changed files by decoding them completely (in parallel), and
 * keep the results in the index file. Listing and stat() of every file is
 * cheap next to decoding, so the index is checked file by file (size and
 * mtime), not trusted as a whole. */
#define _XOPEN_SOURCE 700  /* realpath */
#include "data/image.h"
#include "data/imagefolder_internal.h"

#include "util/file.h"
#include "util/mem.h"
#include "util/pool.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 32

typedef struct {
    bb_if_entry *e;
    int32_t *cls;
    int64_t n, cap;
} cands;

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* strncpy that always terminates */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".jpe") || !strcasecmp(dot, ".png");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sorted names of a folder's entries, without those starting with '.' */
static bb_status list_dir(const char *path, char ***names, int64_t *count)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(path);
    if (!d) return bb_fail(BB_ERR_IO, "%s: cannot list folder: %s", path, strerror(errno));
    int64_t cap = 0;
    struct dirent *de;
    bb_status s = BB_OK;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(*names, (size_t)cap * sizeof *nn);
            if (!nn) { s = bb_fail(BB_ERR_NOMEM, "%s: out of memory listing", path); break; }
            *names = nn;
        }
        if (!((*names)[*count] = dupstr(de->d_name))) { s = bb_fail(BB_ERR_NOMEM, "%s: out of memory", path); break; }
        (*count)++;
    }
    closedir(d);
    if (s == BB_OK && *count > 1) qsort(*names, (size_t)*count, sizeof **names, cmp_str);
    if (s != BB_OK) {
        for (int64_t i = 0; i < *count; i++) free((*names)[i]);
        free(*names);
        *names = NULL;
        *count = 0;
    }
    return s;
}

static void free_names(char **names, int64_t n)
{
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static bb_status add_cand(cands *v, const char *rel, const struct stat *st, int32_t cls, const char *stat_error)
{
    if (v->n == v->cap) {
        int64_t cap = v->cap ? 2 * v->cap : 1024;
        bb_if_entry *e = realloc(v->e, (size_t)cap * sizeof *e);
        if (e) v->e = e;
        int32_t *c = realloc(v->cls, (size_t)cap * sizeof *c);
        if (c) v->cls = c;
        if (!e || !c) return bb_fail(BB_ERR_NOMEM, "out of memory listing files");
        v->cap = cap;
    }
    bb_if_entry *e = &v->e[v->n];
    memset(e, 0, sizeof *e);
    e->rel = dupstr(rel);
    if (!e->rel) return bb_fail(BB_ERR_NOMEM, "out of memory listing files");
    if (st) {
        e->size = (int64_t)st->st_size;
        e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    }
    if (stat_error && !(e->reason = dupstr(stat_error))) { free(e->rel); return bb_fail(BB_ERR_NOMEM, "out of memory"); }
    v->cls[v->n++] = cls;
    return BB_OK;
}

static void note_ignored(bb_if_scan *s, const char *rel)
{
    if (s->ignored++ == 0) copy_str(s->ignored_example, sizeof s->ignored_example, rel);
}

static bb_status walk(const char *root, const char *rel, int32_t cls, int depth, cands *v, bb_if_scan *s)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/%s", root, rel) >= (int)sizeof dir) return bb_fail(BB_ERR_INVALID, "%s/%s: path too long", root, rel);
    char **names;
    int64_t n;
    BB_TRY(list_dir(dir, &names, &n));
    bb_status st = BB_OK;
    for (int64_t i = 0; i < n && st == BB_OK; i++) {
        char r[4096], full[8192];
        if (snprintf(r, sizeof r, "%s/%s", rel, names[i]) >= (int)sizeof r) { note_ignored(s, names[i]); continue; }
        snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat sb;
        if (stat(full, &sb) != 0) {
            char why[300];
            snprintf(why, sizeof why, "cannot stat: %s", strerror(errno));
            if (is_image_name(names[i])) st = add_cand(v, r, NULL, cls, why);
            else note_ignored(s, r);
        } else if (S_ISDIR(sb.st_mode)) {
            if (depth < MAX_DEPTH) st = walk(root, r, cls, depth + 1, v, s);
        } else if (S_ISREG(sb.st_mode) && is_image_name(names[i])) {
            st = add_cand(v, r, &sb, cls, NULL);
        } else {
            note_ignored(s, r);
        }
    }
    free_names(names, n);
    return st;
}

/* ---- verification on a pool of threads ---- */

typedef struct {
    const char *root;
    bb_if_entry *e;
    int64_t *pending, npending;
    atomic_llong next, done;
    double t0, last_log;
    const bb_imagefolder_options *o;
} verify_job;

static void verify_one(const char *root, bb_if_entry *e)
{
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", root, e->rel);
    unsigned char *buf = NULL;
    size_t len = 0;
    bb_image_info info;
    bb_status s = bb_file_read_all(full, (size_t)1 << 30, &buf, &len);
    if (s == BB_OK) s = bb_image_verify(buf, len, &info);
    free(buf);
    e->ok = s == BB_OK;
    if (s == BB_OK) {
        e->w = (int32_t)info.w;
        e->h = (int32_t)info.h;
        e->format = (uint8_t)info.format;
        e->channels = (uint8_t)info.channels;
        return;
    }
    /* messages from the file reader start with the path; keep only the reason */
    const char *m = bb_last_error();
    size_t fl = strlen(full);
    if (!strncmp(m, full, fl) && m[fl] == ':') m += fl + 1 + (m[fl + 1] == ' ');
    e->reason = dupstr(m);
}

static void verify_worker(void *arg, int t, int nt)
{
    (void)nt;
    verify_job *j = arg;
    for (;;) {
        long long i = atomic_fetch_add(&j->next, 1);
        if (i >= j->npending) break;
        verify_one(j->root, &j->e[j->pending[i]]);
        long long d = atomic_fetch_add(&j->done, 1) + 1;
        if (t == 0 && bb_if_reports(j->o)) {
            double now = bb_now();
            if (now - j->last_log > 10.0) {
                j->last_log = now;
                bb_if_say(j->o, BB_LOG_INFO, "imagefolder %s: verified %lld of %lld new or changed files (%.0f files/s)",
                          j->root, d, (long long)j->npending, (double)d / (now - j->t0));
            }
        }
    }
}

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static bb_status verify_all(const char *root, bb_if_entry *e, int64_t *pending, int64_t npending, int threads,
                            const bb_imagefolder_options *o)
{
    if (npending == 0) return BB_OK;
    verify_job j = {root, e, pending, npending, 0, 0, bb_now(), bb_now(), o};
    int T = threads > 0 ? threads : cores();
    if (T > npending) T = (int)npending;
    bb_pool *p = NULL;
    BB_TRY(bb_pool_create(&p, T));
    bb_pool_run(p, verify_worker, &j);
    bb_pool_destroy(p);
    return BB_OK;
}

/* ---- the index file ---- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void index_paths(const char *root, const char *real, const char *index_dir, char *primary, char *fallback, size_t cap)
{
    snprintf(primary, cap, "%s/%s", root, BB_IF_INDEX_NAME);
    fallback[0] = 0;
    if (index_dir && index_dir[0])
        snprintf(fallback, cap, "%s/imagefolder-%016llx.index", index_dir, (unsigned long long)fnv1a(real));
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const bb_if_entry *)a)->rel, ((const bb_if_entry *)b)->rel);
}

void bb_if_scan_free(bb_if_scan *s)
{
    if (!s) return;
    free_names(s->classes, s->nclasses);
    bb_if_index_free(&s->ix);
    free(s->cls);
    memset(s, 0, sizeof *s);
}

bb_status bb_if_scan_root(const char *root, const bb_imagefolder_options *o, bb_if_scan *s)
{
    memset(s, 0, sizeof *s);
    struct stat rs;
    if (stat(root, &rs) != 0) return bb_fail(BB_ERR_IO, "%s: %s", root, strerror(errno));
    if (!S_ISDIR(rs.st_mode)) return bb_fail(BB_ERR_IO, "%s: not a folder (expected ROOT/CLASS/image files)", root);
    char real[4096];
    if (!realpath(root, real)) snprintf(real, sizeof real, "%s", root);

    /* classes and their files */
    char **top;
    int64_t ntop;
    BB_TRY(list_dir(root, &top, &ntop));
    cands v = {0};
    bb_status st = BB_OK;
    for (int64_t i = 0; i < ntop && st == BB_OK; i++) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", root, top[i]);
        struct stat sb;
        if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            top[s->nclasses] = top[i];  /* compact in place: classes stay sorted */
            if (s->nclasses != i) top[i] = NULL;  /* moved */
            st = walk(root, top[s->nclasses], (int32_t)s->nclasses, 0, &v, s);
            s->nclasses++;
        } else {
            note_ignored(s, top[i]);
            free(top[i]);
            top[i] = NULL;
        }
    }
    for (int64_t i = s->nclasses; i < ntop; i++) free(top[i]);  /* left unvisited by an error */
    s->classes = top;
    s->ix.e = v.e;
    s->ix.n = v.n;
    s->cls = v.cls;
    if (st != BB_OK) { bb_if_scan_free(s); return st; }
    if (s->nclasses == 0) {
        bb_if_scan_free(s);
        return bb_fail(BB_ERR_IO, "%s: no class folders (expected ROOT/CLASS/image files, one folder per class)", root);
    }
    /* sort by rel, carrying the class along */
    int64_t n = s->ix.n;
    for (int64_t i = 0; i < n; i++) s->ix.e[i].w = s->cls[i];  /* park the class while sorting */
    if (n > 1) qsort(s->ix.e, (size_t)n, sizeof *s->ix.e, cmp_entry);
    for (int64_t i = 0; i < n; i++) { s->cls[i] = s->ix.e[i].w; s->ix.e[i].w = 0; }

    /* what the index already knows */
    char primary[4200], fallback[4200];
    index_paths(root, real, o->index_dir, primary, fallback, sizeof primary);
    bb_if_index old = {0};
    const char *from = NULL;
    if (bb_if_index_read(primary, NULL, &old) == BB_OK) from = primary;
    else if (fallback[0] && bb_if_index_read(fallback, real, &old) == BB_OK) from = fallback;
    int64_t *pending = malloc((size_t)(n ? n : 1) * sizeof *pending), npending = 0;
    if (!pending) { bb_if_index_free(&old); bb_if_scan_free(s); return bb_fail(BB_ERR_NOMEM, "out of memory"); }
    for (int64_t i = 0; i < n; i++) {
        bb_if_entry *e = &s->ix.e[i];
        if (e->reason) continue;  /* could not stat it: bad already */
        const bb_if_entry *k = bb_if_index_find(&old, e->rel);
        if (k && k->size == e->size && k->mtime_ns == e->mtime_ns) {
            e->w = k->w; e->h = k->h; e->format = k->format; e->channels = k->channels; e->ok = k->ok;
            if (k->reason && !(e->reason = dupstr(k->reason))) { st = bb_fail(BB_ERR_NOMEM, "out of memory"); break; }
            s->reused++;
        } else {
            pending[npending++] = i;
        }
    }
    int changed = npending > 0 || old.n != s->reused || !from;
    bb_if_index_free(&old);
    if (st == BB_OK) st = verify_all(root, s->ix.e, pending, npending, o->threads, o);
    free(pending);
    s->checked = npending;
    if (st != BB_OK) { bb_if_scan_free(s); return st; }
    if (from) copy_str(s->index_path, sizeof s->index_path, from);
    if (changed) {
        const char *to = primary;
        bb_status w = bb_if_index_write(primary, real, &s->ix);
        if (w != BB_OK && fallback[0]) {
            to = fallback;
            w = bb_mkdirs(o->index_dir);
            if (w == BB_OK) w = bb_if_index_write(fallback, real, &s->ix);
        }
        if (w == BB_OK) copy_str(s->index_path, sizeof s->index_path, to);
        else {
            s->index_path[0] = 0;
            bb_if_say(o, BB_LOG_WARN, "imagefolder %s: warning: cannot write the index (%s); the next run verifies "
                      "the images again", root, bb_last_error());
        }
    }
    return BB_OK;
}
