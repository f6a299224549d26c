/* A network is a list of layers over numbered tensors (a DAG in topological
 * order: residual blocks read two tensors). Parameters, their gradients and the
 * BN running statistics each live in one flat buffer with per-parameter views;
 * an executor (bb_exec) holds the activations of ONE logical worker's batch. */
#ifndef BB_MODEL_NET_H
#define BB_MODEL_NET_H

#include "ops/ops.h"
#include "util/status.h"

#include <stdint.h>

typedef enum { BB_PARAM_WEIGHT, BB_PARAM_BIAS, BB_PARAM_BN_GAMMA, BB_PARAM_BN_BETA } bb_param_kind;

typedef struct {
    char name[64];
    bb_param_kind kind;
    int64_t offset, count;   /* floats into the flat parameter buffer */
    int64_t shape[4];
    int ndim;
    int layer;
} bb_param;

typedef enum {
    BB_L_CONV, BB_L_BN, BB_L_RELU, BB_L_ADD, BB_L_MAXPOOL, BB_L_AVGPOOL, BB_L_LINEAR, BB_L_PADSHORT
} bb_layer_kind;
enum { BB_L_N = BB_L_PADSHORT + 1 };  /* the number of kinds (after the last one) */

/* What every engine, planner and tool knows of a layer kind: one row per kind
 * in bb_layer_kinds (net.c). Which fusions run is the engines' choice
 * (model/plan.h); the operators are the executors' dispatch. */
typedef struct {
    const char *name;         /* in profiles (its slot is the kind) and summaries */
    unsigned char bwd_reads_x;/* its backward reads its input (conv, BN, linear) ... */
    unsigned char bwd_reads_y;/* ... or its output (ReLU) */
} bb_layer_kind_info;
extern const bb_layer_kind_info bb_layer_kinds[BB_L_N];

typedef struct { int64_t c, h, w; } bb_dims;  /* one sample's tensor */

typedef struct {
    bb_layer_kind kind;
    char name[48];
    int in[2], out;          /* tensor ids; in[1] < 0 for unary layers */
    int param0, nparam;      /* views net->params[param0 .. param0+nparam) */
    union { bb_conv2d conv; bb_bn bn; bb_maxpool mp; bb_linear lin; bb_padshort ps; } op;
    int64_t stat_off;        /* BN: 2c floats of batch-stat sums after the gradients */
    int64_t run_off;         /* BN: 2c floats (running mean, running var) in the state */
    int64_t save_bytes;      /* saved for backward, independent of n (BN) ... */
    int64_t save_per_sample; /* ... or per sample (pool argmax) */
    int64_t save_off;        /* offset of the first kind in the saved area ... */
    int64_t save_ps_off;     /* ... or of the second, times n_max, after save_fixed */
    int last_bn;             /* the last BN of a residual block (gamma may start at 0) */
} bb_layer;

typedef struct bb_net {
    bb_layer *layers;   int nlayers, cap_layers;
    bb_dims *tensors;   int ntensors, cap_tensors;
    bb_param *params;   int nparams, cap_params;
    int64_t param_count;  /* floats of parameters (= of gradients) */
    int64_t stat_count;   /* floats of BN batch statistics appended to gradients */
    int64_t state_count;  /* floats of BN running statistics */
    int64_t save_fixed;   /* bytes of n-independent saved values */
    int64_t save_per_sample;
    int input, output;
    int finalized;
    bb_status error;      /* first builder error, reported by bb_net_finalize */
    char model_desc[128];
} bb_net;

/* ---- building ---- */
void bb_net_init(bb_net *net, int64_t c, int64_t h, int64_t w);  /* tensor 0 = input */
void bb_net_free(bb_net *net);
int bb_net_conv(bb_net *net, const char *name, int in, int64_t cout, int64_t k, int64_t stride, int64_t pad);
int bb_net_bn(bb_net *net, const char *name, int in, int last_of_block);
int bb_net_relu(bb_net *net, int in);
int bb_net_add(bb_net *net, int a, int b);
int bb_net_maxpool(bb_net *net, int in, int64_t k, int64_t stride, int64_t pad);
int bb_net_avgpool(bb_net *net, int in);   /* global average pool to (c, 1, 1) */
int bb_net_linear(bb_net *net, const char *name, int in, int64_t out, int bias);
int bb_net_padshort(bb_net *net, int in, int64_t cout, int64_t stride);
bb_status bb_net_finalize(bb_net *net, int output);

/* ---- parameters ---- */
/* He normal (fan in) for conv weights, N(0, 0.01) for linear weights, zero
 * biases, BN gamma 1 (0 where zero_gamma names the layer's last BN), beta 0;
 * running mean 0, variance 1. A pure function of seed. */
void bb_net_init_params(const bb_net *net, uint64_t seed, int zero_gamma_last_bn,
                        float *params, float *state);
int bb_net_find_param(const bb_net *net, const char *name);
int64_t bb_net_macs(const bb_net *net);  /* forward multiply-adds per sample */
int64_t bb_layer_macs(const bb_layer *l); /* of one layer (0 for those without products) */

/* ---- one executor: the activations of a batch of up to n_max samples ---- */

