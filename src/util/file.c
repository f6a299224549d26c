/* Atomic replacement of files and whole-file reads, with every system call
 * checked and errno reported. */
#include "util/file.h"

#include "util/hooks.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* "No space left on device (the disk is full)" and the like */
static const char *io_hint(int err)
{
    if (err == ENOSPC) return " (the disk is full)";
#ifdef EDQUOT
    if (err == EDQUOT) return " (the disk quota is used up)";
#endif
    return "";
}

bb_status bb_file_write_atomic(const char *path, bb_file_writer write, void *arg)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return bb_fail(BB_ERR_INVALID, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return bb_fail(BB_ERR_IO, "%s: cannot create: %s%s", tmp, strerror(errno), io_hint(errno));
    errno = 0;
    bb_status s = write(f, arg);
    int err = errno;  /* why the writer failed, when a write call did */
    if (s == BB_OK && (ferror(f) || fflush(f) != 0))
        err = errno, s = bb_fail(BB_ERR_IO, "%s: write failed: %s%s", tmp, strerror(err), io_hint(err));
    if (s == BB_OK && fsync(fileno(f)) != 0)
        err = errno, s = bb_fail(BB_ERR_IO, "%s: fsync failed: %s%s", tmp, strerror(err), io_hint(err));
    if (fclose(f) != 0 && s == BB_OK)
        err = errno, s = bb_fail(BB_ERR_IO, "%s: close failed: %s%s", tmp, strerror(err), io_hint(err));
    if (s == BB_OK && rename(tmp, path) != 0)
        err = errno, s = bb_fail(BB_ERR_IO, "%s: cannot rename into place: %s", path, strerror(err));
    if (s != BB_OK) {
        unlink(tmp);
        char msg[900];
        snprintf(msg, sizeof msg, "%s", bb_last_error());
        return bb_fail(s, "%s%s; %s was left as it was", msg, strstr(msg, "(the disk") ? "" : io_hint(err), path);
    }
    return fsync_dir(path);
}

void bb_file_pause(FILE *f)
{
    long ms = bb_hooks_get()->write_delay_ms;
    if (ms <= 0) return;
    fflush(f);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* the pid in NAME = BASE ".tmp." DIGITS, or -1 */
static long tmp_pid(const char *name, const char *base)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || strncmp(name + n, ".tmp.", 5) != 0) return -1;
    const char *d = name + n + 5;
    if (!*d || strlen(d) > 9) return -1;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9') return -1;
    return atol(d);
}

bb_status bb_file_remove_stale_tmp(const char *path, int *removed)
{
    *removed = 0;
    char dbuf[4096], bbuf[4096];
    if (snprintf(dbuf, sizeof dbuf, "%s", path) >= (int)sizeof dbuf) return bb_fail(BB_ERR_INVALID, "%s: path too long", path);
    snprintf(bbuf, sizeof bbuf, "%s", path);
    const char *dir = dirname(dbuf), *base = basename(bbuf);
    DIR *dh = opendir(dir);
    if (!dh) return errno == ENOENT ? BB_OK : bb_fail(BB_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    bb_status s = BB_OK;
    for (struct dirent *e; (e = readdir(dh)) != NULL;) {
        long pid = tmp_pid(e->d_name, base);
        if (pid <= 0) continue;
        /* our own pid: a file from an earlier process that had it (containers
         * restart with the same pids); ESRCH: its writer is gone */
        if (pid != (long)getpid() && !(kill((pid_t)pid, 0) != 0 && errno == ESRCH)) continue;
        char full[8300];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        if (unlink(full) != 0 && errno != ENOENT) {
            s = bb_fail(BB_ERR_IO, "%s: cannot remove stale temporary file: %s", full, strerror(errno));
            break;
        }
        (*removed)++;
    }
    closedir(dh);
    return s;
}

bb_status bb_file_open_regular(const char *path, size_t max_bytes, int *fd_out, size_t *size)
{
    *fd_out = -1;
    *size = 0;
    /* O_NONBLOCK: opening a FIFO with no writer (or a device) must not wait;
     * only a regular file gets past fstat */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return bb_fail(BB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return bb_fail(BB_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return bb_fail(BB_ERR_IO, "%s: not a regular file (it is a %s); expected a file", path,
                       S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ? "FIFO"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "device" : S_ISSOCK(st.st_mode) ? "socket" : "special file");
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        close(fd);
        return bb_fail(BB_ERR_FORMAT, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size, max_bytes);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return bb_fail(BB_ERR_IO, "%s: fcntl failed: %s", path, strerror(e));
    }
    *fd_out = fd;
    *size = (size_t)st.st_size;
    return BB_OK;
}

bb_status bb_file_pread(int fd, const char *path, void *buf, size_t n, uint64_t offset)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return bb_fail(BB_ERR_IO, "%s: read failed at byte %llu: %s", path, (unsigned long long)(offset + got), strerror(errno));
        if (r == 0)
            return bb_fail(BB_ERR_FORMAT, "%s: the file ends at byte %llu, expected %zu bytes from byte %llu (file truncated "
                           "while reading?)", path, (unsigned long long)(offset + got), n, (unsigned long long)offset);
        got += (size_t)r;
    }
    return BB_OK;
}

bb_status bb_file_read_all(const char *path, size_t max_bytes, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd;
    size_t n;
    BB_TRY(bb_file_open_regular(path, max_bytes, &fd, &n));
    unsigned char *buf = malloc(n + 1);
    if (!buf) { close(fd); return bb_fail(BB_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n); }
    bb_status s = bb_file_pread(fd, path, buf, n, 0);
    close(fd);
    if (s != BB_OK) { free(buf); return s; }
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
