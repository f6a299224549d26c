/* Recursive-descent JSON parser. Limits: depth 64, strings must be valid UTF-8
 * free of NUL (\u0000 is refused), numbers as strtod reads them. */
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t len, pos;
    const char *what;
    int depth;
} parser;

static bb_status perr(parser *p, const char *msg)
{
    return bb_fail(BB_ERR_FORMAT, "%s: invalid JSON at byte %zu: %s", p->what, p->pos, msg);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int put_utf8(char *out, size_t *n, unsigned cp)
{
    if (cp < 0x80) { out[(*n)++] = (char)cp; }
    else if (cp < 0x800) { out[(*n)++] = (char)(0xC0 | (cp >> 6)); out[(*n)++] = (char)(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xE0 | (cp >> 12)); out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*n)++] = (char)(0xF0 | (cp >> 18)); out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
    return 0;
}

static int hex4(parser *p, unsigned *v)
{
    if (p->len - p->pos < 4) return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    return 0;
}

static bb_status parse_string(parser *p, char **out)
{
    /* p->s[p->pos] == '"' */
    p->pos++;
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] != '"') p->pos += p->s[p->pos] == '\\' ? 2 : 1;
    if (p->pos >= p->len) return perr(p, "unterminated string");
    char *buf = malloc(p->pos - start + 1);
    if (!buf) return bb_fail(BB_ERR_NOMEM, "%s: out of memory", p->what);
    size_t n = 0;
    p->pos = start;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c < 0x20) { free(buf); p->pos--; return perr(p, "control character in string"); }
        if (c != '\\') { buf[n++] = (char)c; continue; }
        char e = p->s[p->pos++];
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(p, &cp) < 0) { free(buf); return perr(p, "bad \\u escape"); }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') { free(buf); return perr(p, "lone surrogate"); }
                p->pos += 2;
                if (hex4(p, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) { free(buf); return perr(p, "bad surrogate pair"); }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) { free(buf); return perr(p, "lone surrogate"); }
            if (cp == 0) { free(buf); return perr(p, "\\u0000 is not accepted"); }
            /* a \uXXXX escape takes 6 input bytes and at most 4 output bytes */
            put_utf8(buf, &n, cp);
            break;
        }
        default: free(buf); return perr(p, "bad escape");
        }
    }
    p->pos++;
    buf[n] = 0;
    *out = buf;
    return BB_OK;
}

static bb_status parse_value(parser *p, bb_json **out);

static bb_status new_node(parser *p, bb_json_type t, bb_json **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return bb_fail(BB_ERR_NOMEM, "%s: out of memory", p->what);
    (*out)->type = t;
    return BB_OK;
}

