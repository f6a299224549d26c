/* Built without CUDA: --device cuda fails with a message that says how to get it. */
#include "gpu/dev.h"

bb_status bb_dev_cuda_create(bb_dev **out, int ordinal, const bb_dev_opts *o)
{
    (void)ordinal;
    (void)o;
    *out = NULL;
    return bb_fail(BB_ERR_UNSUPPORTED, "--device cuda: this bigbatch was built without CUDA; rebuild with "
                   "`make CUDA=1` (needs the CUDA toolkit, cuDNN, cuBLAS and NCCL)");
}
