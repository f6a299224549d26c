/* Runs a network through the CPU reference (src/model/exec_pass.c, one logical
 * worker at a time) and through the device engine (src/gpu/gnet.c, all m
 * workers of a chunk at once) on the same parameters, input and output
 * gradient, and measures how far apart every result is. Used with the host
 * backend (test_gpu_host.c, any machine) and the CUDA backend
 * (test_gpu_cuda.c, on a GPU).
 *
 * Error measures, per tensor (each parameter's gradient separately):
 *   max: max_i |a_i - b_i| / max_i |b_i|      (b: the CPU reference)
 *   l2:  ||a - b||_2 / ||b||_2
 * Bounds (justified in docs/GPU.md): the host backend repeats the CPU's float
 * arithmetic up to summation order, 1e-5; the GPU in full float32 (--tf32 0),
 * whose cuDNN algorithms (implicit GEMM, Winograd, FFT) sum in other orders,
 * 5e-4 max and l2 per layer, 5e-3 max for whole networks (the errors of some
 * 20 layers add up); the GPU with TF32 (10-bit mantissa products, unit
 * roundoff 2^-11 = 4.9e-4, errors growing like sqrt of the reduction length),
 * 2e-2 max and 5e-3 l2 for single layers; whole networks with TF32 are held
 * to the l2 bound only (a max-pool window whose two largest inputs differ by
 * less than the TF32 error can pick the other one, a legitimate outlier). */
#ifndef BB_TESTS_GPU_COMPARE_H
#define BB_TESTS_GPU_COMPARE_H

#include "gpu/dev.h"
#include "model/net.h"

typedef struct { double max, l2; } gpu_err;

typedef struct {
    gpu_err y, dx, dparam, stats, eval;  /* forward output, input gradient, worst parameter gradient, BN batch statistics, evaluation-mode output */
    char worst_param[64];
} gpu_cmp;

/* A test network by index (0 .. gpu_ops_count()-1): single operators and
 * fusions, then small whole models. Returns its name; *whole = 1 for models. */
int gpu_ops_count(void);
const char *gpu_ops_build(int which, bb_net *net, int *whole);

bb_status gpu_compare_net(bb_dev *dev, const bb_net *net, int64_t n, int64_t m, uint64_t seed, gpu_cmp *out);

/* The pass rule above: 1 if within the bounds for this device and network kind. */
int gpu_cmp_pass(const gpu_cmp *c, double bound_max, double bound_l2, int whole_l2_only);

#endif
