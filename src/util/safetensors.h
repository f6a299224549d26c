/* The safetensors format (an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw data): used for
 * checkpoints and test fixtures, and readable by PyTorch, JAX and numpy users.
 * The reader validates every field and range before anything is used. */
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

/* Atomic write; meta is NULL or a NULL-terminated list of key, value, key, ... */
bb_status bb_st_write(const char *path, const bb_st_tensor *tensors, int n, const char *const *meta);

typedef struct {
    char *name;
    char dtype[8];
    int ndim;
    int64_t shape[BB_ST_MAX_DIMS];
    uint64_t begin, end;         /* byte range in the data area */
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
} bb_st_file;

bb_status bb_st_read(bb_st_file *f, const char *path);
bb_status bb_st_parse(bb_st_file *f, const char *what, unsigned char *buf, size_t size); /* takes buf */
void bb_st_close(bb_st_file *f);
const bb_st_entry *bb_st_find(const bb_st_file *f, const char *name);
const char *bb_st_meta(const bb_st_file *f, const char *key);
/* Copies a tensor that must have dtype F32 (or I32 for the _i32 form) and
 * exactly `count` elements; dst NULL only checks. */
bb_status bb_st_get_f32(const bb_st_file *f, const char *name, float *dst, int64_t count);
bb_status bb_st_get_i32(const bb_st_file *f, const char *name, int32_t *dst, int64_t count);

#endif
