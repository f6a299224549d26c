/* A minimal test harness: TEST(name) defines a test that the build registers
 * automatically; CHECK* record failures with file:line and keep going. */
#ifndef BB_TESTS_TEST_H
#define BB_TESTS_TEST_H

#include <math.h>
#include <stdio.h>

typedef struct { const char *name; void (*fn)(void); } bb_test_entry;

extern int bb_test_failed;          /* checks failed in the running test */
const char *bb_test_tmpdir(void);   /* a fresh directory for the running test */
const char *bb_test_data_dir(void); /* Fashion-MNIST location, or NULL if absent */

#define TEST(name) void test_##name(void)

#define CHECK(cond) do { if (!(cond)) { bb_test_failed++; \
    fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) { bb_test_failed++; \
    fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double ca_ = (a), cb_ = (b); \
    if (!(fabs(ca_ - cb_) <= (tol))) { bb_test_failed++; \
    fprintf(stderr, "  %s:%d: %s = %.9g, %s = %.9g, |diff| %.3g > %.3g\n", __FILE__, __LINE__, \
            #a, ca_, #b, cb_, fabs(ca_ - cb_), (double)(tol)); } } while (0)
#define CHECK_OK(expr) do { bb_status cs_ = (expr); if (cs_ != BB_OK) { bb_test_failed++; \
    fprintf(stderr, "  %s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, bb_last_error()); } } while (0)
/* the call must fail with `status` and a message containing `needle` */
#define CHECK_FAILS(expr, status, needle) do { bb_status cs_ = (expr); \
    if (cs_ != (status) || !strstr(bb_last_error(), (needle))) { bb_test_failed++; \
    fprintf(stderr, "  %s:%d: %s returned %d (%s), want %d with \"%s\"\n", __FILE__, __LINE__, \
            #expr, (int)cs_, bb_last_error(), (int)(status), (needle)); } } while (0)

#endif
