/* Built without MPI: running under mpirun is an error, not a silent single run
 * per rank (the CLI still runs `mpirun -np 1` as one process). */
#include "comm/comm.h"

bb_status bb_comm_mpi(bb_comm **out, const char *algorithm)
{
    (void)algorithm;
    *out = NULL;
    return bb_fail(BB_ERR_UNSUPPORTED, "started under mpirun, but this bigbatch was built without MPI "
                   "(rebuild with `make MPI=1`; needs libopenmpi-dev)");
}
