/* The CUDA backend of gpu/dev.h: cudart memory, streams and events; cuDNN
 * convolutions (algorithms chosen once per geometry and batch, by timing with
 * cudnnFind or by cuDNN's heuristics, within a workspace limit; TF32 tensor-core
 * math unless disabled); cuBLAS GEMMs for the linear layer; the kernels of
 * kernels.cu; NCCL for the gradient allreduce on its own stream. Calls that
 * fail record the first error, returned by the next sync. */
#include "cuda/kernels.h"
#include "gpu/dev.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#ifndef BB_NO_NCCL
#include <nccl.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVAR 6

typedef struct {
    int64_t n;
    cudnnTensorDescriptor_t x, y;
    cudnnConvolutionFwdAlgo_t fa;
    cudnnConvolutionBwdDataAlgo_t da;
    cudnnConvolutionBwdFilterAlgo_t wa;
    cudnnMathType_t fm, dm, wm;
    size_t ws;                /* the most workspace the three need */
} cvar;

typedef struct cconv {
    bb_conv2d g;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t c;
    cvar v[NVAR];
    int nv;
    struct cconv *next;       /* all handles, to share algorithm choices between equal geometries */
} cconv;

typedef struct {
    int device;
    cudaStream_t stream[BB_NSTREAMS];
    cudaEvent_t ev[BB_DEV_EVENTS];
    cudnnHandle_t dnn;
    cublasHandle_t blas;
#ifndef BB_NO_NCCL
    ncclComm_t nccl;
#endif
    int have_nccl;
    void *ws;
    size_t ws_size;
    double *scratch;          /* reductions */
    cconv *convs;
    bb_status err;
    char msg[768];
} cuda_impl;

static cuda_impl *C(bb_dev *d) { return d->impl; }

/* ---- errors ---- */

static void record_error(bb_dev *d, const char *what, const char *detail)
{
    cuda_impl *c = C(d);
    if (c->err != BB_OK) return;
    c->err = BB_ERR_COMM;
    snprintf(c->msg, sizeof c->msg, "CUDA: %s failed: %s", what, detail);
}

static int cu_ok(bb_dev *d, cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return 1;
    record_error(d, what, cudaGetErrorString(e));
    return 0;
}

static int dnn_ok(bb_dev *d, cudnnStatus_t s, const char *what)
{
    if (s == CUDNN_STATUS_SUCCESS) return 1;
    record_error(d, what, cudnnGetErrorString(s));
    return 0;
}

static int blas_ok(bb_dev *d, cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS) return 1;
    char buf[64];
    snprintf(buf, sizeof buf, "cuBLAS status %d", (int)s);
    record_error(d, what, buf);
    return 0;
}

static bb_status take_error(bb_dev *d)
{
    cuda_impl *c = C(d);
    if (c->err == BB_OK) return BB_OK;
    return bb_fail(c->err, "%s", c->msg);
}

/* ---- memory ---- */

static bb_status c_alloc(bb_dev *d, void **p, size_t bytes)
{
    (void)d;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        *p = NULL;
        cudaGetLastError();
        return bb_fail(BB_ERR_NOMEM, "cudaMalloc of %.1f MiB failed: %s", (double)bytes / 1048576.0, cudaGetErrorString(e));
    }
    return BB_OK;
}

static void c_free(bb_dev *d, void *p)
{
    (void)d;
    if (p) cudaFree(p);
}

static bb_status c_host_alloc(bb_dev *d, void **p, size_t bytes)
{
    (void)d;
    cudaError_t e = cudaMallocHost(p, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        *p = NULL;
        cudaGetLastError();
        return bb_fail(BB_ERR_NOMEM, "cudaMallocHost of %.1f MiB failed: %s", (double)bytes / 1048576.0, cudaGetErrorString(e));
    }
    return BB_OK;
}

static void c_host_free(bb_dev *d, void *p)
{
    (void)d;
    if (p) cudaFreeHost(p);
}

static int c_host_register(bb_dev *d, void *p, size_t bytes)
{
    (void)d;
    if (!p || !bytes) return 0;
    if (cudaHostRegister(p, bytes, cudaHostRegisterDefault) == cudaSuccess) return 1;
    cudaGetLastError();  /* not fatal: copies from pageable memory are staged */
    return 0;
}

