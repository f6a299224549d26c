/* The MPI backend: every operation is a nonblocking MPI call (or, for ring and
 * hd, point-to-point messages) completed by a polling wait, so a dead or hung
 * peer is noticed after c->watchdog seconds. The rank that notices announces
 * it on a second communicator; the live ranks answer; whoever did not answer
 * within the grace period is named as hung or dead. Thread discipline:
 * MPI_THREAD_SERIALIZED (one thread in MPI at a time; the trainer's
 * communication thread and the main thread take turns). */
#include "comm/mpi_internal.h"

#include "util/mem.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WD_TAG 7
#define CHUNK ((int64_t)1 << 28)  /* floats per call: counts stay ints */

static bb_mpi *impl(bb_comm *c) { return c->impl; }

bb_status bb_mpi_check(bb_comm *c, int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return BB_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    bb_mpi *m = impl(c);
    snprintf(m->errmsg, sizeof m->errmsg, "rank %d: %s failed: %s", c->rank, what, msg);
    c->failed = 1;
    c->lead = 1;  /* a local error: this rank reports it */
    return bb_fail(BB_ERR_COMM, "%s", m->errmsg);
}

bb_status bb_mpi_scratch(bb_comm *c, int64_t len, float **out)
{
    bb_mpi *m = impl(c);
    if (len > m->scratch_cap) {
        bb_free(m->scratch);
        m->scratch = bb_alloc((size_t)len * sizeof(float));
        m->scratch_cap = m->scratch ? len : 0;
        if (!m->scratch) return bb_fail(BB_ERR_NOMEM, "allreduce: cannot allocate %.1f MiB of receive buffer", (double)len * 4 / 1048576.0);
    }
    *out = m->scratch;
    return BB_OK;
}

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

/* Announces the stop to every peer, collects the answers of the live ones for
 * a grace period and writes the message naming the silent ranks. */
static bb_status watchdog_stop(bb_comm *c, double waited, int announcer, int frozen)
{
    bb_mpi *m = impl(c);
    /* This rank is the late one when another rank gave up on an operation that
     * this one joined only just now, or when this process itself did not run
     * for half the deadline (stopped, then woken by the launcher's signals on
     * the way to ending the job). It does not answer, so every live rank agrees
     * that it was silent, and it reports nothing: its view would contradict
     * theirs. */
    if (frozen || (announcer >= 0 && c->watchdog > 0 && waited < 0.5 * c->watchdog)) {
        c->failed = 1;
        c->lead = 0;
        snprintf(m->errmsg, sizeof m->errmsg, "watchdog: rank %d did not run or join operation #%lld in time (%.2f s in "
                 "it, --watchdog %g): it was the late one; stopping the job", c->rank, (long long)m->seq, waited,
                 c->watchdog);
        return bb_fail(BB_ERR_COMM, "%s", m->errmsg);
    }
    m->announce[0] = c->rank;
    m->announce[1] = m->seq;
    for (int p = 0; p < c->size; p++) {
        if (p == c->rank) continue;
        MPI_Request r;
        if (MPI_Isend(m->announce, 3, MPI_INT64_T, p, WD_TAG, m->wd, &r) == MPI_SUCCESS) MPI_Request_free(&r);
    }
    double grace = c->watchdog > 0 ? 0.5 * c->watchdog : 1.0;
    if (grace < 0.2) grace = 0.2;
    int answered = 0;
    for (int p = 0; p < c->size; p++) if (m->heard[p] >= 0) answered++;
    double t0 = bb_now();
    while (answered < c->size - 1 && bb_now() - t0 < grace) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, WD_TAG, m->wd, &flag, &st) != MPI_SUCCESS) break;
        if (!flag) { sleep_us(1000); continue; }
        int64_t msg[3];
        if (MPI_Recv(msg, 3, MPI_INT64_T, st.MPI_SOURCE, WD_TAG, m->wd, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        if (m->heard[st.MPI_SOURCE] < 0) answered++;
        m->heard[st.MPI_SOURCE] = msg[1];
    }
    int lowest_live = c->rank;
    for (int p = c->size - 1; p >= 0; p--) if (p != c->rank && m->heard[p] >= 0 && p < lowest_live) lowest_live = p;
    c->lead = lowest_live == c->rank;
    c->failed = 1;

    char *e = m->errmsg;
    size_t cap = sizeof m->errmsg, n = 0;
#define ADD(...) do { if (n < cap) n += (size_t)snprintf(e + n, cap - n, __VA_ARGS__); } while (0)
    if (announcer < 0)
        ADD("watchdog: rank %d waited %.1f s (--watchdog %g) in operation #%lld (%s of %lld elements) without progress",
            c->rank, waited, c->watchdog, (long long)m->seq, m->op ? m->op : "?", (long long)m->op_len);
    else
        ADD("watchdog: rank %d reported that operation #%lld made no progress for %g s (--watchdog)",
            announcer, (long long)m->heard[announcer], c->watchdog);
    int silent = 0;
    for (int p = 0; p < c->size; p++) if (p != c->rank && m->heard[p] < 0) silent++;
    if (silent) {
        ADD("; no answer from rank%s", silent > 1 ? "s" : "");
        int first = 1;
        for (int p = 0; p < c->size; p++)
            if (p != c->rank && m->heard[p] < 0) { ADD("%s %d", first ? "" : ",", p); first = 0; }
        ADD(" within %.2g s: %s hung or dead", grace, silent > 1 ? "they are" : "it is");
    } else {
        ADD("; every rank answered, waiting in operations:");
        for (int p = 0; p < c->size; p++)
            ADD(" rank %d #%lld%s", p, (long long)(p == c->rank ? m->seq : m->heard[p]), p + 1 < c->size ? "," : "");
        ADD(" (the ranks issued different operations)");
    }
    ADD("; stopping the job");
#undef ADD
    return bb_fail(BB_ERR_COMM, "%s", m->errmsg);
}

