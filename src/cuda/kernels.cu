/* CUDA kernels: thread layouts around the arithmetic of gpu/kern.h, which the
 * host backend runs in loops (and the tests check against src/ops). Batch-norm
 * reductions run one block per (worker, channel, part) in double, then one
 * thread per channel combines parts and workers in a fixed order, so results
 * do not depend on scheduling. Element-wise kernels use 32-bit index arithmetic
 * when the tensor has fewer than 2^31 elements. */
#include "cuda/kernels.h"
#include "gpu/dev.h"

#include <cuda_runtime.h>
#include <stdint.h>

#define THREADS 256
#define MAX_BLOCKS 16384

static unsigned grid_for(int64_t n)
{
    int64_t b = (n + THREADS - 1) / THREADS;
    if (b < 1) b = 1;
    if (b > MAX_BLOCKS) b = MAX_BLOCKS;
    return (unsigned)b;
}

/* sums a and b over the block (blockDim a multiple of 32); valid in thread 0 */
__device__ __forceinline__ void block_sum2(double &a, double &b)
{
    __shared__ double sa[32], sb[32];
    for (int o = 16; o > 0; o >>= 1) {
        a += __shfl_down_sync(0xffffffffu, a, o);
        b += __shfl_down_sync(0xffffffffu, b, o);
    }
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    if (lane == 0) {
        sa[wid] = a;
        sb[wid] = b;
    }
    __syncthreads();
    if (wid == 0) {
        a = lane < nw ? sa[lane] : 0.0;
        b = lane < nw ? sb[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) {
            a += __shfl_down_sync(0xffffffffu, a, o);
            b += __shfl_down_sync(0xffffffffu, b, o);
        }
    }
}

/* ---- batch norm ---- */

/* partial sums of one (worker, channel, part): block b = cell * parts + part.
 * PLANES: walk the part plane by plane (no division per element; for planes
 * of at least a block's width), else flat with 32-bit index division. */
template <bool BWD, bool PLANES>
__global__ void __launch_bounds__(THREADS) bn_partial(bb_kbn p)
{
    int64_t b = blockIdx.x;
    int64_t cell = b / p.parts, part = b - cell * p.parts;
    int64_t w = cell / p.c, ch = cell - w * p.c;
    int64_t e0, e1;
    bbk_bn_part_range(&p, part, &e0, &e1);
    double s = 0.0, q = 0.0;
    if (PLANES) {
        const int64_t hw = p.hw;
        for (int64_t si = e0 / hw; si * hw < e1; si++) {
            int64_t lo = (e0 > si * hw ? e0 : si * hw) - si * hw;
            int64_t hi = (e1 < (si + 1) * hw ? e1 : (si + 1) * hw) - si * hw;
            const int64_t base = ((w * p.n + si) * p.c + ch) * hw;
            for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
                if (BWD) bbk_bn_bwd_term(&p, cell, base + i, &s, &q);
                else bbk_bn_fwd_term(&p, base + i, &s, &q);
            }
        }
    } else {  /* n hw < 2^32 here */
        const unsigned hw = (unsigned)p.hw;
        for (int64_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
            unsigned eu = (unsigned)e, si = eu / hw, i = eu - si * hw;
            int64_t a = ((w * p.n + si) * p.c + ch) * p.hw + i;
            if (BWD) bbk_bn_bwd_term(&p, cell, a, &s, &q);
            else bbk_bn_fwd_term(&p, a, &s, &q);
        }
    }
    block_sum2(s, q);
    if (threadIdx.x == 0) {
        p.partial[b * 2] = s;
        p.partial[b * 2 + 1] = q;
    }
}

template <bool BWD>
__global__ void bn_finalize(bb_kbn p)
{
    int64_t ch = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= p.c) return;
    if (BWD) bbk_bn_bwd_finalize(&p, ch);
    else bbk_bn_fwd_finalize(&p, ch);
}

/* element-wise pass, flat: 32-bit index arithmetic below 2^31 elements */
template <typename I, bool BWD>
__global__ void __launch_bounds__(THREADS) bn_apply(bb_kbn p, I total)
{
    const I hw = (I)p.hw, c = (I)p.c, cn = (I)(p.c * p.n);
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < total; i += (I)gridDim.x * (I)blockDim.x) {
        I plane = i / hw;
        I cell = (plane / cn) * c + plane % c;
        if (BWD) bbk_bn_bwd_apply_at(&p, (int64_t)i, (int64_t)cell);
        else bbk_bn_fwd_apply_at(&p, (int64_t)i, (int64_t)cell);
    }
}