static void c_host_unregister(bb_dev *d, void *p)
{
    (void)d;
    if (p) cudaHostUnregister(p);
}

static void c_mem_info(bb_dev *d, size_t *free_bytes, size_t *total_bytes)
{
    if (!cu_ok(d, cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo")) *free_bytes = *total_bytes = 0;
}

static void c_memset0(bb_dev *d, int stream, void *p, size_t bytes)
{
    if (bytes) cu_ok(d, cudaMemsetAsync(p, 0, bytes, C(d)->stream[stream]), "cudaMemsetAsync");
}

static void c_copy(bb_dev *d, int stream, void *dst, const void *src, size_t bytes, int kind)
{
    (void)kind;  /* unified addressing tells the direction */
    if (bytes) cu_ok(d, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, C(d)->stream[stream]), "cudaMemcpyAsync");
}

/* ---- ordering ---- */

static cudaEvent_t event(bb_dev *d, int i)
{
    cuda_impl *c = C(d);
    if (!c->ev[i]) cu_ok(d, cudaEventCreate(&c->ev[i]), "cudaEventCreate");
    return c->ev[i];
}

static void c_record(bb_dev *d, int ev, int stream) { cu_ok(d, cudaEventRecord(event(d, ev), C(d)->stream[stream]), "cudaEventRecord"); }
static void c_wait(bb_dev *d, int stream, int ev) { cu_ok(d, cudaStreamWaitEvent(C(d)->stream[stream], event(d, ev), 0), "cudaStreamWaitEvent"); }

static bb_status c_sync_event(bb_dev *d, int ev)
{
    cu_ok(d, cudaEventSynchronize(event(d, ev)), "waiting for the GPU");
    return take_error(d);
}

static bb_status c_sync(bb_dev *d)
{
    for (int i = 0; i < BB_NSTREAMS; i++) cu_ok(d, cudaStreamSynchronize(C(d)->stream[i]), "waiting for the GPU");
    cu_ok(d, cudaGetLastError(), "a kernel");
    return take_error(d);
}

static double c_elapsed(bb_dev *d, int e0, int e1)
{
    float ms = 0;
    if (cudaEventElapsedTime(&ms, event(d, e0), event(d, e1)) != cudaSuccess) {
        cudaGetLastError();
        return 0.0;
    }
    return ms * 1e-3;
}

/* ---- convolution ---- */

static cudnnMathType_t want_math(bb_dev *d) { return d->opts.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }
/* TF32 when allowed, never the float16 conversions of ALLOW_CONVERSION */
static int math_allowed(bb_dev *d, cudnnMathType_t m)
{
    return m == CUDNN_FMA_MATH || (d->opts.tf32 && m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

/* the workspace grows (at setup) to what the chosen algorithms need */
static int ensure_ws(bb_dev *d, size_t bytes)
{
    cuda_impl *c = C(d);
    if (bytes <= c->ws_size) return 1;
    cudaDeviceSynchronize();
    if (c->ws) cudaFree(c->ws);
    c->ws = NULL;
    c->ws_size = 0;
    if (cudaMalloc(&c->ws, bytes) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    c->ws_size = bytes;
    return 1;
}

static int same_geom(const bb_conv2d *a, const bb_conv2d *b)
{
    return a->cin == b->cin && a->h == b->h && a->w == b->w && a->cout == b->cout && a->kh == b->kh &&
           a->kw == b->kw && a->stride == b->stride && a->pad == b->pad;
}

static bb_status c_conv_create(bb_dev *d, const bb_conv2d *g, void **out)
{
    cconv *h = calloc(1, sizeof *h);
    if (!h) return bb_fail(BB_ERR_NOMEM, "out of host memory");
    h->g = *g;
    int ok = dnn_ok(d, cudnnCreateFilterDescriptor(&h->w), "cudnnCreateFilterDescriptor") &&
             dnn_ok(d, cudnnSetFilter4dDescriptor(h->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, (int)g->cout, (int)g->cin,
                                                  (int)g->kh, (int)g->kw), "cudnnSetFilter4dDescriptor") &&
             dnn_ok(d, cudnnCreateConvolutionDescriptor(&h->c), "cudnnCreateConvolutionDescriptor") &&
             dnn_ok(d, cudnnSetConvolution2dDescriptor(h->c, (int)g->pad, (int)g->pad, (int)g->stride, (int)g->stride, 1, 1,
                                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                    "cudnnSetConvolution2dDescriptor");
    h->next = C(d)->convs;
    C(d)->convs = h;
    *out = h;
    return ok ? BB_OK : take_error(d);
}

static void c_conv_destroy(bb_dev *d, void *p)
{
    cconv *h = p, **at = &C(d)->convs;
    while (*at && *at != h) at = &(*at)->next;
    if (*at) *at = h->next;
    for (int i = 0; i < h->nv; i++) {
        cudnnDestroyTensorDescriptor(h->v[i].x);
        cudnnDestroyTensorDescriptor(h->v[i].y);
    }
    if (h->w) cudnnDestroyFilterDescriptor(h->w);
    if (h->c) cudnnDestroyConvolutionDescriptor(h->c);
    free(h);
}

/* Picks the algorithms of one direction: the fastest that succeeds within the
 * workspace limit and the math allowed; else a safe default. */
static void pick_fwd(bb_dev *d, cconv *h, cvar *v, int find, size_t limit)
{
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    cudnnSetConvolutionMathType(h->c, want_math(d));
    cudnnStatus_t s = find ? cudnnFindConvolutionForwardAlgorithm(C(d)->dnn, v->x, h->w, h->c, v->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf)
                           : cudnnGetConvolutionForwardAlgorithm_v7(C(d)->dnn, v->x, h->w, h->c, v->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf);
    if (s != CUDNN_STATUS_SUCCESS) got = 0;
    cudaGetLastError();
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= limit && math_allowed(d, perf[i].mathType) &&
            (!d->opts.deterministic || perf[i].determinism == CUDNN_DETERMINISTIC)) {
            v->fa = perf[i].algo;
            v->fm = perf[i].mathType;
            if (perf[i].memory > v->ws) v->ws = perf[i].memory;
            return;
        }
    size_t bytes = 0;
    v->fa = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    v->fm = CUDNN_FMA_MATH;
    cudnnSetConvolutionMathType(h->c, v->fm);
    cudnnGetConvolutionForwardWorkspaceSize(C(d)->dnn, v->x, h->w, h->c, v->y, v->fa, &bytes);
    if (bytes > v->ws) v->ws = bytes;
}

static void pick_data(bb_dev *d, cconv *h, cvar *v, int find, size_t limit)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int got = 0;
    cudnnSetConvolutionMathType(h->c, want_math(d));
    cudnnStatus_t s = find ? cudnnFindConvolutionBackwardDataAlgorithm(C(d)->dnn, h->w, v->y, h->c, v->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf)
                           : cudnnGetConvolutionBackwardDataAlgorithm_v7(C(d)->dnn, h->w, v->y, h->c, v->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf);
    if (s != CUDNN_STATUS_SUCCESS) got = 0;
    cudaGetLastError();
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= limit && math_allowed(d, perf[i].mathType) &&
            (!d->opts.deterministic || perf[i].determinism == CUDNN_DETERMINISTIC)) {
            v->da = perf[i].algo;
            v->dm = perf[i].mathType;
            if (perf[i].memory > v->ws) v->ws = perf[i].memory;
            return;
        }
    size_t bytes = 0;
    v->da = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
    v->dm = CUDNN_FMA_MATH;
    cudnnSetConvolutionMathType(h->c, v->dm);
    cudnnGetConvolutionBackwardDataWorkspaceSize(C(d)->dnn, h->w, v->y, h->c, v->x, v->da, &bytes);
    if (bytes > v->ws) v->ws = bytes;
}

static void pick_filter(bb_dev *d, cconv *h, cvar *v, int find, size_t limit)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int got = 0;
    cudnnSetConvolutionMathType(h->c, want_math(d));
    cudnnStatus_t s = find ? cudnnFindConvolutionBackwardFilterAlgorithm(C(d)->dnn, v->x, v->y, h->c, h->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf)
                           : cudnnGetConvolutionBackwardFilterAlgorithm_v7(C(d)->dnn, v->x, v->y, h->c, h->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf);
    if (s != CUDNN_STATUS_SUCCESS) got = 0;
    cudaGetLastError();
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= limit && math_allowed(d, perf[i].mathType) &&
            (!d->opts.deterministic || perf[i].determinism == CUDNN_DETERMINISTIC)) {
            v->wa = perf[i].algo;
            v->wm = perf[i].mathType;
            if (perf[i].memory > v->ws) v->ws = perf[i].memory;
            return;
        }
    size_t bytes = 0;
    v->wa = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
    v->wm = CUDNN_FMA_MATH;
    cudnnSetConvolutionMathType(h->c, v->wm);
    cudnnGetConvolutionBackwardFilterWorkspaceSize(C(d)->dnn, v->x, v->y, h->c, h->w, v->wa, &bytes);
    if (bytes > v->ws) v->ws = bytes;
}

