/* safetensors reading and writing (https://github.com/huggingface/safetensors,
 * format description). Little-endian hosts only, like the format itself. */
#include "util/safetensors.h"

#include "util/file.h"
#include "util/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (100u << 20)
#define MAX_FILE ((size_t)64 << 30)

static int dtype_size(const char *dt)
{
    static const struct { const char *name; int size; } t[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1}, {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(dt, t[i].name) == 0) return t[i].size;
    return 0;
}

typedef struct {
    const bb_st_tensor *t;
    int n;
    const char *header;
    size_t header_len;
} write_job;

static bb_status write_body(FILE *f, void *arg)
{
    write_job *j = arg;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)j->header_len >> (8 * i));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(j->header, 1, j->header_len, f) != j->header_len)
        return bb_fail(BB_ERR_IO, "writing the safetensors header failed: %s", strerror(errno));
    bb_file_pause(f);
    for (int i = 0; i < j->n; i++) {
        size_t bytes = (size_t)dtype_size(j->t[i].dtype);
        for (int d = 0; d < j->t[i].ndim; d++) bytes *= (size_t)j->t[i].shape[d];
        if (bytes && fwrite(j->t[i].data, 1, bytes, f) != bytes)
            return bb_fail(BB_ERR_IO, "writing tensor %s failed: %s", j->t[i].name, strerror(errno));
        bb_file_pause(f);
    }
    return BB_OK;
}

/* appends formatted text to a growing buffer */
typedef struct { char *s; size_t len, cap; int oom; } strbuf;

static void sb_add(strbuf *b, const char *text, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? 2 * b->cap : 4096) + n;
        char *s = realloc(b->s, cap);
        if (!s) { b->oom = 1; return; }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_quote(strbuf *b, const char *s)
{
    size_t need = bb_json_quote(NULL, 0, s) + 1;
    char *q = malloc(need);
    if (!q) { b->oom = 1; return; }
    bb_json_quote(q, need, s);
    sb_add(b, q, strlen(q));
    free(q);
}

bb_status bb_st_write(const char *path, const bb_st_tensor *t, int n, const char *const *meta)
{
    strbuf b = {0};
    char num[128];
    sb_add(&b, "{", 1);
    int first = 1;
    if (meta && meta[0]) {
        sb_add(&b, "\"__metadata__\":{", 16);
        for (int i = 0; meta[i] && meta[i + 1]; i += 2) {
            if (i) sb_add(&b, ",", 1);
            sb_quote(&b, meta[i]);
            sb_add(&b, ":", 1);
            sb_quote(&b, meta[i + 1]);
        }
        sb_add(&b, "}", 1);
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        int es = dtype_size(t[i].dtype);
        if (!es || t[i].ndim < 0 || t[i].ndim > BB_ST_MAX_DIMS) { free(b.s); return bb_fail(BB_ERR_INVALID, "%s: tensor %s has bad dtype or rank", path, t[i].name); }
        uint64_t bytes = (uint64_t)es;
        if (!first) sb_add(&b, ",", 1);
        first = 0;
        sb_quote(&b, t[i].name);
        int k = snprintf(num, sizeof num, ":{\"dtype\":\"%s\",\"shape\":[", t[i].dtype);
        sb_add(&b, num, (size_t)k);
        for (int d = 0; d < t[i].ndim; d++) {
            bytes *= (uint64_t)t[i].shape[d];
            k = snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
            sb_add(&b, num, (size_t)k);
        }
        k = snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                     (unsigned long long)(off + bytes));
        sb_add(&b, num, (size_t)k);
        off += bytes;
    }
    sb_add(&b, "}", 1);
    while (!b.oom && b.len % 8) sb_add(&b, " ", 1);  /* keeps the data 8-byte aligned */
    if (b.oom) { free(b.s); return bb_fail(BB_ERR_NOMEM, "%s: out of memory for the header", path); }
    write_job j = {t, n, b.s, b.len};
    bb_status s = bb_file_write_atomic(path, write_body, &j);
    free(b.s);
    return s;
}

void bb_st_close(bb_st_file *f)
{
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    for (int i = 0; i < 2 * f->nmeta; i++) free(f->meta[i]);
    free(f->entries);
    free(f->meta);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

static int cmp_begin(const void *a, const void *b)
{
    const bb_st_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const bb_st_entry *)a)->name, ((const bb_st_entry *)b)->name);
}

