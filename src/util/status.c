/* Per-thread error message storage behind bb_fail / bb_last_error. */
#include "util/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

bb_status bb_fail(bb_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

bb_status bb_fail_context(bb_status s, const char *fmt, ...)
{
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    snprintf(last_error, sizeof last_error, "%.500s: %.500s", prefix, old);
    return s;
}

const char *bb_last_error(void) { return last_error[0] ? last_error : "no error"; }

const char *bb_status_name(bb_status s)
{
    switch (s) {
    case BB_OK: return "ok";
    case BB_ERR_INVALID: return "invalid argument";
    case BB_ERR_IO: return "i/o error";
    case BB_ERR_FORMAT: return "bad file format";
    case BB_ERR_NOMEM: return "out of memory";
    case BB_ERR_NUMERIC: return "numerical failure";
    case BB_ERR_COMM: return "communication failure";
    case BB_ERR_INTERRUPTED: return "interrupted";
    case BB_ERR_UNSUPPORTED: return "unsupported";
    case BB_ERR_REFUSED: return "refused";
    }
    return "unknown";
}