/* The variant of handle h for batch n; created (find: by timing) if missing. */
static cvar *variant(bb_dev *d, cconv *h, int64_t n, int find)
{
    for (int i = 0; i < h->nv; i++)
        if (h->v[i].n == n) return &h->v[i];
    cvar *v = &h->v[h->nv < NVAR ? h->nv : NVAR - 1];
    if (h->nv == NVAR) {  /* full: recycle the last slot */
        cudnnDestroyTensorDescriptor(v->x);
        cudnnDestroyTensorDescriptor(v->y);
    } else {
        h->nv++;
    }
    memset(v, 0, sizeof *v);
    v->n = n;
    const bb_conv2d *g = &h->g;
    int ok = dnn_ok(d, cudnnCreateTensorDescriptor(&v->x), "cudnnCreateTensorDescriptor") &&
             dnn_ok(d, cudnnCreateTensorDescriptor(&v->y), "cudnnCreateTensorDescriptor") &&
             dnn_ok(d, cudnnSetTensor4dDescriptor(v->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)n, (int)g->cin, (int)g->h, (int)g->w),
                    "cudnnSetTensor4dDescriptor") &&
             dnn_ok(d, cudnnSetTensor4dDescriptor(v->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)n, (int)g->cout, (int)g->oh, (int)g->ow),
                    "cudnnSetTensor4dDescriptor");
    if (!ok) return v;
    /* an equal geometry already prepared for n: same choice */
    for (cconv *o = C(d)->convs; o; o = o->next) {
        if (o == h || !same_geom(&o->g, g)) continue;
        for (int i = 0; i < o->nv; i++)
            if (o->v[i].n == n && (find || o->v[i].ws <= C(d)->ws_size)) {
                v->fa = o->v[i].fa; v->da = o->v[i].da; v->wa = o->v[i].wa;
                v->fm = o->v[i].fm; v->dm = o->v[i].dm; v->wm = o->v[i].wm;
                v->ws = o->v[i].ws;
                return v;
            }
    }
    size_t limit = find ? (size_t)d->ws_limit : C(d)->ws_size;
    pick_fwd(d, h, v, find, limit);
    pick_data(d, h, v, find, limit);
    pick_filter(d, h, v, find, limit);
    /* a batch size first seen after setup whose fallback needs more workspace */
    if (!find && v->ws > C(d)->ws_size && !ensure_ws(d, v->ws))
        record_error(d, "allocating cuDNN workspace", "out of memory");
    return v;
}

