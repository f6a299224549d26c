/* The library's messages, handed to the callback of bb_log_set
 * (include/bigbatch.h); dropped when none is set. The library never prints. */
#ifndef BB_UTIL_LOG_H
#define BB_UTIL_LOG_H

#include "bigbatch.h"

/* One line (printf format, no trailing newline). */
void bb_log(bb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether a callback is set (to skip building a message nobody reads). */
int bb_log_enabled(void);

#endif
