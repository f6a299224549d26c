/* The plan every engine runs a network by, made once and free of device code:
 * - fusion: which layers run as one operation ([relu](bn(x) [+ s]) or
 *   [relu](a + b)) and in what order; the intermediate tensors are never
 *   stored;
 * - gradients: which backward step writes a tensor's gradient first (it
 *   stores or zeroes it, later ones add), the start of its life;
 * - readiness: after each operation's backward, the lowest parameter offset
 *   above which every gradient is final (what the overlapped allreduce needs).
 * Each engine sizes its own memory from it: model/exec_plan.c (CPU arena by
 * liveness), gpu/plan.c (device buffers, chunks). */
#ifndef BB_MODEL_PLAN_H
#define BB_MODEL_PLAN_H

#include "model/net.h"

/* The fused forms, each run only where the engine's kernels have it (bits):
 * - BN_RELU: a BN applies the ReLU that is its output's only reader;
 * - ADD_RELU: a residual add applies its ReLU (where no BN took it in);
 * - BN_ADD: a BN adds the residual of the add that is its output's only
 *   reader, then that add's ReLU (one pass over a block's output, and the
 *   BN's own output is never stored);
 * - BN_CONV: a BN without residual whose output (after its ReLU) is read
 *   only by a convolution that copies its input (ops/nhwc.h,
 *   bb_conv2d_nhwc_copies_input) computes its statistics alone, and the
 *   convolution applies it (and the ReLU) to the BN's input as it copies
 *   it, in its forward and its weight gradient: the BN's output is never
 *   stored (its gradient is). */
enum { BB_FUSE_BN_RELU = 1, BB_FUSE_ADD_RELU = 2, BB_FUSE_BN_ADD = 4, BB_FUSE_BN_CONV = 8 };
#define BB_FUSE_CPU (BB_FUSE_BN_RELU | BB_FUSE_ADD_RELU | BB_FUSE_BN_ADD | BB_FUSE_BN_CONV)  /* channels last; the reference fuses nothing */
#define BB_FUSE_DEVICE (BB_FUSE_BN_RELU | BB_FUSE_BN_ADD)

typedef struct {
    bb_layer_kind kind;       /* of `layer` */
    int layer;                /* the layer whose operator and parameters it runs (fused: the BN or the add) */
    int last_layer;           /* the last layer it covers (it runs in that layer's place) */
    int in[2];                /* tensors read; in[1]: the add's second input or the fused BN's residual, else -1 */
    int out;                  /* tensor written */
    int relu;                 /* applies the ReLU that followed */
    int deferred;             /* a BN whose output the convolution reading it applies (BN_CONV) */
    int applies;              /* a convolution: the op whose BN it applies to its input (BN_CONV), else -1 */
    int first_write[2];       /* its backward writes in[j]'s gradient first (stores, not adds) */
    int64_t ready_lo;         /* after its backward, gradients at offsets >= ready_lo are final */
} bb_op;

typedef struct bb_plan {
    bb_op *ops;               /* forward order */
    int nops;
    unsigned char *stored;    /* per tensor: has memory (the input and every op's output) */
    unsigned char *applied;   /* per tensor: a deferred BN's output: its gradient has memory, not itself */
} bb_plan;

/* fusions: BB_FUSE_* bits (0: one operation per layer) */
bb_status bb_plan_build(bb_plan *p, const bb_net *net, unsigned fusions);
void bb_plan_free(bb_plan *p);

#endif
