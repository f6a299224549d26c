/* Aligned zeroed allocation (so vector loads never straddle cache lines) and a
 * monotonic clock. */
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void *bb_alloc(size_t bytes)
{
    if (bytes == 0) return NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void bb_free(void *p) { free(p); }

double bb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