static bb_status c_conv_prepare(bb_dev *d, void *p, int64_t n)
{
    cvar *v = variant(d, p, n, d->opts.find);
    if (!ensure_ws(d, v->ws))
        return bb_fail(BB_ERR_NOMEM, "cannot allocate %.1f MiB of cuDNN workspace", (double)v->ws / 1048576.0);
    return take_error(d);
}

static const float one = 1.0f, zero = 0.0f;

static void c_conv_fwd(bb_dev *d, void *p, int64_t n, const float *x, const float *w, float *y)
{
    cconv *h = p;
    cvar *v = variant(d, h, n, 0);
    cudnnSetConvolutionMathType(h->c, v->fm);
    dnn_ok(d, cudnnConvolutionForward(C(d)->dnn, &one, v->x, x, h->w, w, h->c, v->fa, C(d)->ws, C(d)->ws_size, &zero, v->y, y),
           "cudnnConvolutionForward");
}

static void c_conv_bwd(bb_dev *d, void *p, int64_t n, const float *x, const float *w, const float *dy, float *dx,
                       int dx_set, float *dw)
{
    cconv *h = p;
    cvar *v = variant(d, h, n, 0);
    cudnnSetConvolutionMathType(h->c, v->wm);
    dnn_ok(d, cudnnConvolutionBackwardFilter(C(d)->dnn, &one, v->x, x, v->y, dy, h->c, v->wa, C(d)->ws, C(d)->ws_size, &one,
                                             h->w, dw), "cudnnConvolutionBackwardFilter");
    if (!dx) return;
    cudnnSetConvolutionMathType(h->c, v->dm);
    dnn_ok(d, cudnnConvolutionBackwardData(C(d)->dnn, &one, h->w, w, v->y, dy, h->c, v->da, C(d)->ws, C(d)->ws_size,
                                           dx_set ? &zero : &one, v->x, dx), "cudnnConvolutionBackwardData");
}

