/* The folder reader's file index: one entry per candidate image file (path
 * relative to the root, size, mtime, what verification found), kept in a
 * cache file so that a later run re-checks only files that are new or changed.
 * Not part of the public API. */
#ifndef BB_DATA_IMAGEFOLDER_INTERNAL_H
#define BB_DATA_IMAGEFOLDER_INTERNAL_H

#include "data/imagefolder.h"
#include "util/log.h"
#include "util/status.h"

#include <stdint.h>

typedef struct {
    char *rel;                 /* path relative to the root, '/' separated; malloc'd */
    int64_t size, mtime_ns;    /* as stat() saw them when verified */
    int32_t w, h;              /* full-resolution size (0 if bad) */
    uint8_t format, channels;  /* BB_IMG_*, channels in the file */
    uint8_t ok;                /* 1: decodes completely */
    char *reason;              /* why not (malloc'd), NULL when ok */
} bb_if_entry;

typedef struct {
    bb_if_entry *e;
    int64_t n;
} bb_if_index;

#define BB_IF_INDEX_NAME ".bigbatch-index"

/* Reads an index file. BB_ERR_IO if it cannot be read, BB_ERR_FORMAT (with
 * the offset and field) if it is not a complete, checksummed index of `root`
 * (the root is checked only when root != NULL). Entries come back sorted by rel. */
bb_status bb_if_index_read(const char *path, const char *root, bb_if_index *ix);
/* Writes atomically (temporary file + rename). */
bb_status bb_if_index_write(const char *path, const char *root, const bb_if_index *ix);
void bb_if_index_free(bb_if_index *ix);
/* The entry whose rel equals `rel` in an index sorted by rel, or NULL. */
const bb_if_entry *bb_if_index_find(const bb_if_index *ix, const char *rel);


/* ---- scanning one root (imagefolder_scan.c) ---- */

typedef struct {
    char **classes;            /* sorted subfolder names */
    int64_t nclasses;
    bb_if_index ix;            /* every candidate file, sorted by rel, verified */
    int32_t *cls;              /* class of ix.e[i] */
    int64_t ignored;           /* other files (wrong extension, outside class folders) */
    char ignored_example[256];
    int64_t checked, reused;
    char index_path[1024];     /* where the index was read from or written to */
} bb_if_scan;

/* Lists ROOT (classes = subfolders, files below them, recursively, following
 * symbolic links; names starting with '.' are skipped), reuses the index for
 * files whose size and mtime are unchanged, verifies the rest on o->threads
 * threads and rewrites the index if anything changed. */
bb_status bb_if_scan_root(const char *root, const bb_imagefolder_options *o, bb_if_scan *s);
void bb_if_scan_free(bb_if_scan *s);

/* Whether the loader's messages go anywhere (o->log, or bb_log with o->report). */
static inline int bb_if_reports(const bb_imagefolder_options *o) { return o->log || o->report; }
/* One message line (no newline) to o->log, else to bb_log when o->report. */
void bb_if_say(const bb_imagefolder_options *o, bb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
