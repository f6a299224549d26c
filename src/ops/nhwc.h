/* The fast operators: the same mathematics as ops.h (which stays the plain
 * reference they are tested against) on channels-last (n, h, w, c) buffers,
 * where every inner loop runs over contiguous channels. Parameters keep the
 * reference layouts (conv weights (cout, cin, kh, kw)), so checkpoints do not
 * depend on which operators ran. Backward ADDS into dx/dw/dgamma like ops.h.
 * Every kernel is deterministic: its summation order depends on the shapes
 * only, never on threads. Nothing here allocates.
 * The _team forms share one call among the threads of a pool (NULL: the
 * caller alone) and give the same bits for every team size; the plain forms
 * are the team of one. */
#ifndef BB_OPS_NHWC_H
#define BB_OPS_NHWC_H

#include "ops/ops.h"
#include "ops/ukernel.h"
#include "util/pool.h"

/* The widest vectors the element-wise operators below (batch norm, add +
 * ReLU) may use, for the whole process: AVX-512 ones only when v is
 * BB_UK_AVX512 (the default) and the CPU runs them, else AVX2 ones where it
 * runs those. Their lanes are channels, so every width gives the same bits;
 * this is for speed (and for measuring as on a CPU without AVX-512). The
 * executors set it from their --kernels. */
void bb_nhwc_set_kernels(bb_uk_variant v);

/* ---- conv2d: direct convolution by register tiles over a zero-padded copy
 * of the input, no im2col. Workspace in floats, for batches up to n. ---- */
/* A batch norm (and its ReLU) that the convolution applies to its input as
 * it copies it (model/plan.h, BB_FUSE_BN_CONV): the convolution reads
 * [max(0,] x a + b [)] per input channel (bb_bn_nhwc_apply) where x is the
 * buffer it is given, in its forward and its weight gradient. Only for a
 * convolution that copies its input (bb_conv2d_nhwc_copies_input); NULL:
 * none. */
typedef struct { const float *a, *b; int relu; } bb_conv_input;
/* 1 when the convolution reads its input through zero-padded copies (a
 * padding), not in place */
int bb_conv2d_nhwc_copies_input(const bb_conv2d *d);
size_t bb_conv2d_nhwc_workspace(const bb_conv2d *d, int64_t n);
/* y (n, oh, ow, cout) = conv(x (n, h, w, cin), w (cout, cin, kh, kw)) */
void bb_conv2d_nhwc_forward(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x,
                            const float *w, float *y, float *ws);
/* dw += dL/dw unless dw is NULL; dx += dL/dx unless dx is NULL (dx = dL/dx
 * when set_dx: the first writer of a gradient need not zero it first) */
void bb_conv2d_nhwc_backward(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x,
                             const float *w, const float *dy, float *dx, int set_dx, float *dw, float *ws);
/* the same on a team of up to `threads` threads (the workspace grows by a
 * small per-thread buffer) */
size_t bb_conv2d_nhwc_workspace_team(const bb_conv2d *d, int64_t n, int threads);
/* rows: NULL, or told as the forward's y pixels, or backward-data's dx
 * pixels, [0, done) are final, in order: on one thread block by block, on a
 * team once at the end. need (backward): NULL, or told before dy's pixels
 * [0, n) are read, in order: on one thread block by block, else all at
 * first. */
typedef struct { void (*done)(void *arg, int64_t pixels); void *arg; } bb_conv_rows;
void bb_conv2d_nhwc_forward_team(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x,
                                 const bb_conv_input *in, const float *w, float *y, const bb_conv_rows *rows,
                                 float *ws, bb_pool *team);
void bb_conv2d_nhwc_backward_team(const bb_conv2d *d, bb_uk_variant v, int64_t n, const float *x,
                                  const bb_conv_input *in, const float *w, const float *dy, float *dx, int set_dx,
                                  float *dw, const bb_conv_rows *need, const bb_conv_rows *rows, float *ws,
                                  bb_pool *team);

/* ---- batch norm over (n*hw, c) rows; the same save/stats contract as ops.h.
 * relu: the output is max(0, BN(x)) (the BN output itself is never stored);
 * its backward recomputes the ReLU's mask from x. Training and backward
 * take a workspace of bb_bn_nhwc_workspace floats (for any team size); the
 * statistics are sums over fixed chunks of rows, added in chunk order. Channel
 * counts that are not a multiple of 8 run on the calling thread alone. ---- */
/* A residual add fused into the BN (model/plan.h, BB_FUSE_BN_ADD): the output
 * is [max(0,] BN(x) + res [)], the same floats as a BN then an add (+ ReLU).
 * Its backward reads the output y for the ReLU's mask and adds the masked dy
 * into dres (stores it when set_dres; dres NULL: not wanted). */
typedef struct { const float *res, *y; float *dres; int set_dres; } bb_bn_residual;
size_t bb_bn_nhwc_workspace(const bb_bn *d, int64_t n);
/* r: NULL, or the fused residual. Training with y NULL computes the
 * statistics (save, stats) alone, for a BN that the convolution reading its
 * output applies (bb_conv_input). sums: NULL, or the per-chunk moments
 * done ahead (bb_bn_nhwc_moments, every chunk). */
void bb_bn_nhwc_forward_train(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *beta,
                              const bb_bn_residual *r, float *y, float *save, float *stats, int relu,
                              const double *sums, float *ws, bb_pool *team);
void bb_bn_nhwc_forward_eval(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *beta,
                             const float *rmean, const float *rvar, const bb_bn_residual *r, float *y, int relu,
                             bb_pool *team);