/* ---- linear: row-major (n, in) x (out, in)^T through column-major cuBLAS ---- */

static void c_linear_fwd(bb_dev *d, const bb_linear *l, int64_t n, const float *x, const float *w, const float *b, float *y)
{
    bb_kelt e;
    memset(&e, 0, sizeof e);
    e.kind = BBK_BIAS_FILL;
    e.n = n;
    e.out = l->out;
    e.b = b;
    e.y = y;
    cu_ok(d, bbk_cuda_elt(&e, C(d)->stream[BB_STREAM_COMPUTE]), "bias kernel");
    /* Y^T (out, n) = W (out, in) X^T: column-major W^T is (in, out), ld in */
    blas_ok(d, cublasSgemm(C(d)->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)l->out, (int)n, (int)l->in, &one, w, (int)l->in, x,
                           (int)l->in, &one, y, (int)l->out), "cublasSgemm (linear forward)");
}

static void c_linear_bwd(bb_dev *d, const bb_linear *l, int64_t n, const float *x, const float *w, const float *dy,
                         float *dx, int dx_set, float *dw, float *db)
{
    /* dW (out, in) += dY^T X: column-major dW^T (in, out) = X^T (in, n) dY (n, out) */
    blas_ok(d, cublasSgemm(C(d)->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)l->in, (int)l->out, (int)n, &one, x, (int)l->in, dy,
                           (int)l->out, &one, dw, (int)l->in), "cublasSgemm (linear weight gradient)");
    if (db) {
        bb_kelt e;
        memset(&e, 0, sizeof e);
        e.kind = BBK_BIAS_BWD;
        e.n = n;
        e.out = l->out;
        e.dy = dy;
        e.db = db;
        cu_ok(d, bbk_cuda_elt(&e, C(d)->stream[BB_STREAM_COMPUTE]), "bias gradient kernel");
    }
    if (dx)  /* dX (n, in) = dY W: column-major dX^T (in, n) = W^T (in, out) dY^T (out, n) */
        blas_ok(d, cublasSgemm(C(d)->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)l->in, (int)n, (int)l->out, &one, w, (int)l->in,
                               dy, (int)l->out, dx_set ? &zero : &one, dx, (int)l->in), "cublasSgemm (linear input gradient)");
}

/* ---- kernels ---- */

static cudaStream_t cs(bb_dev *d) { return C(d)->stream[BB_STREAM_COMPUTE]; }
static void c_bn_fwd_train(bb_dev *d, const bb_kbn *p) { cu_ok(d, bbk_cuda_bn_fwd_train(p, cs(d)), "batch-norm kernels"); }
static void c_bn_fwd_eval(bb_dev *d, const bb_kbn *p) { cu_ok(d, bbk_cuda_bn_fwd_eval(p, cs(d)), "batch-norm kernel"); }
static void c_bn_bwd(bb_dev *d, const bb_kbn *p) { cu_ok(d, bbk_cuda_bn_bwd(p, cs(d)), "batch-norm backward kernels"); }
static void c_elt(bb_dev *d, const bb_kelt *p) { cu_ok(d, bbk_cuda_elt(p, cs(d)), "element-wise kernel"); }
static void c_xent(bb_dev *d, const bb_kxent *p) { cu_ok(d, bbk_cuda_xent(p, cs(d)), "cross-entropy kernel"); }
static void c_reduce(bb_dev *d, int kind, const void *x, int64_t n, double *out)
{
    cu_ok(d, bbk_cuda_reduce(kind, x, n, out, C(d)->scratch, cs(d)), "reduction kernel");
}
static void c_sgd(bb_dev *d, const bb_ksgd *p) { cu_ok(d, bbk_cuda_sgd(p, cs(d)), "SGD kernel"); }
static void c_running(bb_dev *d, float *state, const float *stats, int64_t len, float momentum, double count)
{
    cu_ok(d, bbk_cuda_running(state, stats, len, momentum, count, cs(d)), "BN running-average kernel");
}