/* element-wise pass by planes: blockIdx.x = plane (sample * c + channel), the
 * y blocks split the plane; the cell is found once per block */
#define PLANE_PER_THREAD 4
template <bool BWD>
__global__ void __launch_bounds__(THREADS) bn_apply_planes(bb_kbn p)
{
    const int64_t plane = blockIdx.x, hw = p.hw;
    const int64_t cell = (plane / (p.c * p.n)) * p.c + plane % p.c;
    const int64_t base = plane * hw;
    for (int64_t i = (int64_t)blockIdx.y * blockDim.x + threadIdx.x; i < hw; i += (int64_t)gridDim.y * blockDim.x) {
        if (BWD) bbk_bn_bwd_apply_at(&p, base + i, cell);
        else bbk_bn_fwd_apply_at(&p, base + i, cell);
    }
}

__global__ void __launch_bounds__(THREADS) bn_eval(bb_kbn p, int64_t total)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        bbk_bn_eval_apply(&p, i);
}

template <bool BWD>
static cudaError_t bn_pass(const bb_kbn *p, cudaStream_t s)
{
    int64_t cells = p->m * p->c;
    bool planes = p->hw >= THREADS || bbk_bn_cell_len(p) >= ((int64_t)1 << 32);
    if (planes) bn_partial<BWD, true><<<(unsigned)(cells * p->parts), THREADS, 0, s>>>(*p);
    else bn_partial<BWD, false><<<(unsigned)(cells * p->parts), THREADS, 0, s>>>(*p);
    bn_finalize<BWD><<<(unsigned)((p->c + 127) / 128), 128, 0, s>>>(*p);
    int64_t total = p->m * p->n * p->c * p->hw, nplanes = p->m * p->n * p->c;
    if (p->hw >= THREADS && nplanes < ((int64_t)1 << 31)) {
        int64_t ys = (p->hw + THREADS * PLANE_PER_THREAD - 1) / (THREADS * PLANE_PER_THREAD);
        dim3 grid((unsigned)nplanes, (unsigned)(ys < 65535 ? ys : 65535));
        bn_apply_planes<BWD><<<grid, THREADS, 0, s>>>(*p);
    } else if (total < ((int64_t)1 << 31)) {
        bn_apply<uint32_t, BWD><<<grid_for(total), THREADS, 0, s>>>(*p, (uint32_t)total);
    } else {
        bn_apply<int64_t, BWD><<<grid_for(total), THREADS, 0, s>>>(*p, total);
    }
    return cudaGetLastError();
}

extern "C" cudaError_t bbk_cuda_bn_fwd_train(const bb_kbn *p, cudaStream_t s) { return bn_pass<false>(p, s); }
extern "C" cudaError_t bbk_cuda_bn_bwd(const bb_kbn *p, cudaStream_t s) { return bn_pass<true>(p, s); }

extern "C" cudaError_t bbk_cuda_bn_fwd_eval(const bb_kbn *p, cudaStream_t s)
{
    int64_t total = p->m * p->n * p->c * p->hw;
    bn_eval<<<grid_for(total), THREADS, 0, s>>>(*p, total);
    return cudaGetLastError();
}

/* ---- small layers, cross-entropy ---- */

__global__ void __launch_bounds__(THREADS) elt_kernel(bb_kelt p, int64_t total)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        bbk_elt_one(&p, i);
}

extern "C" cudaError_t bbk_cuda_elt(const bb_kelt *p, cudaStream_t s)
{
    int64_t total = bbk_elt_count(p);
    if (total > 0) elt_kernel<<<grid_for(total), THREADS, 0, s>>>(*p, total);
    return cudaGetLastError();
}

__global__ void xent_kernel(bb_kxent p)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < p.n) bbk_xent_one(&p, i);
}

extern "C" cudaError_t bbk_cuda_xent(const bb_kxent *p, cudaStream_t s)
{
    if (p->n > 0) xent_kernel<<<(unsigned)((p->n + 127) / 128), 128, 0, s>>>(*p);
    return cudaGetLastError();
}

/* ---- reductions: per-block sums, then one block in order ---- */

template <int KIND>
__global__ void __launch_bounds__(THREADS) reduce_partial(const void *x, int64_t n, double *scratch)
{
    double a = 0.0, unused = 0.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        if (KIND == BB_REDUCE_SUM_F64) {
            a += ((const double *)x)[i];
        } else {
            double v = ((const float *)x)[i];
            a += v * v;
        }
    }
    block_sum2(a, unused);
    if (threadIdx.x == 0) scratch[blockIdx.x] = a;
}

