/* Numeric CSV tables with a header line (the trainer's iters.csv and
 * epochs.csv): columns found by name, every cell a double ("nan" allowed).
 * A last line without its newline (a writer stopped mid-line, or one still
 * writing) is ignored; a file without a complete header line is an empty table. */
#ifndef BB_SWEEP_CSV_H
#define BB_SWEEP_CSV_H

#include "util/status.h"

#include <stdint.h>

typedef struct {
    int ncols;
    int64_t nrows;
    char **names;              /* ncols column names */
    double *v;                 /* nrows x ncols, row-major */
} bb_csv;

bb_status bb_csv_read(const char *path, bb_csv *t);
void bb_csv_free(bb_csv *t);
/* Index of the named column, or -1. */
int bb_csv_col(const bb_csv *t, const char *name);
/* Cell (row, col); NAN when col < 0. */
double bb_csv_at(const bb_csv *t, int64_t row, int col);

#endif