static bb_status bad(bb_st_file *f, const char *name, const char *msg)
{
    bb_status s = bb_fail(BB_ERR_FORMAT, "%s: tensor '%s': %s", f->path, name, msg);
    return s;
}

static bb_status parse_entry(bb_st_file *f, const bb_json *j, bb_st_entry *e)
{
    const char *name = j->key;
    if (j->type != BB_JSON_OBJECT) return bad(f, name, "entry is not an object");
    const bb_json *dt = bb_json_get(j, "dtype"), *sh = bb_json_get(j, "shape"), *of = bb_json_get(j, "data_offsets");
    if (!dt || dt->type != BB_JSON_STRING || !dtype_size(dt->str)) return bad(f, name, "missing or unknown dtype");
    if (!sh || sh->type != BB_JSON_ARRAY || bb_json_count(sh) > BB_ST_MAX_DIMS) return bad(f, name, "missing shape or more than 8 dimensions");
    if (!of || of->type != BB_JSON_ARRAY || bb_json_count(of) != 2) return bad(f, name, "data_offsets must be [begin, end]");
    snprintf(e->dtype, sizeof e->dtype, "%s", dt->str);
    uint64_t bytes = (uint64_t)dtype_size(dt->str);
    e->ndim = 0;
    for (const bb_json *d = sh->child; d; d = d->next) {
        if (d->type != BB_JSON_NUMBER || !d->is_integer || d->integer < 0 || d->integer > ((int64_t)1 << 40))
            return bad(f, name, "shape entries must be non-negative integers");
        e->shape[e->ndim++] = d->integer;
        if (d->integer && bytes > UINT64_MAX / (uint64_t)d->integer) return bad(f, name, "shape overflows");
        bytes *= (uint64_t)d->integer;
    }
    const bb_json *b0 = of->child, *b1 = of->child->next;
    if (b0->type != BB_JSON_NUMBER || !b0->is_integer || b0->integer < 0 || b1->type != BB_JSON_NUMBER ||
        !b1->is_integer || b1->integer < b0->integer)
        return bad(f, name, "data_offsets must be integers with 0 <= begin <= end");
    e->begin = (uint64_t)b0->integer;
    e->end = (uint64_t)b1->integer;
    if (e->end > f->data_len) {
        char msg[160];
        snprintf(msg, sizeof msg, "data ends at byte %llu but the data area has %zu bytes (file truncated?)",
                 (unsigned long long)e->end, f->data_len);
        return bad(f, name, msg);
    }
    if (e->end - e->begin != bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "shape and dtype need %llu bytes, data_offsets give %llu",
                 (unsigned long long)bytes, (unsigned long long)(e->end - e->begin));
        return bad(f, name, msg);
    }
    e->name = strdup(name);
    return e->name ? BB_OK : bb_fail(BB_ERR_NOMEM, "%s: out of memory", f->path);
}