/* Which operators an executor runs. FAST: channels-last tensors, direct
 * convolutions on the best register kernel the CPU runs (ukernel.h), BN and
 * residual adds fused with the ReLU that follows them. PORTABLE, AVX2,
 * AVX512: the same with that register kernel (refused when the CPU lacks it).
 * REFERENCE: the plain NCHW operators of ops.h (im2col + BLAS). All compute
 * the same mathematics; the input and the logits are (n, c, h, w) and
 * (n, classes) in every mode, and parameters never change layout.
 * AVX512_EMULATED: the AVX-512 register kernel emulated, in the test binary
 * only (no --kernels name). */
typedef enum {
    BB_KERNELS_FAST, BB_KERNELS_AVX512, BB_KERNELS_AVX2, BB_KERNELS_PORTABLE, BB_KERNELS_REFERENCE,
    BB_KERNELS_AVX512_EMULATED
} bb_kernels;
/* The --kernels names: fast | avx512 | avx2 | portable | reference; fails,
 * naming what the CPU has, for a variant it cannot run. */
bb_status bb_kernels_from_name(const char *name, bb_kernels *k);
/* What runs under k on this CPU: "reference" or a register kernel's name. */
const char *bb_kernels_running(bb_kernels k);

/* Seconds spent per layer kind (slots 0 .. BB_L_N - 1, indexed by
 * bb_layer_kind), forward and backward, when an executor has a profile
 * attached (the passes then read the clock around every layer; without one
 * they do not). The trainer adds the slots after BB_PROF_LAYOUT. */
enum {
    BB_PROF_LAYOUT = BB_L_N,  /* input (n, c, h, w) <-> channels last */
    BB_PROF_LOSS, BB_PROF_GRADSUM, BB_PROF_UPDATE, BB_PROF_DATA, BB_PROF_N
};
typedef struct { double fwd[BB_PROF_N], bwd[BB_PROF_N]; } bb_profile;
const char *bb_profile_name(int slot);

struct bb_pool;
struct bb_plan;

typedef struct {
    const bb_net *net;
    int64_t n_max;
    bb_kernels kernels;
    struct bb_pool *team;       /* threads sharing each layer (channels-last modes); NULL: one */
    float *arena;               /* activations and gradients, (n_max, c, h, w) or (n_max, h, w, c) each */
    float **act, **grad;        /* per tensor views (NULL: fused away); channels last: shared by liveness */
    unsigned char *save;        /* BN mean/invstd, pool argmax */
    float *ws;                  /* conv workspace */
    int32_t *labels;            /* n_max labels of the current batch */
    int want_input_grad;        /* backward also fills grad[input] (tests, saliency) */
    struct bb_plan *plan;       /* the operations it runs (model/plan.h; channels last: BN and add fused with ReLU) */
    /* channels-last modes */
    float *in_cl, *din_cl;      /* channels-last copy of the input and its gradient (NULL when c or hw is 1) */
    float *coef;                /* the coefficients of a BN a convolution applies (plan.h, BN_CONV), then those of
                                   the BN whose backward sums it does (bb_bn_sums): 2 x 2 x the most channels */
    double *sums;               /* a BN's first pass done ahead by a convolution (ops/nhwc.h, bb_bn_sums) */
    float *later;               /* the coefficients of a BN's second pass left to a convolution (bb_bn_later) */
    int sums_op;                /* the BN operation whose first pass sums holds; -1: none */
    bb_profile *prof;           /* NULL: no timing */
} bb_exec;

bb_status bb_exec_create(bb_exec *ex, const bb_net *net, int64_t n_max);
bb_status bb_exec_create_with(bb_exec *ex, const bb_net *net, int64_t n_max, bb_kernels kernels);
/* An executor whose layers `threads` threads share (the caller and threads - 1
 * of its own), with the same results bit for bit as one thread. The reference
 * kernels always run on the caller alone. */
bb_status bb_exec_create_threads(bb_exec *ex, const bb_net *net, int64_t n_max, bb_kernels kernels, int threads);
void bb_exec_destroy(bb_exec *ex);
static inline float *bb_exec_input(const bb_exec *ex) { return ex->act[ex->net->input]; }
static inline float *bb_exec_logits(const bb_exec *ex) { return ex->act[ex->net->output]; }
static inline float *bb_exec_dlogits(const bb_exec *ex) { return ex->grad[ex->net->output]; }

/* train: BN uses the batch's own statistics and ADDS them into stats (the
 * stat_count floats after the gradients, may be NULL); else BN uses the running
 * statistics in state. */
void bb_net_forward(const bb_net *net, bb_exec *ex, int64_t n, const float *params,
                    const float *state, int train, float *stats);

/* Called during backward as soon as the gradients of all parameters at offsets
 * >= lo are complete for this batch (reverse layer order). */
typedef void (*bb_grad_ready_fn)(void *arg, int64_t lo);

/* Needs bb_exec_dlogits filled; ADDS parameter gradients into grad. */
void bb_net_backward(const bb_net *net, bb_exec *ex, int64_t n, const float *params,
                     float *grad, bb_grad_ready_fn ready, void *ready_arg);

#endif