__global__ void __launch_bounds__(THREADS) reduce_final(const double *scratch, int nb, double *out)
{
    double a = 0.0, unused = 0.0;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) a += scratch[i];
    block_sum2(a, unused);
    if (threadIdx.x == 0) *out = a;
}

extern "C" cudaError_t bbk_cuda_reduce(int kind, const void *x, int64_t n, double *out, double *scratch, cudaStream_t s)
{
    int64_t nb = (n + THREADS - 1) / THREADS;
    if (nb < 1) nb = 1;
    if (nb > BBK_REDUCE_SCRATCH) nb = BBK_REDUCE_SCRATCH;
    if (kind == BB_REDUCE_SUM_F64) reduce_partial<BB_REDUCE_SUM_F64><<<(unsigned)nb, THREADS, 0, s>>>(x, n, scratch);
    else reduce_partial<BB_REDUCE_SUMSQ_F32><<<(unsigned)nb, THREADS, 0, s>>>(x, n, scratch);
    reduce_final<<<1, THREADS, 0, s>>>(scratch, (int)nb, out);
    return cudaGetLastError();
}

/* ---- optimizer: block b updates part of one parameter tensor ---- */

__device__ __forceinline__ int64_t seg_of(const bb_ksgd &p, int64_t b)
{
    int64_t lo = 0, hi = p.nseg - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (p.seg[mid].first_block <= b) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

__device__ __forceinline__ void block_range(const bb_ksgd &p, const bb_kseg &sg, int64_t b, int64_t *lo, int64_t *hi)
{
    *lo = sg.offset + (b - sg.first_block) * p.block_len;
    int64_t end = sg.offset + sg.count;
    *hi = *lo + p.block_len < end ? *lo + p.block_len : end;
}

__global__ void __launch_bounds__(THREADS) lars_partial(bb_ksgd p)
{
    int64_t b = blockIdx.x, lo, hi;
    const bb_kseg sg = p.seg[seg_of(p, b)];
    block_range(p, sg, b, &lo, &hi);
    double w2 = 0.0, g2 = 0.0;
    for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        double w = p.w[j], g = p.g[j];
        w2 += w * w;
        g2 += g * g;
    }
    block_sum2(w2, g2);
    if (threadIdx.x == 0) {
        p.norms[b * 2] = w2;
        p.norms[b * 2 + 1] = g2;
    }
}

__global__ void lars_segments(bb_ksgd p)
{
    int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= p.nseg) return;
    double w2 = 0.0, g2 = 0.0;
    for (int64_t b = p.seg[k].first_block; b < p.seg[k + 1].first_block; b++) {
        w2 += p.norms[b * 2];
        g2 += p.norms[b * 2 + 1];
    }
    p.seg_lr[k] = p.seg[k].lars ? bb_lars_lr(p.lr, p.eta, p.clip, p.seg[k].wd, w2, g2) : p.flr;
}

__global__ void __launch_bounds__(THREADS) sgd_update(bb_ksgd p)
{
    int64_t b = blockIdx.x, k = seg_of(p, b), lo, hi;
    const bb_kseg sg = p.seg[k];
    block_range(p, sg, b, &lo, &hi);
    float flr = p.lars ? p.seg_lr[k] : p.flr;
    for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) bbk_sgd_one(&p, sg.wd, flr, j);
}

extern "C" cudaError_t bbk_cuda_sgd(const bb_ksgd *p, cudaStream_t s)
{
    if (p->nblocks < 1) return cudaGetLastError();
    if (p->lars) {
        lars_partial<<<(unsigned)p->nblocks, THREADS, 0, s>>>(*p);
        lars_segments<<<(unsigned)((p->nseg + 127) / 128), 128, 0, s>>>(*p);
    }
    sgd_update<<<(unsigned)p->nblocks, THREADS, 0, s>>>(*p);
    return cudaGetLastError();
}

__global__ void running_kernel(float *state, const float *stats, int64_t len, float momentum, double count)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < len; i += (int64_t)gridDim.x * blockDim.x)
        bb_bn_update_running_one(state + i, stats[i], momentum, count);
}

extern "C" cudaError_t bbk_cuda_running(float *state, const float *stats, int64_t len, float momentum, double count,
                                        cudaStream_t s)
{
    if (len > 0) running_kernel<<<grid_for(len), THREADS, 0, s>>>(state, stats, len, momentum, count);
    return cudaGetLastError();
}

extern "C" cudaError_t bbk_cuda_probe(void)
{
    cudaFuncAttributes a;
    return cudaFuncGetAttributes(&a, reduce_final);
}