/* The per-channel y = x a + b of a BN: training's from save (mean, invstd),
 * else evaluation's from the running statistics rmean and rvar. */
void bb_bn_nhwc_coefficients(const bb_bn *d, const float *gamma, const float *beta, const float *save,
                             const float *rmean, const float *rvar, float *a, float *b);
/* y = [max(0,] x a + b [)] over `pixels` pixels of c channels: the same floats
 * as the BN's own output pass */
void bb_bn_nhwc_apply(int64_t pixels, int64_t c, const float *x, const float *a, const float *b, int relu, float *y);
/* A BN's first pass over rows, per chunk of rows, computed ahead by whoever
 * writes those rows in order, as they complete and while they are in cache
 * (a convolution, bb_conv_rows): the training forward's moments of x as
 * the convolution writes x, or the backward's sums of g and g xhat as the
 * next convolution's backward-data writes dy. The same chunks in the same
 * order as the pass, so the same bits. ka, kb: the forward's y = x ka + kb
 * (bb_bn_nhwc_coefficients), for the backward's ReLU mask without a
 * residual; part: bb_bn_nhwc_sums_len doubles; next: chunks done, 0 at
 * first. Channel counts that are not a multiple of 8 never advance. With
 * relu the backward's sums leave g (dy after the mask) in dy, row by row,
 * so that the second pass reads it there instead of masking again (with a
 * residual, instead of reading y). */
typedef struct {
    const bb_bn *d;
    int64_t n;
    const float *x, *save, *ka, *kb;
    float *dy;
    const float *y;  /* with a fused residual: the forward's output, whose sign is the ReLU's mask; else NULL */
    int relu;
    double *part;
    int64_t next;
} bb_bn_sums;
size_t bb_bn_nhwc_sums_len(const bb_bn *d, int64_t n);
/* the chunks ending at or before row `rows` */
void bb_bn_nhwc_moments(bb_bn_sums *s, int64_t rows);
void bb_bn_nhwc_grad_sums(bb_bn_sums *s, int64_t rows);
/* 1 when every chunk is done */
int bb_bn_nhwc_sums_complete(const bb_bn_sums *s);
/* The backward's second pass (dx, and dres with a residual) left to whoever
 * reads dx next, run as it needs the rows, in row order, while they go
 * straight on into cache (the convolution before the BN, whose backward
 * reads dx as its dy: bb_conv_rows as `need`). bb_bn_nhwc_backward with
 * `later` fills it instead of running the pass (cf: bb_bn_nhwc_later_len
 * floats of the caller's); bb_bn_nhwc_dx_rows runs the pass on rows [done,
 * rows). The same arithmetic per row as the pass: the same bits. */
typedef struct {
    const bb_bn *d;
    int64_t n;
    const float *x, *dy;
    float *dx;
    int set_dx, relu, res;
    bb_bn_residual r;
    float *cf;
    int64_t done;
} bb_bn_later;
size_t bb_bn_nhwc_later_len(const bb_bn *d);
void bb_bn_nhwc_dx_rows(bb_bn_later *s, int64_t rows);
/* beta: the forward's, from which (with gamma and save) the fused ReLU's
 * mask is recomputed from x, bit for bit, instead of read from its output
 * (without a residual); set_dx as for conv; sums: NULL, or the first pass
 * done ahead (bb_bn_sums.part with every chunk done; dy then holds g, the
 * mask applied); later: NULL, or where
 * the second pass is left (its rows all done already when the channels are
 * not a multiple of 8) */
void bb_bn_nhwc_backward(const bb_bn *d, int64_t n, const float *x, const float *gamma, const float *save,
                         const float *beta, const bb_bn_residual *r, const float *dy, float *dx, int set_dx,
                         float *dgamma, float *dbeta, int relu, const double *sums, bb_bn_later *later, float *ws,
                         bb_pool *team);

/* ---- residual add with a fused ReLU: y = max(0, a + b); backward adds
 * dy * [y > 0] into da and db (either may be NULL, or both the same: then
 * both land in it); set_da / set_db: store instead of adding ---- */
void bb_add_relu_forward(int64_t len, const float *a, const float *b, float *y);
void bb_add_relu_backward(int64_t len, const float *y, const float *dy, float *da, int set_da, float *db,
                          int set_db);

/* ---- pooling and the option-A shortcut, channels last ---- */
void bb_maxpool_nhwc_forward(const bb_maxpool *d, int64_t n, const float *x, float *y, int32_t *argmax);
void bb_maxpool_nhwc_backward(const bb_maxpool *d, int64_t n, const int32_t *argmax, const float *dy, float *dx);
void bb_avgpool_nhwc_forward(int64_t n, int64_t c, int64_t hw, const float *x, float *y);
void bb_avgpool_nhwc_backward(int64_t n, int64_t c, int64_t hw, const float *dy, float *dx);
void bb_padshort_nhwc_forward(const bb_padshort *d, int64_t n, const float *x, float *y);
void bb_padshort_nhwc_backward(const bb_padshort *d, int64_t n, const float *dy, float *dx);

/* ---- layout: (n, c, hw) <-> (n, hw, c); the _add forms add into dst ---- */
void bb_nchw_to_nhwc(int64_t n, int64_t c, int64_t hw, const float *src, float *dst);
void bb_nhwc_to_nchw(int64_t n, int64_t c, int64_t hw, const float *src, float *dst);
void bb_nchw_to_nhwc_add(int64_t n, int64_t c, int64_t hw, const float *src, float *dst);
void bb_nhwc_to_nchw_add(int64_t n, int64_t c, int64_t hw, const float *src, float *dst);

#endif
