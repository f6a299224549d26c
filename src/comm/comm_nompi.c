/* Built without MPI: running under mpirun is an error, not a silent single run
 * per rank. */
#include "comm/comm.h"

#include <stdlib.h>

bb_status bb_comm_mpi(bb_comm **out, const char *algorithm)
{
    (void)algorithm;
    *out = NULL;
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (size && atoi(size) == 1) return bb_comm_single(out);
    return bb_fail(BB_ERR_UNSUPPORTED, "started under mpirun, but this bigbatch was built without MPI "
                   "(rebuild with `make MPI=1`; needs libopenmpi-dev)");
}
