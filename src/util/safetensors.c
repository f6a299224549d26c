/* safetensors reading and writing (https://github.com/huggingface/safetensors,
 * format description). Little-endian hosts only, like the format itself. */
#include "util/safetensors.h"

#include "util/file.h"
#include "util/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_HEADER (100u << 20)
#define MAX_FILE ((size_t)64 << 30)
#define CRC_KEY "\"crc32.header\":\""  /* how the writer spells the header checksum */
#define CRC_TENSOR "crc32.tensor."

/* CRC-32 (zlib's, as Python's zlib.crc32) of any length */
static uint32_t crc_add(uint32_t c, const unsigned char *p, size_t n)
{
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = (uint32_t)crc32(c, p, k);
        p += k;
        n -= k;
    }
    return c;
}

/* The header checksum: the 8 length bytes and the header, with the 8 hex
 * digits at header offset `pos` read as '0', so it covers everything but itself. */
static uint32_t header_crc(const unsigned char *len8, const unsigned char *hdr, size_t hl, size_t pos)
{
    uint32_t c = crc_add(0, len8, 8);
    c = crc_add(c, hdr, pos);
    c = crc_add(c, (const unsigned char *)"00000000", 8);
    return crc_add(c, hdr + pos + 8, hl - pos - 8);
}

/* Where the 8 digits of "crc32.header" start in the header, if CRC_KEY occurs
 * exactly once as a member (after '{', ',' or white space: inside a string a
 * quote is escaped, so the pattern there follows a backslash or a letter;
 * *count says how often it occurs) and 8 characters and a quote follow it;
 * else (size_t)-1. */
static size_t header_crc_pos(const unsigned char *hdr, size_t hl, int *count)
{
    size_t kl = strlen(CRC_KEY), pos = (size_t)-1;
    *count = 0;
    for (size_t i = 1; i + kl <= hl; i++)
        if (hdr[i] == '"' && hdr[i - 1] && strchr("{, \t\r\n", hdr[i - 1]) && memcmp(hdr + i, CRC_KEY, kl) == 0) {
            (*count)++;
            pos = i + kl;
        }
    if (*count != 1 || pos + 9 > hl || hdr[pos + 8] != '"') return (size_t)-1;
    return pos;
}

/* 8 lowercase hex digits */
static int parse_hex8(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    if (n != 8) return 0;
    for (size_t i = 0; i < 8; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) return 0;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 1;
}

int bb_st_seal_header(unsigned char *buf, size_t size)
{
    if (size < 8) return 0;
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)buf[i] << (8 * i);
    if (hl > size - 8) return 0;
    int count;
    size_t pos = header_crc_pos(buf + 8, (size_t)hl, &count);
    if (pos == (size_t)-1) return 0;
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", (unsigned)header_crc(buf, buf + 8, (size_t)hl, pos));
    memcpy(buf + 8 + pos, hex, 8);
    return 1;
}

static int dtype_size(const char *dt)
{
    static const struct { const char *name; int size; } t[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1}, {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(dt, t[i].name) == 0) return t[i].size;
    return 0;
}