bb_status bb_st_parse(bb_st_file *f, const char *what, unsigned char *buf, size_t size)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", what);
    f->buf = buf;
    f->size = size;
    if (size < 8) { bb_st_close(f); return bb_fail(BB_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file (need at least 8)", what, size); }
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)buf[i] << (8 * i);
    if (hl < 2 || hl > MAX_HEADER || hl > size - 8) {
        bb_status s = bb_fail(BB_ERR_FORMAT, "%s: header length %llu does not fit the file of %zu bytes (not a safetensors file, or truncated)",
                              what, (unsigned long long)hl, size);
        bb_st_close(f);
        return s;
    }
    f->data = buf + 8 + hl;
    f->data_len = size - 8 - (size_t)hl;
    bb_json *root = NULL;
    bb_status s = bb_json_parse((const char *)buf + 8, (size_t)hl, what, &root);
    if (s == BB_OK && root->type != BB_JSON_OBJECT) s = bb_fail(BB_ERR_FORMAT, "%s: header is not a JSON object", what);
    size_t count = s == BB_OK ? bb_json_count(root) : 0;
    if (s == BB_OK) {
        f->entries = calloc(count + 1, sizeof *f->entries);
        if (!f->entries) s = bb_fail(BB_ERR_NOMEM, "%s: out of memory", what);
    }
    for (const bb_json *j = s == BB_OK ? root->child : NULL; j && s == BB_OK; j = j->next) {
        if (strcmp(j->key, "__metadata__") == 0) {
            if (j->type != BB_JSON_OBJECT) { s = bb_fail(BB_ERR_FORMAT, "%s: __metadata__ is not an object", what); break; }
            if (f->meta) { s = bb_fail(BB_ERR_FORMAT, "%s: __metadata__ appears twice", what); break; }
            size_t m = bb_json_count(j);
            f->meta = calloc(2 * m + 1, sizeof *f->meta);
            if (!f->meta) { s = bb_fail(BB_ERR_NOMEM, "%s: out of memory", what); break; }
            for (const bb_json *kv = j->child; kv; kv = kv->next) {
                if (kv->type != BB_JSON_STRING) { s = bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' is not a string", what, kv->key); break; }
                f->meta[2 * f->nmeta] = strdup(kv->key);
                f->meta[2 * f->nmeta + 1] = strdup(kv->str);
                f->nmeta++;
                if (!f->meta[2 * f->nmeta - 2] || !f->meta[2 * f->nmeta - 1]) { s = bb_fail(BB_ERR_NOMEM, "%s: out of memory", what); break; }
            }
            continue;
        }
        s = parse_entry(f, j, &f->entries[f->n]);
        if (s == BB_OK) f->n++;
    }
    bb_json_free(root);
    if (s == BB_OK && f->n > 1) {
        bb_st_entry *sorted = malloc((size_t)f->n * sizeof *sorted);
        if (!sorted) s = bb_fail(BB_ERR_NOMEM, "%s: out of memory", what);
        else {
            /* sorting keeps both checks O(n log n) for headers of any size */
            memcpy(sorted, f->entries, (size_t)f->n * sizeof *sorted);
            qsort(sorted, (size_t)f->n, sizeof *sorted, cmp_name);
            for (int i = 1; i < f->n && s == BB_OK; i++)
                if (strcmp(sorted[i].name, sorted[i - 1].name) == 0) s = bad(f, sorted[i].name, "appears twice");
            qsort(sorted, (size_t)f->n, sizeof *sorted, cmp_begin);
            for (int i = 1; i < f->n && s == BB_OK; i++)
                if (sorted[i].begin < sorted[i - 1].end)
                    s = bb_fail(BB_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", what, sorted[i - 1].name, sorted[i].name);
            free(sorted);
        }
    }
    if (s != BB_OK) bb_st_close(f);
    return s;
}

bb_status bb_st_read(bb_st_file *f, const char *path)
{
    unsigned char *buf;
    size_t len;
    memset(f, 0, sizeof *f);
    BB_TRY(bb_file_read_all(path, MAX_FILE, &buf, &len));
    return bb_st_parse(f, path, buf, len);
}

const bb_st_entry *bb_st_find(const bb_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->entries[i].name, name) == 0) return &f->entries[i];
    return NULL;
}

const char *bb_st_meta(const bb_st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
}

static bb_status get_typed(const bb_st_file *f, const char *name, const char *dtype, void *dst, int64_t count)
{
    const bb_st_entry *e = bb_st_find(f, name);
    if (!e) return bb_fail(BB_ERR_FORMAT, "%s: tensor '%s' is missing", f->path, name);
    if (strcmp(e->dtype, dtype) != 0)
        return bb_fail(BB_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", f->path, name, e->dtype, dtype);
    int64_t have = 1;
    for (int d = 0; d < e->ndim; d++) have *= e->shape[d];
    if (have != count)
        return bb_fail(BB_ERR_FORMAT, "%s: tensor '%s' has %lld elements, expected %lld", f->path, name,
                       (long long)have, (long long)count);
    if (dst) memcpy(dst, f->data + e->begin, (size_t)(e->end - e->begin));
    return BB_OK;
}

bb_status bb_st_get_f32(const bb_st_file *f, const char *name, float *dst, int64_t count)
{
    return get_typed(f, name, "F32", dst, count);
}

bb_status bb_st_get_i32(const bb_st_file *f, const char *name, int32_t *dst, int64_t count)
{
    return get_typed(f, name, "I32", dst, count);
}
