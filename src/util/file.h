/* Files written atomically (temporary file in the same directory, fsync,
 * rename, fsync of the directory): a reader sees the old file or the new one,
 * never half of one, whatever happens to the writer. */
#ifndef BB_UTIL_FILE_H
#define BB_UTIL_FILE_H

#include "util/status.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* `write` gets an open FILE* for the temporary file and returns BB_OK or a
 * failure; write errors on the stream are caught here too. */
typedef bb_status (*bb_file_writer)(FILE *f, void *arg);
bb_status bb_file_write_atomic(const char *path, bb_file_writer write, void *arg);

/* Removes path.tmp.<pid> files that bb_file_write_atomic left behind when
 * its process died mid-write (the pid no longer runs, or is this process's
 * own: call it before writing). *removed counts them. */
bb_status bb_file_remove_stale_tmp(const char *path, int *removed);

/* Called by writers between parts of a file. Only for tests: with
 * BB_TEST_WRITE_DELAY_MS=N in the environment it flushes and sleeps N ms, so
 * that a test can kill the process while the temporary file is half written.
 * Without it, nothing. */
void bb_file_pause(FILE *f);

/* Opens a regular file for reading (at most max_bytes long) and gives its
 * descriptor and size. FIFOs, directories and devices are refused without a
 * blocking open or read. The caller closes *fd. */
bb_status bb_file_open_regular(const char *path, size_t max_bytes, int *fd, size_t *size);
/* Reads exactly n bytes at offset; a short file is a BB_ERR_FORMAT naming it. */
bb_status bb_file_pread(int fd, const char *path, void *buf, size_t n, uint64_t offset);

/* Reads a whole regular file (at most max_bytes) into a malloc'd buffer. */
bb_status bb_file_read_all(const char *path, size_t max_bytes, unsigned char **out, size_t *len);

/* mkdir -p */
bb_status bb_mkdirs(const char *path);

#endif
