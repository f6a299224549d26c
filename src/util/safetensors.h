/* The safetensors format (an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw data): used for
 * checkpoints and test fixtures, and readable by PyTorch, JAX and numpy users.
 * The writer adds CRC-32 checksums to the metadata (a string map, so other
 * readers ignore them): "crc32.tensor.NAME" for each tensor's bytes and
 * "crc32.header" for the length and header bytes with its own 8 hex digits
 * read as '0'. The reader validates every field and range, and the checksums
 * when present, before anything is used. */
#ifndef BB_UTIL_SAFETENSORS_H
#define BB_UTIL_SAFETENSORS_H

#include "util/status.h"

#include <stddef.h>
#include <stdint.h>

#define BB_ST_MAX_DIMS 8

typedef struct {
    const char *name;
    const char *dtype;           /* "F32", "I32", "I64", "U8", "F64" */
    int ndim;
    int64_t shape[BB_ST_MAX_DIMS];
    const void *data;            /* little-endian, element size x product(shape) bytes */
} bb_st_tensor;

/* Atomic write, with the checksums; meta is NULL or a NULL-terminated list of
 * key, value, key, ... (keys starting "crc32." are the writer's own). */
bb_status bb_st_write(const char *path, const bb_st_tensor *tensors, int n, const char *const *meta);

typedef struct {
    char *name;
    char dtype[8];
    int ndim;
    int64_t shape[BB_ST_MAX_DIMS];
    uint64_t begin, end;         /* byte range in the data area */
    uint32_t crc;                /* its "crc32.tensor.NAME", when the file is checksummed */
} bb_st_entry;

typedef struct {
    char path[512];
    unsigned char *buf;
    size_t size;
    const unsigned char *data;
    size_t data_len;
    bb_st_entry *entries;
    int n;
    char **meta;                 /* key, value, key, value ... */
    int nmeta;
    int checksummed;             /* "crc32.header" present: header verified, data verified once read */
    int fd;                      /* bb_st_open until bb_st_read_data; -1 otherwise */
    unsigned char *data_buf;     /* what bb_st_read_data read */
} bb_st_file;

/* The whole file: bb_st_open, then bb_st_read_data. */
bb_status bb_st_read(bb_st_file *f, const char *path);
/* The header only, in bounded memory: a regular file (FIFOs, directories and
 * devices refused without a blocking read), the length checked against the
 * file size before the header is read, the header checksum when present, the
 * JSON, every entry, and tensors covering the data area exactly. f->data is
 * NULL until bb_st_read_data. */
bb_status bb_st_open(bb_st_file *f, const char *path);
/* Reads the data area of an opened file and verifies each tensor's checksum
 * (when the file has them); nothing else is kept open. */
bb_status bb_st_read_data(bb_st_file *f);
/* An in-memory file, checked as bb_st_read does; takes buf. */
bb_status bb_st_parse(bb_st_file *f, const char *what, unsigned char *buf, size_t size);
/* Recomputes "crc32.header" of a whole file in memory after its header was
 * edited (same length); returns 0 if the file has no such entry. The writer's
 * last step; tests and the fuzz target use it to reach the checks behind the
 * checksum. */
int bb_st_seal_header(unsigned char *buf, size_t size);
void bb_st_close(bb_st_file *f);
const bb_st_entry *bb_st_find(const bb_st_file *f, const char *name);
const char *bb_st_meta(const bb_st_file *f, const char *key);
/* Copies a tensor that must have dtype F32 (or I32 for the _i32 form) and
 * exactly `count` elements; dst NULL only checks. */
bb_status bb_st_get_f32(const bb_st_file *f, const char *name, float *dst, int64_t count);
bb_status bb_st_get_i32(const bb_st_file *f, const char *name, int32_t *dst, int64_t count);

#endif
