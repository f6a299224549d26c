/* A directory owned by one process at a time: DIR/.lock holds a kernel lock
 * (released by the kernel when its process dies) and names its owner (pid,
 * host, command, start time) for the messages and for other hosts. */
#ifndef BB_UTIL_LOCK_H
#define BB_UTIL_LOCK_H

#include "util/status.h"

typedef struct {
    int fd;                    /* -1: not held */
    char path[4096];           /* DIR/.lock */
    char notice[800];          /* "" or what was taken over (for the caller to print) */
} bb_lock;

/* Takes DIR/.lock for `what` (the command: "train", "sweep"), which must
 * exist as a directory. Refused (BB_ERR_REFUSED, naming the owner and what to
 * do) while another process holds it, or when it names a process on another
 * host (this host cannot tell whether that one runs). A lock file left by a
 * process on this host that no longer holds the kernel lock (it died) is
 * taken over, and l->notice says so; on a file system without kernel locks
 * that takes a pid that is not running, or this process's own (a restarted
 * container). */
bb_status bb_lock_take(bb_lock *l, const char *dir, const char *what);
/* Removes the lock file and lets it go; nothing when not held. */
void bb_lock_release(bb_lock *l);

#endif