/* ---- NCCL ---- */

#ifndef BB_NO_NCCL
static bb_status c_comm_init(bb_dev *d, bb_comm *comm)
{
    cuda_impl *c = C(d);
    if (comm->size <= 1 || c->have_nccl) return BB_OK;
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (comm->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess) return bb_fail(BB_ERR_COMM, "ncclGetUniqueId failed: %s", ncclGetErrorString(r));
    }
    BB_TRY(comm->bcast(comm, &id, sizeof id, 0));
    ncclResult_t r = ncclCommInitRank(&c->nccl, comm->size, id, comm->rank);
    if (r != ncclSuccess)
        return bb_fail(BB_ERR_COMM, "ncclCommInitRank (rank %d of %d on GPU %d) failed: %s%s", comm->rank, comm->size,
                       c->device, ncclGetErrorString(r),
                       r == ncclInvalidUsage ? " (two ranks on one GPU? run one process per GPU)" : "");
    c->have_nccl = 1;
    return BB_OK;
}

static void c_allreduce(bb_dev *d, float *buf, int64_t len)
{
    cuda_impl *c = C(d);
    if (!c->have_nccl || len <= 0) return;
    ncclResult_t r = ncclAllReduce(buf, buf, (size_t)len, ncclFloat, ncclSum, c->nccl, c->stream[BB_STREAM_COMM]);
    if (r != ncclSuccess) record_error(d, "ncclAllReduce", ncclGetErrorString(r));
}
#else
static bb_status c_comm_init(bb_dev *d, bb_comm *comm)
{
    (void)d;
    if (comm->size <= 1) return BB_OK;
    return bb_fail(BB_ERR_UNSUPPORTED, "--device cuda with %d ranks: this bigbatch was built without NCCL (NCCL=0); "
                   "rebuild with NCCL to use several GPUs", comm->size);
}

static void c_allreduce(bb_dev *d, float *buf, int64_t len) { (void)d; (void)buf; (void)len; }
#endif

/* ---- lifetime ---- */

static void c_destroy(bb_dev *d)
{
    cuda_impl *c = C(d);
    if (c) {
        for (int i = 0; i < BB_NSTREAMS; i++)
            if (c->stream[i]) cudaStreamSynchronize(c->stream[i]);
        while (c->convs) c_conv_destroy(d, c->convs);
#ifndef BB_NO_NCCL
        if (c->have_nccl) ncclCommDestroy(c->nccl);
#endif
        if (c->ws) cudaFree(c->ws);
        if (c->scratch) cudaFree(c->scratch);
        for (int i = 0; i < BB_DEV_EVENTS; i++)
            if (c->ev[i]) cudaEventDestroy(c->ev[i]);
        if (c->blas) cublasDestroy(c->blas);
        if (c->dnn) cudnnDestroy(c->dnn);
        for (int i = 0; i < BB_NSTREAMS; i++)
            if (c->stream[i]) cudaStreamDestroy(c->stream[i]);
        free(c);
    }
    free(d);
}

