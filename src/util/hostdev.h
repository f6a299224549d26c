/* BB_HD marks the inline functions that compile both as plain C11 and as CUDA
 * device code (__host__ __device__ under nvcc): the arithmetic the CPU code
 * and the device kernels share (ops/rank.h, ops/ops.h, optim/update.h,
 * gpu/kern.h). Such functions use only libm and their arguments. */
#ifndef BB_UTIL_HOSTDEV_H
#define BB_UTIL_HOSTDEV_H

#ifdef __CUDACC__
#define BB_HD __host__ __device__
#else
#define BB_HD
#endif

#endif