bb_status bb_mpi_wait(bb_comm *c, MPI_Request *reqs, int n)
{
    bb_mpi *m = impl(c);
    double t0 = bb_now(), last_probe = t0, last_poll = t0;
    long pause = 2;
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return bb_mpi_check(c, rc, m->op ? m->op : "wait");
        if (done) return BB_OK;
        double now = bb_now();
        int frozen = c->watchdog > 0 && now - last_poll > 0.5 * c->watchdog;  /* this process did not run */
        last_poll = now;
        if (c->watchdog > 0 && now - t0 > c->watchdog) return watchdog_stop(c, now - t0, -1, frozen);
        if (c->size > 1 && now - last_probe > 0.005) {
            last_probe = now;
            int flag = 0;
            MPI_Status st;
            if (MPI_Iprobe(MPI_ANY_SOURCE, WD_TAG, m->wd, &flag, &st) == MPI_SUCCESS && flag) {
                int64_t msg[3];
                if (MPI_Recv(msg, 3, MPI_INT64_T, st.MPI_SOURCE, WD_TAG, m->wd, MPI_STATUS_IGNORE) == MPI_SUCCESS) {
                    m->heard[st.MPI_SOURCE] = msg[1];
                    return watchdog_stop(c, now - t0, st.MPI_SOURCE, frozen);
                }
            }
        }
        if (now - t0 < c->spin) {
            sched_yield();  /* free when the core is ours; lets a peer or another job run when not */
        } else {
            sleep_us(pause);
            if (pause < 200) pause *= 2;
        }
    }
}

static bb_status begin_op(bb_comm *c, const char *name, int64_t len)
{
    bb_mpi *m = impl(c);
    if (c->failed) return bb_fail(BB_ERR_COMM, "%s", m->errmsg[0] ? m->errmsg : "communicator failed earlier");
    m->seq++;
    m->op = name;
    m->op_len = len;
    return BB_OK;
}

