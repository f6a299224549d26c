/* Atomic replacement of files and whole-file reads, with every system call
 * checked and errno reported. */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bb_status fsync_dir(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    const char *dir = dirname(tmp);
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return bb_fail(BB_ERR_IO, "%s: cannot open directory to sync: %s", dir, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0 && e != EINVAL) return bb_fail(BB_ERR_IO, "%s: fsync of directory failed: %s", dir, strerror(e));
    return BB_OK;
}

bb_status bb_file_write_atomic(const char *path, bb_file_writer write, void *arg)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return bb_fail(BB_ERR_INVALID, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return bb_fail(BB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    bb_status s = write(f, arg);
    if (s == BB_OK && (ferror(f) || fflush(f) != 0))
        s = bb_fail(BB_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (s == BB_OK && fsync(fileno(f)) != 0)
        s = bb_fail(BB_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && s == BB_OK)
        s = bb_fail(BB_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (s == BB_OK && rename(tmp, path) != 0)
        s = bb_fail(BB_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (s != BB_OK) {
        unlink(tmp);
        return s;
    }
    return fsync_dir(path);
}

bb_status bb_file_read_all(const char *path, size_t max_bytes, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return bb_fail(BB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return bb_fail(BB_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return bb_fail(BB_ERR_FORMAT, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) { fclose(f); return bb_fail(BB_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n); }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return bb_fail(BB_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return BB_OK;
}

bb_status bb_mkdirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return bb_fail(BB_ERR_INVALID, "%s: path too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return bb_fail(BB_ERR_IO, "%s: cannot create directory: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return bb_fail(BB_ERR_IO, "%s: cannot create directory: %s", tmp, strerror(errno));
    struct stat st;
    if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) return bb_fail(BB_ERR_IO, "%s: exists and is not a directory", tmp);
    return BB_OK;
}
