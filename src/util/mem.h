/* Aligned allocation and small helpers shared by every module. */
#ifndef BB_UTIL_MEM_H
#define BB_UTIL_MEM_H

#include <stddef.h>
#include <stdint.h>

/* 64-byte aligned, zero-filled; NULL on failure (or when bytes == 0). */
void *bb_alloc(size_t bytes);
void bb_free(void *p);
double bb_now(void);  /* monotonic seconds */

#endif
