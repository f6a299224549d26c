/* The folder reader's index file. Layout (little-endian):
 *   "BBIMGIX1"  u32 root_len  root  u64 count
 *   count x { u16 rel_len rel  i64 size  i64 mtime_ns  u32 w  u32 h  u8 format
 *             u8 channels  u8 ok  u16 reason_len reason }
 *   u32 CRC-32 (zlib) of everything before it.
 * A file that fails any check is ignored by the caller (the folder is scanned
 * and verified again), so a damaged index never damages a run. */
#include "data/imagefolder_internal.h"

#include "util/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char MAGIC[8] = {'B', 'B', 'I', 'M', 'G', 'I', 'X', '1'};

void bb_if_index_free(bb_if_index *ix)
{
    if (!ix) return;
    for (int64_t i = 0; i < ix->n; i++) {
        free(ix->e[i].rel);
        free(ix->e[i].reason);
    }
    free(ix->e);
    ix->e = NULL;
    ix->n = 0;
}

const bb_if_entry *bb_if_index_find(const bb_if_index *ix, const char *rel)
{
    int64_t lo = 0, hi = ix->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->e[mid].rel, rel);
        if (c == 0) return &ix->e[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- writing ---- */

typedef struct {
    unsigned char *b;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *o, const void *p, size_t n)
{
    if (o->oom) return;
    if (o->n + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + n) cap *= 2;
        unsigned char *b = realloc(o->b, cap);
        if (!b) { o->oom = 1; return; }
        o->b = b;
        o->cap = cap;
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_le(buf *o, uint64_t v, int bytes)
{
    unsigned char t[8];
    for (int i = 0; i < bytes; i++) t[i] = (unsigned char)(v >> (8 * i));
    put(o, t, (size_t)bytes);
}

static bb_status write_buf(FILE *f, void *arg)
{
    buf *o = arg;
    if (fwrite(o->b, 1, o->n, f) != o->n) return bb_fail(BB_ERR_IO, "index: short write");
    return BB_OK;
}

bb_status bb_if_index_write(const char *path, const char *root, const bb_if_index *ix)
{
    buf o = {0};
    size_t rl = strlen(root);
    put(&o, MAGIC, 8);
    put_le(&o, rl, 4);
    put(&o, root, rl);
    put_le(&o, (uint64_t)ix->n, 8);
    for (int64_t i = 0; i < ix->n; i++) {
        const bb_if_entry *e = &ix->e[i];
        size_t pl = strlen(e->rel), ql = e->reason ? strlen(e->reason) : 0;
        if (pl > 65535) pl = 65535;
        if (ql > 65535) ql = 65535;
        put_le(&o, pl, 2);
        put(&o, e->rel, pl);
        put_le(&o, (uint64_t)e->size, 8);
        put_le(&o, (uint64_t)e->mtime_ns, 8);
        put_le(&o, (uint32_t)e->w, 4);
        put_le(&o, (uint32_t)e->h, 4);
        put(&o, &e->format, 1);
        put(&o, &e->channels, 1);
        put(&o, &e->ok, 1);
        put_le(&o, ql, 2);
        if (ql) put(&o, e->reason, ql);
    }
    uLong crc = o.oom ? 0 : crc32(0L, o.b, (uInt)o.n);
    put_le(&o, crc, 4);
    bb_status s = o.oom ? bb_fail(BB_ERR_NOMEM, "%s: out of memory", path) : bb_file_write_atomic(path, write_buf, &o);
    free(o.b);
    return s;
}

/* ---- reading ---- */

typedef struct {
    const unsigned char *b;
    size_t n, pos;
    const char *path;
    bb_status st;
} rd;

static int need(rd *r, size_t n, const char *what)
{
    if (r->st != BB_OK) return 0;
    if (r->n - r->pos < n) {
        r->st = bb_fail(BB_ERR_FORMAT, "%s: truncated at offset %zu reading %s (%zu bytes needed, %zu left)", r->path,
                        r->pos, what, n, r->n - r->pos);
        return 0;
    }
    return 1;
}

static uint64_t get_le(rd *r, int bytes, const char *what)
{
    if (!need(r, (size_t)bytes, what)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->b[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)bytes;
    return v;
}

static char *get_str(rd *r, size_t len, const char *what)
{
    if (!need(r, len, what)) return NULL;
    char *s = malloc(len + 1);
    if (!s) { r->st = bb_fail(BB_ERR_NOMEM, "%s: out of memory", r->path); return NULL; }
    memcpy(s, r->b + r->pos, len);
    s[len] = 0;
    r->pos += len;
    if (strlen(s) != len) {
        r->st = bb_fail(BB_ERR_FORMAT, "%s: NUL byte inside %s at offset %zu", r->path, what, r->pos - len);
        free(s);
        return NULL;
    }
    return s;
}

bb_status bb_if_index_read(const char *path, const char *root, bb_if_index *ix)
{
    ix->e = NULL;
    ix->n = 0;
    unsigned char *b;
    size_t n;
    BB_TRY(bb_file_read_all(path, (size_t)1 << 34, &b, &n));
    rd r = {b, n, 0, path, BB_OK};
    if (n < 12 + 8 + 4 || memcmp(b, MAGIC, 8) != 0) {
        free(b);
        return bb_fail(BB_ERR_FORMAT, "%s: not a bigbatch image index (magic BBIMGIX1 expected at offset 0)", path);
    }
    uLong crc = crc32(0L, b, (uInt)(n - 4));
    uint64_t stored = (uint64_t)b[n - 4] | (uint64_t)b[n - 3] << 8 | (uint64_t)b[n - 2] << 16 | (uint64_t)b[n - 1] << 24;
    if (crc != stored) {
        free(b);
        return bb_fail(BB_ERR_FORMAT, "%s: checksum %08lx, expected %08lx: damaged", path, (unsigned long)stored,
                       (unsigned long)crc);
    }
    r.n = n - 4;
    r.pos = 8;
    size_t rl = (size_t)get_le(&r, 4, "root length");
    char *stored_root = get_str(&r, rl, "root");
    if (r.st == BB_OK && root && strcmp(stored_root, root) != 0)
        r.st = bb_fail(BB_ERR_FORMAT, "%s: index of %s, not of %s", path, stored_root, root);
    free(stored_root);
    uint64_t count = get_le(&r, 8, "entry count");
    if (r.st == BB_OK && count > (r.n - r.pos) / 31)
        r.st = bb_fail(BB_ERR_FORMAT, "%s: %llu entries cannot fit in %zu bytes", path, (unsigned long long)count, r.n);
    if (r.st == BB_OK) {
        ix->e = calloc(count ? count : 1, sizeof *ix->e);
        if (!ix->e) r.st = bb_fail(BB_ERR_NOMEM, "%s: out of memory", path);
    }
    for (uint64_t i = 0; r.st == BB_OK && i < count; i++) {
        bb_if_entry *e = &ix->e[i];
        ix->n = (int64_t)i + 1;
        e->rel = get_str(&r, (size_t)get_le(&r, 2, "path length"), "path");
        e->size = (int64_t)get_le(&r, 8, "size");
        e->mtime_ns = (int64_t)get_le(&r, 8, "mtime");
        e->w = (int32_t)get_le(&r, 4, "width");
        e->h = (int32_t)get_le(&r, 4, "height");
        e->format = (uint8_t)get_le(&r, 1, "format");
        e->channels = (uint8_t)get_le(&r, 1, "channels");
        e->ok = (uint8_t)get_le(&r, 1, "ok");
        size_t ql = (size_t)get_le(&r, 2, "reason length");
        if (ql) e->reason = get_str(&r, ql, "reason");
        if (r.st == BB_OK && (e->ok > 1 || (e->ok && (e->w < 1 || e->h < 1)) || (i > 0 && strcmp(ix->e[i - 1].rel, e->rel) >= 0)))
            r.st = bb_fail(BB_ERR_FORMAT, "%s: entry %llu (%s) is inconsistent (unsorted, or ok without a size)", path,
                           (unsigned long long)i, e->rel);
    }
    if (r.st == BB_OK && r.pos != r.n)
        r.st = bb_fail(BB_ERR_FORMAT, "%s: %zu bytes of trailing data after %llu entries", path, r.n - r.pos,
                       (unsigned long long)count);
    free(b);
    if (r.st != BB_OK) bb_if_index_free(ix);
    return r.st;
}