static uint64_t tensor_bytes(const bb_st_tensor *t)
{
    uint64_t bytes = (uint64_t)dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) bytes *= (uint64_t)t->shape[d];
    return bytes;
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
        size_t bytes = (size_t)tensor_bytes(&j->t[i]);
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
    for (int i = 0; i < n; i++)
        if (!dtype_size(t[i].dtype) || t[i].ndim < 0 || t[i].ndim > BB_ST_MAX_DIMS)
            return bb_fail(BB_ERR_INVALID, "%s: tensor %s has bad dtype or rank", path, t[i].name);
    for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2)
        if (!strncmp(meta[i], "crc32.", 6)) return bb_fail(BB_ERR_INVALID, "%s: metadata key '%s' is the writer's own", path, meta[i]);
    sb_add(&b, "{\"__metadata__\":{", 17);
    for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2) {
        sb_quote(&b, meta[i]);
        sb_add(&b, ":", 1);
        sb_quote(&b, meta[i + 1]);
        sb_add(&b, ",", 1);
    }
    for (int i = 0; i < n; i++) {
        uint64_t bytes = tensor_bytes(&t[i]);
        size_t kl = strlen(CRC_TENSOR) + strlen(t[i].name) + 1;
        char *key = malloc(kl);
        if (!key) { b.oom = 1; break; }
        snprintf(key, kl, "%s%s", CRC_TENSOR, t[i].name);
        sb_quote(&b, key);
        free(key);
        int k = snprintf(num, sizeof num, ":\"%08x\",", (unsigned)crc_add(0, t[i].data, (size_t)bytes));
        sb_add(&b, num, (size_t)k);
    }
    sb_add(&b, CRC_KEY, strlen(CRC_KEY));
    size_t crc_pos = b.len;
    sb_add(&b, "00000000\"}", 10);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t bytes = tensor_bytes(&t[i]);
        sb_add(&b, ",", 1);
        sb_quote(&b, t[i].name);
        int k = snprintf(num, sizeof num, ":{\"dtype\":\"%s\",\"shape\":[", t[i].dtype);
        sb_add(&b, num, (size_t)k);
        for (int d = 0; d < t[i].ndim; d++) {
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
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", (unsigned)header_crc(len8, (const unsigned char *)b.s, b.len, crc_pos));
    memcpy(b.s + crc_pos, hex, 8);
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
    free(f->data_buf);
    if (f->fd >= 0) close(f->fd);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

static void init(bb_st_file *f, const char *what)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", what);
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

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

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
    if (bb_json_count(j) != 3) return bad(f, name, "an entry has exactly dtype, shape and data_offsets");
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

/* Unique names and metadata keys; the tensors cover the data area in one run
 * of ranges from byte 0 to its end, with no gap, overlap or trailing byte.
 * Sorting keeps these O(n log n) for headers of any size. */
static bb_status check_layout(bb_st_file *f)
{
    const char *what = f->path;
    bb_status s = BB_OK;
    if (f->nmeta > 1) {
        char **keys = malloc((size_t)f->nmeta * sizeof *keys);
        if (!keys) return bb_fail(BB_ERR_NOMEM, "%s: out of memory", what);
        for (int i = 0; i < f->nmeta; i++) keys[i] = f->meta[2 * i];
        qsort(keys, (size_t)f->nmeta, sizeof *keys, cmp_str);
        for (int i = 1; i < f->nmeta && s == BB_OK; i++)
            if (!strcmp(keys[i], keys[i - 1])) s = bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' appears twice", what, keys[i]);
        free(keys);
    }
    if (s != BB_OK) return s;
    if (f->n == 0) {
        if (f->data_len)
            return bb_fail(BB_ERR_FORMAT, "%s: %zu bytes after the header but no tensor: appended or foreign data", what, f->data_len);
        return BB_OK;
    }
    bb_st_entry *sorted = malloc((size_t)f->n * sizeof *sorted);
    if (!sorted) return bb_fail(BB_ERR_NOMEM, "%s: out of memory", what);
    memcpy(sorted, f->entries, (size_t)f->n * sizeof *sorted);
    qsort(sorted, (size_t)f->n, sizeof *sorted, cmp_name);
    for (int i = 1; i < f->n && s == BB_OK; i++)
        if (strcmp(sorted[i].name, sorted[i - 1].name) == 0) s = bad(f, sorted[i].name, "appears twice");
    qsort(sorted, (size_t)f->n, sizeof *sorted, cmp_begin);
    if (s == BB_OK && sorted[0].begin != 0)
        s = bb_fail(BB_ERR_FORMAT, "%s: the first tensor's data ('%s') begins at byte %llu of the data area, expected 0",
                    what, sorted[0].name, (unsigned long long)sorted[0].begin);
    for (int i = 1; i < f->n && s == BB_OK; i++) {
        if (sorted[i].begin < sorted[i - 1].end)
            s = bb_fail(BB_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", what, sorted[i - 1].name, sorted[i].name);
        else if (sorted[i].begin > sorted[i - 1].end)
            s = bb_fail(BB_ERR_FORMAT, "%s: %llu unused bytes between tensors '%s' (ends at %llu) and '%s' (begins at %llu)",
                        what, (unsigned long long)(sorted[i].begin - sorted[i - 1].end), sorted[i - 1].name,
                        (unsigned long long)sorted[i - 1].end, sorted[i].name, (unsigned long long)sorted[i].begin);
    }
    uint64_t end = sorted[f->n - 1].end;
    if (s == BB_OK && end != f->data_len)
        s = bb_fail(BB_ERR_FORMAT, "%s: %llu bytes after the last tensor's data (the tensors cover %llu bytes, the data area "
                    "has %zu): appended garbage or a damaged header", what, (unsigned long long)(f->data_len - end),
                    (unsigned long long)end, f->data_len);
    free(sorted);
    return s;
}

/* The checksum entries: with "crc32.header" every tensor has its
 * "crc32.tensor.NAME" and no other "crc32." key exists; without it, none. */
static bb_status check_crc_keys(bb_st_file *f, const char *header_digits)
{
    const char *what = f->path;
    const char *hv = bb_st_meta(f, "crc32.header");
    if (!!hv != f->checksummed)
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'crc32.header' %s", what, hv
                       ? "is not written as \"crc32.header\":\"XXXXXXXX\" (8 lowercase hex digits)"
                       : "is missing but the header holds its pattern");
    if (hv && strncmp(hv, header_digits, 8) != 0)
        return bb_fail(BB_ERR_FORMAT, "%s: metadata 'crc32.header' is '%s', not the value its pattern holds", what, hv);
    int ntensor_keys = 0;
    for (int i = 0; i < f->nmeta; i++) {
        const char *k = f->meta[2 * i], *v = f->meta[2 * i + 1];
        if (strncmp(k, "crc32.", 6) != 0 || !strcmp(k, "crc32.header")) continue;
        if (strncmp(k, CRC_TENSOR, strlen(CRC_TENSOR)) != 0)
            return bb_fail(BB_ERR_FORMAT, "%s: unknown checksum key '%s' in the metadata (expected crc32.header or crc32.tensor.NAME)", what, k);
        if (!f->checksummed)
            return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s' without 'crc32.header'", what, k);
        uint32_t c;
        if (!parse_hex8(v, strlen(v), &c))
            return bb_fail(BB_ERR_FORMAT, "%s: metadata '%s': expected 8 lowercase hex digits, found '%s'", what, k, v);
        ntensor_keys++;
    }
    if (!f->checksummed) return BB_OK;
    for (int i = 0; i < f->n; i++) {
        bb_st_entry *e = &f->entries[i];
        size_t kl = strlen(CRC_TENSOR) + strlen(e->name) + 1;
        char *key = malloc(kl);
        if (!key) return bb_fail(BB_ERR_NOMEM, "%s: out of memory", what);
        snprintf(key, kl, "%s%s", CRC_TENSOR, e->name);
        const char *v = bb_st_meta(f, key);
        free(key);
        if (!v) return bb_fail(BB_ERR_FORMAT, "%s: tensor '%s' has no checksum (metadata '%s%s' is missing)", what, e->name, CRC_TENSOR, e->name);
        parse_hex8(v, 8, &e->crc);
    }
    if (ntensor_keys != f->n)
        return bb_fail(BB_ERR_FORMAT, "%s: %d tensor checksums in the metadata for %d tensors: one names no tensor", what,
                       ntensor_keys, f->n);
    return BB_OK;
}

/* The header: raw[0..8) its length hl, raw[8..8+hl) the JSON text; data_len
 * bytes of data follow it in the file. The header checksum is checked first,
 * on the raw bytes, before anything is parsed. */
static bb_status parse_header(bb_st_file *f, const unsigned char *raw, size_t hl, size_t data_len)
{
    const char *what = f->path;
    f->data_len = data_len;
    int count;
    size_t pos = header_crc_pos(raw + 8, hl, &count);
    char digits[9] = "";
    if (count > 1) return bb_fail(BB_ERR_FORMAT, "%s: the header holds 'crc32.header' %d times, expected once", what, count);
    if (count == 1) {
        uint32_t want, got;
        if (pos == (size_t)-1 || !parse_hex8((const char *)raw + 8 + pos, 8, &want))
            return bb_fail(BB_ERR_FORMAT, "%s: header byte %zu: 'crc32.header' must be 8 lowercase hex digits", what, 8 + (pos == (size_t)-1 ? 0 : pos));
        got = header_crc(raw, raw + 8, hl, pos);
        if (got != want)
            return bb_fail(BB_ERR_FORMAT, "%s: header checksum mismatch: crc32.header is %08x, the length and the %zu header "
                           "bytes give %08x: the header was damaged or edited", what, (unsigned)want, hl, (unsigned)got);
        memcpy(digits, raw + 8 + pos, 8);
        f->checksummed = 1;
    }
    bb_json *root = NULL;
    bb_status s = bb_json_parse((const char *)raw + 8, hl, what, &root);
    if (s == BB_OK && root->type != BB_JSON_OBJECT) s = bb_fail(BB_ERR_FORMAT, "%s: header is not a JSON object", what);
    size_t count_all = s == BB_OK ? bb_json_count(root) : 0;
    if (s == BB_OK) {
        f->entries = calloc(count_all + 1, sizeof *f->entries);
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
    if (s == BB_OK) s = check_layout(f);
    if (s == BB_OK) s = check_crc_keys(f, digits);
    return s;
}

/* Each tensor's bytes against its checksum. */
static bb_status verify_data(const bb_st_file *f)
{
    for (int i = 0; f->checksummed && i < f->n; i++) {
        const bb_st_entry *e = &f->entries[i];
        uint32_t got = crc_add(0, f->data + e->begin, (size_t)(e->end - e->begin));
        if (got != e->crc)
            return bb_fail(BB_ERR_FORMAT, "%s: tensor '%s': checksum mismatch: crc32.tensor.%s is %08x, its %llu bytes at "
                           "data offset %llu give %08x: the data was damaged", f->path, e->name, e->name, (unsigned)e->crc,
                           (unsigned long long)(e->end - e->begin), (unsigned long long)e->begin, (unsigned)got);
    }
    return BB_OK;
}

/* the header length from the first 8 bytes, checked against the file size */
static bb_status header_length(const char *what, const unsigned char *len8, size_t size, size_t *hl)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)len8[i] << (8 * i);
    if (v < 2 || v > MAX_HEADER || v > size - 8)
        return bb_fail(BB_ERR_FORMAT, "%s: header length %llu does not fit the file of %zu bytes (expected 2 to %u and at "
                       "most the file size less 8: not a safetensors file, or truncated)", what, (unsigned long long)v, size,
                       (unsigned)MAX_HEADER);
    *hl = (size_t)v;
    return BB_OK;
}

