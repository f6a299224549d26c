/* A compute device as the GPU engine (gnet.c, train/engine_gpu.c) sees it: memory,
 * three ordered streams with events between them, the layer operations, and
 * the gradient allreduce. Two implementations: the CUDA backend
 * (src/cuda/dev_cuda.c: cuDNN, cuBLAS, NCCL and the kernels of kernels.cu) and
 * the host backend (dev_host.c: the same kernel arithmetic in loops, src/ops
 * for convolution and GEMM), which lets every line of the engine run and be
 * tested without a GPU.
 * Operations are asynchronous on their stream; the void ones record the first
 * failure, which the next synchronizing call (sync, sync_event) returns. */
#ifndef BB_GPU_DEV_H
#define BB_GPU_DEV_H

#include "comm/comm.h"
#include "gpu/kern.h"
#include "util/status.h"

#include <stddef.h>
#include <stdint.h>

enum { BB_STREAM_COMPUTE, BB_STREAM_COMM, BB_STREAM_COPY, BB_NSTREAMS };
enum { BB_COPY_H2D, BB_COPY_D2H, BB_COPY_D2D };
enum { BB_REDUCE_SUM_F64, BB_REDUCE_SUMSQ_F32 };

#define BB_DEV_EVENTS 1024

typedef struct bb_dev bb_dev;

typedef struct {
    int tf32;                 /* TF32 tensor-core math in convolutions and GEMMs */
    int find;                 /* time the convolution algorithms (else heuristics) */
    int deterministic;        /* only deterministic algorithms, chosen by heuristics */
    double workspace_frac;    /* at most this share of free memory for convolution workspace */
    int64_t workspace_max;    /* and at most these bytes */
} bb_dev_opts;

struct bb_dev {
    char name[160];           /* "NVIDIA H100 80GB HBM3 (sm_90, 80 GiB)", "host emulation" */
    int is_host;              /* memory is plain host memory */
    bb_dev_opts opts;
    int64_t ws_limit;         /* bytes the convolution workspace may take */

    /* memory (device, and page-locked host memory for asynchronous copies) */
    bb_status (*alloc)(bb_dev *d, void **p, size_t bytes);
    void (*free)(bb_dev *d, void *p);
    bb_status (*host_alloc)(bb_dev *d, void **p, size_t bytes);
    void (*host_free)(bb_dev *d, void *p);
    int (*host_register)(bb_dev *d, void *p, size_t bytes);   /* 1 if page-locked now */
    void (*host_unregister)(bb_dev *d, void *p);
    void (*mem_info)(bb_dev *d, size_t *free_bytes, size_t *total_bytes);
    void (*memset0)(bb_dev *d, int stream, void *p, size_t bytes);
    void (*copy)(bb_dev *d, int stream, void *dst, const void *src, size_t bytes, int kind);

    /* ordering: events 0 .. BB_DEV_EVENTS-1 */
    void (*record)(bb_dev *d, int event, int stream);
    void (*wait)(bb_dev *d, int stream, int event);
    bb_status (*sync_event)(bb_dev *d, int event);
    bb_status (*sync)(bb_dev *d);
    double (*elapsed)(bb_dev *d, int e0, int e1);   /* seconds between two completed events */

    /* convolution (compute stream): a handle per geometry; prepare chooses the
     * algorithms for a batch of n samples (any n works, prepared ones are fast) */
    bb_status (*conv_create)(bb_dev *d, const bb_conv2d *geom, void **h);
    bb_status (*conv_prepare)(bb_dev *d, void *h, int64_t n);
    void (*conv_destroy)(bb_dev *d, void *h);
    void (*conv_fwd)(bb_dev *d, void *h, int64_t n, const float *x, const float *w, float *y);
    /* dw += dL/dw; dx = or += dL/dx (dx_set), skipped when dx is NULL */
    void (*conv_bwd)(bb_dev *d, void *h, int64_t n, const float *x, const float *w, const float *dy,
                     float *dx, int dx_set, float *dw);
    /* linear: y = x W^T + b; backward dw, db +=, dx = or += */
    void (*linear_fwd)(bb_dev *d, const bb_linear *l, int64_t n, const float *x, const float *w,
                       const float *b, float *y);
    void (*linear_bwd)(bb_dev *d, const bb_linear *l, int64_t n, const float *x, const float *w,
                       const float *dy, float *dx, int dx_set, float *dw, float *db);

    /* kernels (compute stream) */
    void (*bn_fwd_train)(bb_dev *d, const bb_kbn *p);
    void (*bn_fwd_eval)(bb_dev *d, const bb_kbn *p);
    void (*bn_bwd)(bb_dev *d, const bb_kbn *p);
    void (*elt)(bb_dev *d, const bb_kelt *p);
    void (*xent)(bb_dev *d, const bb_kxent *p);
    /* *out (device) = sum of x[0..n) (doubles) or of squares of floats */
    void (*reduce)(bb_dev *d, int kind, const void *x, int64_t n, double *out);
    void (*sgd)(bb_dev *d, const bb_ksgd *p);
    void (*running)(bb_dev *d, float *state, const float *stats, int64_t len, float momentum, double count);

    /* gradient allreduce across the ranks of comm (sum, in place, comm stream) */
    bb_status (*comm_init)(bb_dev *d, bb_comm *comm);
    void (*allreduce)(bb_dev *d, float *buf, int64_t len);

    void (*destroy)(bb_dev *d);
    void *impl;
};

void bb_dev_default_opts(bb_dev_opts *o);

/* The host backend (always built). */
bb_status bb_dev_host_create(bb_dev **out, const bb_dev_opts *o);
/* The CUDA backend on GPU `ordinal` (modulo the visible GPUs); without CUDA=1
 * it fails with "built without CUDA". */
bb_status bb_dev_cuda_create(bb_dev **out, int ordinal, const bb_dev_opts *o);

static inline void bb_dev_destroy(bb_dev *d) { if (d) d->destroy(d); }

#endif