static bb_status lib_allreduce(bb_comm *c, void *buf, int n, MPI_Datatype type)
{
    MPI_Request r;
    BB_TRY(bb_mpi_check(c, MPI_Iallreduce(MPI_IN_PLACE, buf, n, type, MPI_SUM, impl(c)->comm, &r), "MPI_Iallreduce"));
    return bb_mpi_wait(c, &r, 1);
}

static bb_status mpi_allreduce(bb_comm *c, float *buf, int64_t len)
{
    const char *a = c->algorithm;
    BB_TRY(begin_op(c, a[0] == 'r' ? "ring allreduce" : a[0] == 'h' ? "hd allreduce" : a[0] == 'b' ? "MPI_Allreduce" : "MPI_Iallreduce", len));
    if (c->size == 1) return BB_OK;
    for (int64_t off = 0; off < len; off += CHUNK) {
        int64_t n = len - off < CHUNK ? len - off : CHUNK;
        if (a[0] == 'r') BB_TRY(bb_mpi_allreduce_ring(c, buf + off, n));
        else if (a[0] == 'h') BB_TRY(bb_mpi_allreduce_hd(c, buf + off, n));
        else if (a[0] == 'b')
            BB_TRY(bb_mpi_check(c, MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)n, MPI_FLOAT, MPI_SUM, impl(c)->comm), "MPI_Allreduce"));
        else BB_TRY(lib_allreduce(c, buf + off, (int)n, MPI_FLOAT));
    }
    return BB_OK;
}

static bb_status mpi_allreduce_f64(bb_comm *c, double *buf, int64_t len)
{
    BB_TRY(begin_op(c, "MPI_Iallreduce (double)", len));
    if (c->size == 1) return BB_OK;
    for (int64_t off = 0; off < len; off += CHUNK) {
        int64_t n = len - off < CHUNK ? len - off : CHUNK;
        BB_TRY(lib_allreduce(c, buf + off, (int)n, MPI_DOUBLE));
    }
    return BB_OK;
}

static bb_status mpi_bcast(bb_comm *c, void *buf, size_t bytes, int root)
{
    BB_TRY(begin_op(c, "MPI_Ibcast", (int64_t)bytes));
    if (c->size == 1) return BB_OK;
    for (size_t off = 0; off < bytes; off += (size_t)1 << 30) {
        size_t n = bytes - off < ((size_t)1 << 30) ? bytes - off : ((size_t)1 << 30);
        MPI_Request r;
        BB_TRY(bb_mpi_check(c, MPI_Ibcast((char *)buf + off, (int)n, MPI_BYTE, root, impl(c)->comm, &r), "MPI_Ibcast"));
        BB_TRY(bb_mpi_wait(c, &r, 1));
    }
    return BB_OK;
}

static bb_status mpi_barrier(bb_comm *c)
{
    BB_TRY(begin_op(c, "MPI_Ibarrier", 0));
    if (c->size == 1) return BB_OK;
    MPI_Request r;
    BB_TRY(bb_mpi_check(c, MPI_Ibarrier(impl(c)->comm, &r), "MPI_Ibarrier"));
    return bb_mpi_wait(c, &r, 1);
}

static void mpi_abort(bb_comm *c, int code)
{
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, code);
}

static void mpi_destroy(bb_comm *c)
{
    bb_mpi *m = impl(c);
    if (m->owns_world && c->failed) MPI_Abort(MPI_COMM_WORLD, 1);  /* peers may be gone: no clean finalize */
    if (!c->failed) {
        if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
        if (m->wd != MPI_COMM_NULL) MPI_Comm_free(&m->wd);
    }
    if (m->owns_world) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin) MPI_Finalize();
    }
    bb_free(m->scratch);
    free(m->heard);
    free(m);
    free(c);
}

static bb_status mpi_split(bb_comm *c, int color, bb_comm **out);