bb_status bb_st_parse(bb_st_file *f, const char *what, unsigned char *buf, size_t size)
{
    init(f, what);
    f->buf = buf;
    f->size = size;
    size_t hl = 0;
    bb_status s = size < 8 ? bb_fail(BB_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file (need at least 8)", what, size)
                           : header_length(what, buf, size, &hl);
    if (s == BB_OK) s = parse_header(f, buf, hl, size - 8 - hl);
    if (s == BB_OK) {
        f->data = buf + 8 + hl;
        s = verify_data(f);
    }
    if (s != BB_OK) bb_st_close(f);
    return s;
}

bb_status bb_st_open(bb_st_file *f, const char *path)
{
    init(f, path);
    size_t size = 0, hl = 0;
    unsigned char len8[8];
    bb_status s = bb_file_open_regular(path, MAX_FILE, &f->fd, &size);
    f->size = size;
    if (s == BB_OK && size < 8)
        s = bb_fail(BB_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file (need at least 8)", path, size);
    if (s == BB_OK) s = bb_file_pread(f->fd, path, len8, 8, 0);
    if (s == BB_OK) s = header_length(path, len8, size, &hl);
    if (s == BB_OK && !(f->buf = malloc(8 + hl + 1))) s = bb_fail(BB_ERR_NOMEM, "%s: out of memory for a %zu-byte header", path, hl);
    if (s == BB_OK) s = bb_file_pread(f->fd, path, f->buf, 8 + hl, 0);
    if (s == BB_OK && memcmp(f->buf, len8, 8) != 0) s = bb_fail(BB_ERR_IO, "%s: the file changed while being read", path);
    if (s == BB_OK) s = parse_header(f, f->buf, hl, size - 8 - hl);
    if (s != BB_OK) bb_st_close(f);
    return s;
}

bb_status bb_st_read_data(bb_st_file *f)
{
    if (f->data) return BB_OK;
    if (f->fd < 0) return bb_fail(BB_ERR_INVALID, "%s: not opened with bb_st_open", f->path);
    f->data_buf = malloc(f->data_len + 1);
    if (!f->data_buf) return bb_fail(BB_ERR_NOMEM, "%s: cannot allocate %zu bytes for the tensors", f->path, f->data_len);
    bb_status s = bb_file_pread(f->fd, f->path, f->data_buf, f->data_len, (uint64_t)(f->size - f->data_len));
    close(f->fd);
    f->fd = -1;
    if (s == BB_OK) {
        f->data = f->data_buf;
        s = verify_data(f);
        if (s != BB_OK) f->data = NULL;
    }
    return s;
}

bb_status bb_st_read(bb_st_file *f, const char *path)
{
    BB_TRY(bb_st_open(f, path));
    bb_status s = bb_st_read_data(f);
    if (s != BB_OK) bb_st_close(f);
    return s;
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
    if (dst && !f->data) return bb_fail(BB_ERR_INVALID, "%s: tensor '%s': the data was not read", f->path, name);
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