static bb_status parse_container(parser *p, bb_json *node, char close)
{
    if (++p->depth > 64) return perr(p, "nesting deeper than 64");
    p->pos++;
    bb_json **tail = &node->child;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; p->depth--; return BB_OK; }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (close == '}') {
            if (p->pos >= p->len || p->s[p->pos] != '"') return perr(p, "expected a member name");
            BB_TRY(parse_string(p, &key));
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') { free(key); return perr(p, "expected ':'"); }
            p->pos++;
        }
        bb_json *v = NULL;
        bb_status s = parse_value(p, &v);
        if (s != BB_OK) { bb_json_free(v); free(key); return s; }  /* v: what was built before the error */
        v->key = key;
        *tail = v;
        tail = &v->next;
        skip_ws(p);
        if (p->pos >= p->len) return perr(p, "unexpected end");
        if (p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->s[p->pos] == close) { p->pos++; p->depth--; return BB_OK; }
        return perr(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bb_status parse_value(parser *p, bb_json **out)
{
    skip_ws(p);
    if (p->pos >= p->len) return perr(p, "unexpected end");
    char c = p->s[p->pos];
    bb_json *node = NULL;
    bb_status s;
    if (c == '{' || c == '[') {
        BB_TRY(new_node(p, c == '{' ? BB_JSON_OBJECT : BB_JSON_ARRAY, &node));
        *out = node;
        return parse_container(p, node, c == '{' ? '}' : ']');
    }
    if (c == '"') {
        BB_TRY(new_node(p, BB_JSON_STRING, &node));
        *out = node;
        return parse_string(p, &node->str);
    }
    static const struct { const char *word; bb_json_type t; double v; } words[] = {
        {"true", BB_JSON_BOOL, 1}, {"false", BB_JSON_BOOL, 0}, {"null", BB_JSON_NULL, 0}};
    for (int i = 0; i < 3; i++) {
        size_t wl = strlen(words[i].word);
        if (p->len - p->pos >= wl && memcmp(p->s + p->pos, words[i].word, wl) == 0) {
            BB_TRY(new_node(p, words[i].t, &node));
            node->num = words[i].v;
            p->pos += wl;
            *out = node;
            return BB_OK;
        }
    }
    /* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    size_t q = p->pos, start = q;
    int integer = 1;
    if (q < p->len && p->s[q] == '-') q++;
    if (q >= p->len || p->s[q] < '0' || p->s[q] > '9') return perr(p, "unexpected character");
    if (p->s[q] == '0') q++;
    else while (q < p->len && p->s[q] >= '0' && p->s[q] <= '9') q++;
    if (q < p->len && p->s[q] == '.') {
        integer = 0;
        q++;
        if (q >= p->len || p->s[q] < '0' || p->s[q] > '9') { p->pos = q; return perr(p, "digit expected after '.'"); }
        while (q < p->len && p->s[q] >= '0' && p->s[q] <= '9') q++;
    }
    if (q < p->len && (p->s[q] == 'e' || p->s[q] == 'E')) {
        integer = 0;
        q++;
        if (q < p->len && (p->s[q] == '+' || p->s[q] == '-')) q++;
        if (q >= p->len || p->s[q] < '0' || p->s[q] > '9') { p->pos = q; return perr(p, "digit expected in exponent"); }
        while (q < p->len && p->s[q] >= '0' && p->s[q] <= '9') q++;
    }
    char tmp[64];
    if (q - start >= sizeof tmp) return perr(p, "number too long");
    memcpy(tmp, p->s + start, q - start);
    tmp[q - start] = 0;
    s = new_node(p, BB_JSON_NUMBER, &node);
    if (s != BB_OK) return s;
    node->num = strtod(tmp, NULL);
    if (integer && q - start <= 18) { node->is_integer = 1; node->integer = strtoll(tmp, NULL, 10); }
    p->pos = q;
    *out = node;
    return BB_OK;
}

bb_status bb_json_parse(const char *text, size_t len, const char *what, bb_json **out)
{
    parser p = {text, len, 0, what, 0};
    bb_json *root = NULL;
    bb_status s = parse_value(&p, &root);
    if (s == BB_OK) {
        skip_ws(&p);
        if (p.pos != len) s = perr(&p, "trailing characters");
    }
    if (s != BB_OK) { bb_json_free(root); *out = NULL; return s; }
    *out = root;
    return BB_OK;
}

void bb_json_free(bb_json *j)
{
    while (j) {
        bb_json *next = j->next;
        bb_json_free(j->child);
        free(j->key);
        free(j->str);
        free(j);
        j = next;
    }
}

const bb_json *bb_json_get(const bb_json *obj, const char *key)
{
    if (!obj || obj->type != BB_JSON_OBJECT) return NULL;
    for (const bb_json *c = obj->child; c; c = c->next)
        if (c->key && strcmp(c->key, key) == 0) return c;
    return NULL;
}

size_t bb_json_count(const bb_json *j)
{
    size_t n = 0;
    for (const bb_json *c = j ? j->child : NULL; c; c = c->next) n++;
    return n;
}

size_t bb_json_quote(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
#define PUT(ch) do { if (n + 1 < cap) buf[n] = (ch); n++; } while (0)
    PUT('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') { PUT('\\'); PUT((char)*c); }
        else if (*c == '\n') { PUT('\\'); PUT('n'); }
        else if (*c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", *c);
            for (int i = 0; e[i]; i++) PUT(e[i]);
        } else PUT((char)*c);
    }
    PUT('"');
#undef PUT
    if (cap) buf[n < cap ? n : cap - 1] = 0;
    return n;
}