bb_status bb_dev_cuda_create(bb_dev **out, int ordinal, const bb_dev_opts *o)
{
    *out = NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        cudaGetLastError();
        return bb_fail(BB_ERR_UNSUPPORTED, "--device cuda: no usable CUDA GPU (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "none visible; check CUDA_VISIBLE_DEVICES");
    }
    bb_dev *d = calloc(1, sizeof *d);
    cuda_impl *c = calloc(1, sizeof *c);
    if (!d || !c) { free(d); free(c); return bb_fail(BB_ERR_NOMEM, "out of host memory"); }
    d->impl = c;
    d->destroy = c_destroy;
    if (o) d->opts = *o;
    else bb_dev_default_opts(&d->opts);
    c->device = (ordinal < 0 ? 0 : ordinal) % count;
    struct cudaDeviceProp prop;
    if ((e = cudaSetDevice(c->device)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, c->device)) != cudaSuccess) {
        c_destroy(d);
        return bb_fail(BB_ERR_UNSUPPORTED, "--device cuda: GPU %d: %s", ordinal, cudaGetErrorString(e));
    }
    snprintf(d->name, sizeof d->name, "%.100s (GPU %d, sm_%d%d, %.0f GiB)", prop.name, c->device, prop.major, prop.minor,
             (double)prop.totalGlobalMem / 1073741824.0);
    if ((e = bbk_cuda_probe()) != cudaSuccess) {
        c_destroy(d);
        return bb_fail(BB_ERR_UNSUPPORTED, "--device cuda: this bigbatch has no code for %s: %s; rebuild with "
                       "`make CUDA=1 CUDA_ARCH=sm_%d%d`", prop.name, cudaGetErrorString(e), prop.major, prop.minor);
    }
    for (int i = 0; i < BB_NSTREAMS; i++)
        if ((e = cudaStreamCreateWithFlags(&c->stream[i], cudaStreamNonBlocking)) != cudaSuccess) {
            c_destroy(d);
            return bb_fail(BB_ERR_UNSUPPORTED, "cudaStreamCreate failed: %s", cudaGetErrorString(e));
        }
    cudnnStatus_t ds = cudnnCreate(&c->dnn);
    if (ds != CUDNN_STATUS_SUCCESS) {
        c_destroy(d);
        return bb_fail(BB_ERR_UNSUPPORTED, "cudnnCreate failed: %s (is libcudnn for this CUDA installed?)", cudnnGetErrorString(ds));
    }
    cudnnSetStream(c->dnn, c->stream[BB_STREAM_COMPUTE]);
    cublasStatus_t bs = cublasCreate(&c->blas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        c_destroy(d);
        return bb_fail(BB_ERR_UNSUPPORTED, "cublasCreate failed (status %d)", (int)bs);
    }
    cublasSetStream(c->blas, c->stream[BB_STREAM_COMPUTE]);
    cublasSetMathMode(c->blas, d->opts.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if ((e = cudaMalloc((void **)&c->scratch, BBK_REDUCE_SCRATCH * sizeof(double))) != cudaSuccess) {
        c_destroy(d);
        return bb_fail(BB_ERR_NOMEM, "cudaMalloc failed: %s", cudaGetErrorString(e));
    }
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    double lim = d->opts.workspace_frac * (double)free_b;
    d->ws_limit = (int64_t)(lim < (double)d->opts.workspace_max ? lim : (double)d->opts.workspace_max);
    d->alloc = c_alloc;
    d->free = c_free;
    d->host_alloc = c_host_alloc;
    d->host_free = c_host_free;
    d->host_register = c_host_register;
    d->host_unregister = c_host_unregister;
    d->mem_info = c_mem_info;
    d->memset0 = c_memset0;
    d->copy = c_copy;
    d->record = c_record;
    d->wait = c_wait;
    d->sync_event = c_sync_event;
    d->sync = c_sync;
    d->elapsed = c_elapsed;
    d->conv_create = c_conv_create;
    d->conv_prepare = c_conv_prepare;
    d->conv_destroy = c_conv_destroy;
    d->conv_fwd = c_conv_fwd;
    d->conv_bwd = c_conv_bwd;
    d->linear_fwd = c_linear_fwd;
    d->linear_bwd = c_linear_bwd;
    d->bn_fwd_train = c_bn_fwd_train;
    d->bn_fwd_eval = c_bn_fwd_eval;
    d->bn_bwd = c_bn_bwd;
    d->elt = c_elt;
    d->xent = c_xent;
    d->reduce = c_reduce;
    d->sgd = c_sgd;
    d->running = c_running;
    d->comm_init = c_comm_init;
    d->allreduce = c_allreduce;
    *out = d;
    return BB_OK;
}
