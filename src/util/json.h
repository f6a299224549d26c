/* A small strict JSON reader (RFC 8259) into a tree, for safetensors headers,
 * checkpoint metadata and run records. Depth and size are bounded; every error
 * names the byte offset. */
#ifndef BB_UTIL_JSON_H
#define BB_UTIL_JSON_H

#include "util/status.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { BB_JSON_NULL, BB_JSON_BOOL, BB_JSON_NUMBER, BB_JSON_STRING, BB_JSON_ARRAY, BB_JSON_OBJECT } bb_json_type;

typedef struct bb_json {
    bb_json_type type;
    char *key;                 /* member name when inside an object */
    char *str;                 /* BB_JSON_STRING (NUL-terminated, may contain no NUL) */
    double num;                /* BB_JSON_NUMBER and BB_JSON_BOOL */
    int is_integer;            /* number written without fraction or exponent */
    int64_t integer;           /* its value, when it fits */
    struct bb_json *child;     /* first element / member */
    struct bb_json *next;      /* next sibling */
} bb_json;

/* Parses text[0..len). *out must be released with bb_json_free. `what` names
 * the source in error messages. */
bb_status bb_json_parse(const char *text, size_t len, const char *what, bb_json **out);
void bb_json_free(bb_json *j);
const bb_json *bb_json_get(const bb_json *obj, const char *key);  /* NULL if absent */
size_t bb_json_count(const bb_json *j);

/* Appends s to buf as a quoted JSON string (escaping as needed); returns the
 * length it needed (like snprintf). */
size_t bb_json_quote(char *buf, size_t cap, const char *s);

#endif
