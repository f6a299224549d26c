/* The process-wide message callback (set once, before any trainer starts;
 * read-only afterwards, so threads may log without a lock). */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

static bb_log_fn log_fn;
static void *log_user;

void bb_log_set(bb_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

int bb_log_enabled(void) { return log_fn != NULL; }

void bb_log(bb_log_level level, const char *fmt, ...)
{
    if (!log_fn) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_user);
}
