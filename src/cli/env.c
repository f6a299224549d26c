/* What the program takes from its surroundings and hands to the library: the
 * BB_* test variables and the MPI launcher's (as hooks, util/hooks.h), the
 * choice of a single process or MPI, and where the library's messages go
 * (stderr; on a terminal the progress line is redrawn in place). */
#include "cli/cli.h"

#include "comm/comm.h"
#include "util/hooks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int first_int(const char *const *vars, int def)
{
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return def;
}

/* messages come from the loader and communication threads too */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static int on_tty, line_open;  /* a progress line is drawn without its newline */

static void print_message(bb_log_level level, const char *msg, void *user)
{
    (void)user;
    pthread_mutex_lock(&print_lock);
    if (level == BB_LOG_STATUS || level == BB_LOG_PROGRESS) {
        if (on_tty) {
            fprintf(stderr, "\r\033[K%s", msg);
            fflush(stderr);
            line_open = 1;
        } else if (level == BB_LOG_PROGRESS) {
            fprintf(stderr, "%s\n", msg);
        }
    } else {
        if (line_open) fputs("\r\033[K", stderr);
        line_open = 0;
        fprintf(stderr, "%s\n", msg);
    }
    pthread_mutex_unlock(&print_lock);
}

void cli_log_end(void)
{
    pthread_mutex_lock(&print_lock);
    if (line_open) fputc('\n', stderr);
    line_open = 0;
    pthread_mutex_unlock(&print_lock);
}

void cli_env_setup(void)
{
    static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", NULL};
    static const char *const local_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK",
                                             "SLURM_LOCALID", "PMI_LOCAL_RANK", NULL};
    static const char *const delay_var[] = {"BB_TEST_WRITE_DELAY_MS", NULL}, *const trace_var[] = {"BB_TRACE_BUCKETS", NULL},
                             *const find_var[] = {"BB_CUDNN_FIND", NULL},
                             *const chunk_var[] = {"BB_GPU_CHUNK_WORKERS", NULL};
    bb_hooks h;
    bb_hooks_default(&h);
    h.write_delay_ms = first_int(delay_var, 0);
    h.trace_buckets = first_int(trace_var, 0);
    h.cudnn_find = first_int(find_var, 1);
    h.gpu_chunk_workers = first_int(chunk_var, 0);
    h.launcher_rank = first_int(rank_vars, -1);
    h.launcher_local_rank = first_int(local_vars, -1);
    const char *fault = getenv("BB_FAULT");
    if (fault) snprintf(h.fault, sizeof h.fault, "%s", fault);
    bb_hooks_set(&h);
    on_tty = isatty(2);
    bb_log_set(print_message, NULL);
}

bb_status cli_comm_create(bb_comm **out, const char *algorithm)
{
    *out = NULL;
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (size || getenv("PMI_SIZE") || getenv("PMIX_RANK")) {
        bb_status s = bb_comm_mpi(out, algorithm);
        /* a build without MPI still runs `mpirun -np 1` as one process */
        if (s != BB_ERR_UNSUPPORTED || !size || atoi(size) != 1) return s;
    }
    BB_TRY(bb_comm_single(out));
    bb_status s = bb_comm_set_algorithm(*out, algorithm);
    if (s != BB_OK) {
        bb_comm_destroy(*out);
        *out = NULL;
    }
    return s;
}