/* A bb_comm over `base` (which it duplicates twice: data and watchdog). */
static bb_status make_comm(MPI_Comm base, int owns_world, int threaded, const char *algorithm, bb_comm **out)
{
    *out = NULL;
    bb_comm *c = calloc(1, sizeof *c);
    bb_mpi *m = calloc(1, sizeof *m);
    if (!c || !m) { free(c); free(m); return bb_fail(BB_ERR_NOMEM, "comm: out of memory"); }
    c->impl = m;
    m->comm = m->wd = MPI_COMM_NULL;
    m->owns_world = owns_world;
    c->backend = "mpi";
    c->allreduce = mpi_allreduce;
    c->allreduce_f64 = mpi_allreduce_f64;
    c->bcast = mpi_bcast;
    c->barrier = mpi_barrier;
    c->destroy = mpi_destroy;
    c->split = mpi_split;
    c->abort = mpi_abort;
    c->watchdog = 60;
    c->spin = 5e-5;
    c->threaded = threaded;
    bb_status s = bb_comm_set_algorithm(c, algorithm);
    MPI_Comm local = MPI_COMM_NULL;
    if (s == BB_OK) s = bb_mpi_check(c, MPI_Comm_dup(base, &m->comm), "MPI_Comm_dup");
    if (s == BB_OK) s = bb_mpi_check(c, MPI_Comm_dup(base, &m->wd), "MPI_Comm_dup");
    if (s == BB_OK) s = bb_mpi_check(c, MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    if (s == BB_OK) s = bb_mpi_check(c, MPI_Comm_set_errhandler(m->wd, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    if (s == BB_OK) s = bb_mpi_check(c, MPI_Comm_rank(m->comm, &c->rank), "MPI_Comm_rank");
    if (s == BB_OK) s = bb_mpi_check(c, MPI_Comm_size(m->comm, &c->size), "MPI_Comm_size");
    if (s == BB_OK) s = bb_mpi_check(c, MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &local),
                                     "MPI_Comm_split_type");
    if (s == BB_OK) s = bb_mpi_check(c, MPI_Comm_size(local, &c->local_size), "MPI_Comm_size");
    if (local != MPI_COMM_NULL) MPI_Comm_free(&local);
    if (s == BB_OK) {
        m->heard = malloc((size_t)c->size * sizeof *m->heard);
        if (!m->heard) s = bb_fail(BB_ERR_NOMEM, "comm: out of memory");
        for (int p = 0; m->heard && p < c->size; p++) m->heard[p] = -1;
    }
    if (s != BB_OK) {
        c->failed = 0;
        m->owns_world = 0;
        mpi_destroy(c);
        return s;
    }
    c->lead = c->rank == 0;
    *out = c;
    return BB_OK;
}

static bb_status mpi_split(bb_comm *c, int color, bb_comm **out)
{
    *out = NULL;
    if (c->failed) return bb_fail(BB_ERR_COMM, "%s", impl(c)->errmsg);
    MPI_Comm sub = MPI_COMM_NULL;
    BB_TRY(bb_mpi_check(c, MPI_Comm_split(impl(c)->comm, color < 0 ? MPI_UNDEFINED : color, c->rank, &sub), "MPI_Comm_split"));
    if (sub == MPI_COMM_NULL) return BB_OK;
    bb_status s = make_comm(sub, 0, c->threaded, c->algorithm, out);
    MPI_Comm_free(&sub);
    if (s == BB_OK) {
        (*out)->watchdog = c->watchdog;
        (*out)->spin = c->spin;
    }
    return s;
}

bb_status bb_comm_mpi(bb_comm **out, const char *algorithm)
{
    *out = NULL;
    int init = 0, provided = MPI_THREAD_SINGLE;
    MPI_Initialized(&init);
    if (!init) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
            return bb_fail(BB_ERR_COMM, "MPI_Init_thread failed");
    } else {
        MPI_Query_thread(&provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return make_comm(MPI_COMM_WORLD, !init, provided >= MPI_THREAD_SERIALIZED, algorithm, out);
}
