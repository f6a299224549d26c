/* Directory locks (lock.h). The kernel lock is an open-file-description lock
 * where the system has one (a second lock taken in the same process
 * conflicts too, and closing another descriptor of the file does not drop
 * it), else a POSIX record lock. The file's one line names the owner:
 *     pid=1234 host=node7 command=train started=2026-12-03T17:45:17Z */
#define _GNU_SOURCE  /* F_OFD_SETLK */
#include "util/lock.h"

#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef F_OFD_SETLK
#define LOCK_CMD F_OFD_SETLK
#else
#define LOCK_CMD F_SETLK
#endif

typedef struct {
    long pid;
    char host[256], command[32], started[32];
} owner;

static void this_host(char *buf, size_t cap)
{
    if (gethostname(buf, cap) != 0) snprintf(buf, cap, "unknown");
    buf[cap - 1] = 0;
    for (char *c = buf; *c; c++)
        if (*c == ' ' || *c == '\n' || *c == '=') *c = '_';
}

/* 1: an owner; 0: an empty file (its taker has not written it yet); -1: unreadable */
static int read_owner(int fd, owner *o)
{
    char buf[512];
    memset(o, 0, sizeof *o);
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return n == 0 ? 0 : -1;
    buf[n] = 0;
    if (sscanf(buf, "pid=%ld host=%255s command=%31s started=%31s", &o->pid, o->host, o->command, o->started) < 2 ||
        o->pid <= 0)
        return -1;
    return 1;
}

static void describe(const owner *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "pid %ld on host %s (bigbatch %s, started %s)", o->pid, o->host, o->command[0] ? o->command : "?",
             o->started[0] ? o->started : "?");
}

static bb_status write_owner(bb_lock *l, int fd, const char *host, const char *what)
{
    char ts[32] = "?", line[512];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int len = snprintf(line, sizeof line, "pid=%ld host=%s command=%s started=%s\n", (long)getpid(), host, what, ts);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        int err = errno;
        unlink(l->path);
        close(fd);
        return bb_fail(BB_ERR_IO, "%s: cannot write the lock file: %s%s", l->path, strerror(err), bb_io_hint(err));
    }
    l->fd = fd;
    return BB_OK;
}

bb_status bb_lock_take(bb_lock *l, const char *dir, const char *what)
{
    l->fd = -1;
    l->notice[0] = 0;
    if (snprintf(l->path, sizeof l->path, "%s/.lock", dir) >= (int)sizeof l->path)
        return bb_fail(BB_ERR_INVALID, "%s: path too long", dir);
    char host[256];
    this_host(host, sizeof host);
    /* a holder that releases (removes the file) while we open it leaves us a
     * lock on a file that no longer has the name: then take the new one */
    for (int attempt = 0; attempt < 20; attempt++) {
        int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return bb_fail(BB_ERR_IO, "%s: cannot create the lock file: %s%s", l->path, strerror(errno), bb_io_hint(errno));
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        int locked = fcntl(fd, LOCK_CMD, &fl) == 0, err = errno;
        owner o;
        int have = read_owner(fd, &o);
        char who[400] = "another process (it has not written its name into the lock file yet)";
        if (have == 1) describe(&o, who, sizeof who);
        if (!locked && (err == EAGAIN || err == EACCES)) {
            close(fd);
            return bb_fail(BB_ERR_REFUSED, "%s is in use by %s, which holds %s: wait for it to end, or choose another --out",
                           dir, who, l->path);
        }
        /* no kernel locks here (a network file system without them): the
         * recorded owner alone decides */
        if (!locked && err != ENOLCK && err != EINVAL && err != EOPNOTSUPP) {
            close(fd);
            return bb_fail(BB_ERR_IO, "%s: cannot lock: %s", l->path, strerror(err));
        }
        struct stat a, b;
        if (locked && (fstat(fd, &a) != 0 || stat(l->path, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)) {
            close(fd);
            continue;
        }
        if (have == 1 && strcmp(o.host, host) != 0) {
            close(fd);
            return bb_fail(BB_ERR_REFUSED, "%s is in use by %s according to %s; this host (%s) cannot tell whether that "
                           "process still runs: if it does not, remove %s and start again", dir, who, l->path, host, l->path);
        }
        /* on this host, the kernel lock decides: a recorded owner that does
         * not hold it is gone, or exiting (a zombie, a killed MPI rank not
         * yet reaped), or its pid was reused. Without kernel locks the pid
         * does: ours is a process before us that had it (a restarted
         * container); ESRCH, its process is gone. */
        int alive = have == 1 && o.pid != (long)getpid() && !(kill((pid_t)o.pid, 0) != 0 && errno == ESRCH);
        if (alive && !locked) {
            close(fd);
            return bb_fail(BB_ERR_REFUSED, "%s is in use by %s according to %s: wait for it to end, or choose another "
                           "--out; if pid %ld is no bigbatch process using %s, remove %s and start again", dir, who,
                           l->path, o.pid, dir, l->path);
        }
        if (have == 1)
            snprintf(l->notice, sizeof l->notice, "%.300s: taking over the lock of %.400s, which %s", l->path, who,
                     alive ? "does not hold it any more" : "is no longer running");
        else if (have < 0)
            snprintf(l->notice, sizeof l->notice, "%.600s: taking over a lock file that names no owner", l->path);
        return write_owner(l, fd, host, what);
    }
    return bb_fail(BB_ERR_IO, "%s: the lock file was replaced 20 times while this process tried to take it", l->path);
}

void bb_lock_release(bb_lock *l)
{
    if (l->fd < 0) return;
    unlink(l->path);
    close(l->fd);
    l->fd = -1;
}
