/* Small statistics over arrays of measurements. */
#ifndef BB_UTIL_STATS_H
#define BB_UTIL_STATS_H

/* Sorts v[0..n) ascending and returns its median (the mean of the middle two
 * for even n); n >= 1. */
double bb_median(double *v, int n);

#endif
