/* A byte stream over a raw or gzip-compressed file. Gzip is recognised by its
 * 1f 8b magic and decoded with zlib inflate (header, CRC-32 and length of every
 * member checked; concatenated members allowed). Every failure names the file
 * and the offset: truncation, a corrupt stream, bytes after the expected end. */
#include "data/data_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IN_BUF (1 << 16)

struct bb_in {
    char path[1024];
    FILE *f;             /* NULL: the bytes come from mem[0, mem_len) */
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    int gz;
    int zend;            /* the current gzip member has ended */
    int eof;             /* fread reached the end of the file */
    z_stream z;
    uint64_t file_size;
    uint64_t fed;        /* compressed bytes read from the file */
    uint64_t pos;        /* bytes delivered to the caller */
    unsigned char buf[IN_BUF];
};

int bb_in_is_gzip(const bb_in *in) { return in->gz; }
uint64_t bb_in_file_size(const bb_in *in) { return in->file_size; }
uint64_t bb_in_offset(const bb_in *in) { return in->pos; }

static unsigned long long coff(const bb_in *in) { return (unsigned long long)(in->fed - in->z.avail_in); }

/* Up to n bytes from the file or the memory buffer: 0 at the end, or on a read
 * error (src_error tells which). */
static size_t src_read(bb_in *in, void *dst, size_t n)
{
    if (in->f) return fread(dst, 1, n, in->f);
    size_t left = in->mem_len - in->mem_pos, k = n < left ? n : left;
    if (k) memcpy(dst, in->mem + in->mem_pos, k);
    in->mem_pos += k;
    return k;
}

static int src_error(const bb_in *in) { return in->f && ferror(in->f); }

/* Makes at least `want` compressed bytes available unless the file ends first. */
static bb_status fill(bb_in *in, size_t want)
{
    if (in->z.avail_in >= want || in->eof) return BB_OK;
    if (in->z.avail_in > 0) memmove(in->buf, in->z.next_in, in->z.avail_in);
    in->z.next_in = in->buf;
    while (in->z.avail_in < want && !in->eof) {
        size_t got = src_read(in, in->buf + in->z.avail_in, IN_BUF - in->z.avail_in);
        if (got == 0) {
            if (src_error(in))
                return bb_fail(BB_ERR_IO, "%s: read error at byte %llu: %s", in->path,
                               (unsigned long long)in->fed, strerror(errno));
            in->eof = 1;
        }
        in->z.avail_in += (uInt)got;
        in->fed += got;
    }
    return BB_OK;
}

/* Reads the first bytes and sets up inflate when they are the gzip magic. */
static bb_status start(bb_in *in)
{
    in->z.next_in = in->buf;
    bb_status s = fill(in, 2);
    if (s == BB_OK && in->z.avail_in >= 2 && in->buf[0] == 0x1f && in->buf[1] == 0x8b) {
        in->gz = 1;
        /* 16 + MAX_WBITS: gzip wrapper only, with its CRC and length checks */
        int r = inflateInit2(&in->z, 16 + MAX_WBITS);
        if (r != Z_OK) s = bb_fail(r == Z_MEM_ERROR ? BB_ERR_NOMEM : BB_ERR_IO, "%s: inflateInit2 failed (%d)", in->path, r);
        else in->gz = 2;  /* 2: inflate state must be freed */
    }
    return s;
}

