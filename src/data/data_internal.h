/* Internals shared by the data readers: a byte stream over a raw or gzip file
 * (detected by content) that reports truncation, corruption and trailing bytes
 * with the file name and offset, and the in-memory dataset allocator whose
 * fetch() every reader uses. Not part of the public API. */
#ifndef BB_DATA_INTERNAL_H
#define BB_DATA_INTERNAL_H

#include "data/data.h"

#include <stddef.h>
#include <stdint.h>

typedef struct bb_in bb_in;

/* Opens `path`; a file starting with 1f 8b is read through inflate (gzip
 * members, each CRC- and length-checked), anything else as raw bytes. */
bb_status bb_in_open(bb_in **out, const char *path);
/* The same over buf[0, len) (not copied: it must outlive the reader); `name`
 * stands for the file name in messages. */
bb_status bb_in_open_mem(bb_in **out, const char *name, const void *buf, size_t len);
void bb_in_close(bb_in *in);
int bb_in_is_gzip(const bb_in *in);
uint64_t bb_in_file_size(const bb_in *in);   /* on disk (compressed) */
uint64_t bb_in_offset(const bb_in *in);      /* (decompressed) bytes delivered so far */
/* Exactly n bytes, or BB_ERR_FORMAT "truncated" naming `what` and the offset. */
bb_status bb_in_read(bb_in *in, void *dst, size_t n, const char *what);
/* Up to n bytes; *got < n only at the clean end of the data. */
bb_status bb_in_read_upto(bb_in *in, void *dst, size_t n, size_t *got);
/* BB_OK if nothing follows (for gzip: the stream ended with a valid trailer);
 * otherwise BB_ERR_FORMAT "trailing data" naming `what` that should have been last. */
bb_status bb_in_expect_end(bb_in *in, const char *what);

/* Sets up an in-memory set: shape, name, identity normalization, the in-memory
 * fetch(), zeroed labels (n) and pixels (n, c, h, w): `pixels` when non-NULL
 * (a bb_alloc'd buffer the set then owns; on failure it stays the caller's),
 * else a zeroed allocation. Overwrites *d without freeing it. */
bb_status bb_data_alloc(bb_dataset *d, const char *name, int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes,
                        uint8_t *pixels);
/* The in-memory fetch(): crop/flip (when train) and normalization. */
bb_status bb_data_fetch_memory(const bb_dataset *d, int64_t index, int train, uint64_t seed, int64_t epoch, float *out);

/* In-memory forms of the readers, through the same code as the files (for the
 * fuzz targets and tests); `name` names the set. */
bb_status bb_dataset_idx_from_memory(bb_dataset *d, const void *images, size_t images_len, const void *labels,
                                     size_t labels_len, const char *name);
/* One CIFAR-10 (cifar100 = 0) or CIFAR-100 batch file's contents as a set. */
bb_status bb_dataset_cifar_from_memory(bb_dataset *d, const void *buf, size_t len, int cifar100, const char *name);

#endif
