/* Launchers of the CUDA kernels (kernels.cu), callable from C. Each enqueues
 * on stream s and returns the launch status (cudaGetLastError), never waits.
 * The arithmetic is that of gpu/kern.h; these add the thread layout. */
#ifndef BB_CUDA_KERNELS_H
#define BB_CUDA_KERNELS_H

#include "gpu/kern.h"

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cudaSuccess if this binary holds code for the current device */
cudaError_t bbk_cuda_probe(void);

cudaError_t bbk_cuda_bn_fwd_train(const bb_kbn *p, cudaStream_t s);
cudaError_t bbk_cuda_bn_fwd_eval(const bb_kbn *p, cudaStream_t s);
cudaError_t bbk_cuda_bn_bwd(const bb_kbn *p, cudaStream_t s);
cudaError_t bbk_cuda_elt(const bb_kelt *p, cudaStream_t s);
cudaError_t bbk_cuda_xent(const bb_kxent *p, cudaStream_t s);
/* *out = sum; scratch: BBK_REDUCE_SCRATCH doubles of device memory */
#define BBK_REDUCE_SCRATCH 1024
cudaError_t bbk_cuda_reduce(int kind, const void *x, int64_t n, double *out, double *scratch, cudaStream_t s);
cudaError_t bbk_cuda_sgd(const bb_ksgd *p, cudaStream_t s);
cudaError_t bbk_cuda_running(float *state, const float *stats, int64_t len, float momentum, double count,
                             cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