bb_status bb_in_open(bb_in **out, const char *path)
{
    *out = NULL;
    bb_in *in = calloc(1, sizeof *in);
    if (!in) return bb_fail(BB_ERR_NOMEM, "%s: cannot allocate a reader", path);
    snprintf(in->path, sizeof in->path, "%s", path);
    in->f = fopen(path, "rb");
    if (!in->f) {
        bb_status s = bb_fail(BB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        free(in);
        return s;
    }
    struct stat st;
    if (fstat(fileno(in->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(in->f);
        free(in);
        return bb_fail(BB_ERR_IO, "%s: not a regular file", path);
    }
    in->file_size = (uint64_t)st.st_size;
    bb_status s = start(in);
    if (s != BB_OK) {
        bb_in_close(in);
        return s;
    }
    *out = in;
    return BB_OK;
}

bb_status bb_in_open_mem(bb_in **out, const char *name, const void *buf, size_t len)
{
    *out = NULL;
    bb_in *in = calloc(1, sizeof *in);
    if (!in) return bb_fail(BB_ERR_NOMEM, "%s: cannot allocate a reader", name);
    snprintf(in->path, sizeof in->path, "%s", name);
    in->mem = buf;
    in->mem_len = buf ? len : 0;
    in->file_size = in->mem_len;
    bb_status s = start(in);
    if (s != BB_OK) {
        bb_in_close(in);
        return s;
    }
    *out = in;
    return BB_OK;
}

void bb_in_close(bb_in *in)
{
    if (!in) return;
    if (in->gz == 2) inflateEnd(&in->z);
    if (in->f) fclose(in->f);
    free(in);
}

/* One step of gzip decoding into dst[0, n): *got > 0, or 0 at the clean end. */
static bb_status gz_some(bb_in *in, unsigned char *dst, size_t n, size_t *got)
{
    *got = 0;
    for (;;) {
        if (in->zend) {
            BB_TRY(fill(in, 2));
            if (in->z.avail_in == 0) return BB_OK;  /* clean end after a whole member */
            if (in->z.avail_in < 2 || in->z.next_in[0] != 0x1f || in->z.next_in[1] != 0x8b)
                return bb_fail(BB_ERR_FORMAT,
                               "%s: trailing data: non-gzip bytes after the end of the gzip stream at compressed offset %llu "
                               "(expected end of file or another gzip member, found 0x%02x)",
                               in->path, coff(in), in->z.next_in[0]);
            inflateReset(&in->z);
            in->zend = 0;
        }
        if (in->z.avail_in == 0) BB_TRY(fill(in, 1));
        if (in->z.avail_in == 0)
            return bb_fail(BB_ERR_FORMAT,
                           "%s: truncated gzip stream: the file ends at compressed byte %llu (after %llu decompressed bytes) "
                           "before the end-of-stream marker and CRC trailer",
                           in->path, (unsigned long long)in->fed, (unsigned long long)in->pos);
        size_t chunk = n > (size_t)1 << 30 ? (size_t)1 << 30 : n;
        in->z.next_out = dst;
        in->z.avail_out = (uInt)chunk;
        int r = inflate(&in->z, Z_NO_FLUSH);
        *got = chunk - in->z.avail_out;
        in->pos += *got;
        if (r == Z_STREAM_END) in->zend = 1;
        else if (r == Z_MEM_ERROR) return bb_fail(BB_ERR_NOMEM, "%s: out of memory in inflate", in->path);
        else if (r != Z_OK && r != Z_BUF_ERROR)
            return bb_fail(BB_ERR_FORMAT, "%s: bad gzip stream near compressed byte %llu (decompressed offset %llu): %s",
                           in->path, coff(in), (unsigned long long)in->pos, in->z.msg ? in->z.msg : "zlib error");
        if (*got > 0) return BB_OK;
    }
}

bb_status bb_in_read_upto(bb_in *in, void *dst, size_t n, size_t *got)
{
    unsigned char *p = dst;
    *got = 0;
    while (*got < n) {
        size_t step = 0;
        if (in->gz) {
            BB_TRY(gz_some(in, p + *got, n - *got, &step));
        } else {
            /* raw: serve what fill() buffered first, then read directly */
            if (in->z.avail_in > 0) {
                step = in->z.avail_in < n - *got ? in->z.avail_in : n - *got;
                memcpy(p + *got, in->z.next_in, step);
                in->z.next_in += step;
                in->z.avail_in -= (uInt)step;
            } else if (!in->eof) {
                step = src_read(in, p + *got, n - *got);
                in->fed += step;
                if (step == 0) {
                    if (src_error(in))
                        return bb_fail(BB_ERR_IO, "%s: read error at byte %llu: %s", in->path,
                                       (unsigned long long)in->fed, strerror(errno));
                    in->eof = 1;
                }
            }
            in->pos += step;
        }
        if (step == 0) break;
        *got += step;
    }
    return BB_OK;
}

bb_status bb_in_read(bb_in *in, void *dst, size_t n, const char *what)
{
    uint64_t at = in->pos;
    size_t got;
    BB_TRY(bb_in_read_upto(in, dst, n, &got));
    if (got < n)
        return bb_fail(BB_ERR_FORMAT, "%s: truncated: %s at %soffset %llu needs %zu bytes, found only %zu before the end of the data",
                       in->path, what, in->gz ? "decompressed " : "", (unsigned long long)at, n, got);
    return BB_OK;
}

bb_status bb_in_expect_end(bb_in *in, const char *what)
{
    unsigned char extra[256];
    size_t got;
    uint64_t at = in->pos;
    BB_TRY(bb_in_read_upto(in, extra, sizeof extra, &got));
    if (got > 0)
        return bb_fail(BB_ERR_FORMAT, "%s: trailing data: expected the file to end after the %s at %soffset %llu, found more bytes",
                       in->path, what, in->gz ? "decompressed " : "", (unsigned long long)at);
    return BB_OK;
}
