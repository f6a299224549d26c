/* Fuzz targets: one entry point per parser of outside input (IDX raw and
 * gzip, CIFAR batches, JSON, checkpoints, command-line flags, JPEG/PNG files
 * and the image-folder index). Each accepts any
 * bytes and must not crash, leak or trip a sanitizer; where a parse succeeds it
 * checks what the parse promises and abort()s if that fails. The libFuzzer
 * binaries (`make fuzz`) and the replay test (tests/test_fuzz_replay.c) call
 * these same functions, so every stored input runs in every build. */
#ifndef BB_FUZZ_H
#define BB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

typedef int (*bb_fuzz_fn)(const uint8_t *data, size_t size);
typedef struct {
    const char *name;          /* fuzz/corpus/<name>, fuzz/crashers/<name>, build-fuzz/fuzz_<name> */
    bb_fuzz_fn fn;
} bb_fuzz_target;

extern const bb_fuzz_target bb_fuzz_targets[];  /* ends with {NULL, NULL} */

int bb_fuzz_idx(const uint8_t *data, size_t size);
int bb_fuzz_idx_gzip(const uint8_t *data, size_t size);
int bb_fuzz_cifar(const uint8_t *data, size_t size);
int bb_fuzz_json(const uint8_t *data, size_t size);
int bb_fuzz_checkpoint(const uint8_t *data, size_t size);
int bb_fuzz_config(const uint8_t *data, size_t size);
int bb_fuzz_image(const uint8_t *data, size_t size);
int bb_fuzz_image_index(const uint8_t *data, size_t size);

/* gzip-compresses src (in `members` gzip members, 1 or 2) into a malloc'd
 * buffer; NULL if zlib fails. */
unsigned char *bb_fuzz_gzip(const uint8_t *src, size_t n, int members, size_t *out_len);
/* Little-endian u32 at p. */
uint32_t bb_fuzz_le32(const uint8_t *p);
/* Checks a loaded set (labels in range, first and last sample fetch in both
 * modes) and frees it; abort()s on a broken promise. */
void bb_fuzz_check_dataset(void *dataset);

#define BB_FUZZ_REQUIRE(cond) do { if (!(cond)) bb_fuzz_violation(#cond, __FILE__, __LINE__); } while (0)
void bb_fuzz_violation(const char *what, const char *file, int line);

#endif
