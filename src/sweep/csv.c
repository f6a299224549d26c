/* The numeric CSV reader of csv.h. */
#include "sweep/csv.h"

#include "util/file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES ((size_t)1 << 31)

void bb_csv_free(bb_csv *t)
{
    for (int i = 0; t->names && i < t->ncols; i++) free(t->names[i]);
    free(t->names);
    free(t->v);
    memset(t, 0, sizeof *t);
}

int bb_csv_col(const bb_csv *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (!strcmp(t->names[i], name)) return i;
    return -1;
}

double bb_csv_at(const bb_csv *t, int64_t row, int col)
{
    if (col < 0 || col >= t->ncols || row < 0 || row >= t->nrows) return NAN;
    return t->v[row * t->ncols + col];
}

bb_status bb_csv_read(const char *path, bb_csv *t)
{
    memset(t, 0, sizeof *t);
    unsigned char *buf = NULL;
    size_t len = 0;
    BB_TRY(bb_file_read_all(path, MAX_BYTES, &buf, &len));
    char *text = (char *)buf;
    char *eol = memchr(text, '\n', len);
    if (!eol) { free(buf); return BB_OK; }  /* empty, or the header not written yet: no columns, no rows */
    *eol = 0;
    int ncols = 1;
    for (char *p = text; *p; p++) ncols += *p == ',';
    t->names = calloc((size_t)ncols, sizeof *t->names);
    int64_t lines = 0;
    for (size_t i = (size_t)(eol - text) + 1; i < len; i++) lines += text[i] == '\n';
    t->v = malloc(((size_t)lines + 1) * (size_t)ncols * sizeof(double));
    if (!t->names || !t->v) { free(buf); bb_csv_free(t); return bb_fail(BB_ERR_NOMEM, "%s: out of memory", path); }
    t->ncols = ncols;
    char *p = text;
    for (int c = 0; c < ncols; c++) {
        char *end = strchr(p, ',');
        if (end) *end = 0;
        t->names[c] = strdup(p);
        if (!t->names[c]) { free(buf); bb_csv_free(t); return bb_fail(BB_ERR_NOMEM, "%s: out of memory", path); }
        p = end ? end + 1 : p + strlen(p);
    }
    char *line = eol + 1, *stop = text + len;
    for (int64_t row = 0; line < stop; row++) {
        char *nl = memchr(line, '\n', (size_t)(stop - line));
        if (!nl) break;  /* unfinished last line */
        *nl = 0;
        char *q = line;
        for (int c = 0; c < ncols; c++) {
            char *end;
            double x = strtod(q, &end);
            if (end == q) x = NAN;  /* empty cell */
            if ((c < ncols - 1 && *end != ',') || (c == ncols - 1 && *end != 0)) {
                bb_status s = bb_fail(BB_ERR_FORMAT, "%s: line %lld, column '%s': expected a number, got '%.20s'", path,
                                      (long long)row + 2, t->names[c], q);
                free(buf);
                bb_csv_free(t);
                return s;
            }
            t->v[t->nrows * ncols + c] = x;
            q = end + (c < ncols - 1);
        }
        t->nrows++;
        line = nl + 1;
    }
    free(buf);
    return BB_OK;
}
