/* The paper's two allreduce algorithms on MPI point-to-point messages (cost
 * model of Thakur, Rabenseifner and Gropp; docs/DISTRIBUTED.md, "Allreduce algorithms").
 * Both send 2(P-1)/P of the vector per rank on a power of two; they differ in
 * the number of steps: ring 2(P-1), halving-doubling 2 log2(P). Every rank
 * ends with bit-identical values (reduced chunks are copied, never re-added).
 * The sum of one element is associated in a fixed way that does not depend on
 * the length: for hd it is the binary tree over ranks ((x0+x1)+(x2+x3))...,
 * for ring it depends on which of the P chunks the element falls in. */
#include "comm/mpi_internal.h"

#include "util/pool.h"

static void add(float *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* One exchange: receive rn floats from `from` into rbuf while sending sn
 * floats of sbuf to `to`; empty messages are skipped on both sides (both
 * compute the same sizes). */
static bb_status exchange(bb_comm *c, int to, const float *sbuf, int64_t sn, int from, float *rbuf, int64_t rn)
{
    bb_mpi *m = c->impl;
    MPI_Request r[2];
    int nr = 0;
    if (rn > 0) BB_TRY(bb_mpi_check(c, MPI_Irecv(rbuf, (int)rn, MPI_FLOAT, from, 0, m->comm, &r[nr++]), "MPI_Irecv"));
    if (sn > 0) BB_TRY(bb_mpi_check(c, MPI_Isend(sbuf, (int)sn, MPI_FLOAT, to, 0, m->comm, &r[nr++]), "MPI_Isend"));
    return nr ? bb_mpi_wait(c, r, nr) : BB_OK;
}

static void chunk(int64_t len, int parts, int i, int64_t *off, int64_t *n)
{
    long long lo, hi;
    bb_split_range(len, parts, i, &lo, &hi);
    *off = lo;
    *n = hi - lo;
}

/* Step s of the reduce-scatter: rank r sends chunk r-s to its right, adds
 * chunk r-s-1 from its left; after P-1 steps it holds chunk r+1 complete. The
 * allgather then passes complete chunks around the ring. */
bb_status bb_mpi_allreduce_ring(bb_comm *c, float *buf, int64_t len)
{
    int P = c->size, r = c->rank;
    if (P == 1 || len == 0) return BB_OK;
    int right = (r + 1) % P, left = (r + P - 1) % P;
    float *tmp;
    BB_TRY(bb_mpi_scratch(c, (len + P - 1) / P, &tmp));
    for (int s = 0; s < P - 1; s++) {
        int si = (r - s + P) % P, ri = (r - s - 1 + 2 * P) % P;
        int64_t so, sn, ro, rn;
        chunk(len, P, si, &so, &sn);
        chunk(len, P, ri, &ro, &rn);
        BB_TRY(exchange(c, right, buf + so, sn, left, tmp, rn));
        add(buf + ro, tmp, rn);
    }
    for (int s = 0; s < P - 1; s++) {
        int si = (r + 1 - s + P) % P, ri = (r - s + P) % P;
        int64_t so, sn, ro, rn;
        chunk(len, P, si, &so, &sn);
        chunk(len, P, ri, &ro, &rn);
        BB_TRY(exchange(c, right, buf + so, sn, left, buf + ro, rn));
    }
    return BB_OK;
}

/* the rank that plays new rank q among the P' participants */
static int hd_rank(int q, int rem) { return q < rem ? 2 * q + 1 : q + rem; }

bb_status bb_mpi_allreduce_hd(bb_comm *c, float *buf, int64_t len)
{
    int P = c->size, r = c->rank;
    if (P == 1 || len == 0) return BB_OK;
    int p2 = 1;
    while (p2 * 2 <= P) p2 *= 2;
    int rem = P - p2;
    float *tmp;
    BB_TRY(bb_mpi_scratch(c, rem ? len : (len + 1) / 2, &tmp));
    /* fold: among the first 2 rem ranks, each even rank hands its vector to
     * the odd one after it and sits out */
    int q = -1;
    if (r < 2 * rem) {
        if (r % 2 == 0) {
            BB_TRY(exchange(c, r + 1, buf, len, -1, NULL, 0));
        } else {
            BB_TRY(exchange(c, -1, NULL, 0, r - 1, tmp, len));
            add(buf, tmp, len);
            q = r / 2;
        }
    } else {
        q = r - rem;
    }
    if (q >= 0) {
        int64_t los[32], his[32];
        int64_t lo = 0, hi = len;
        int steps = 0;
        /* reduce-scatter: at distance `mask` keep one half of the current range
         * (the lower one when bit `mask` of q is 0) and add the partner's copy */
        for (int mask = 1; mask < p2; mask <<= 1, steps++) {
            int partner = hd_rank(q ^ mask, rem);
            int64_t mid = lo + (hi - lo) / 2;
            los[steps] = lo;
            his[steps] = hi;
            int64_t klo = q & mask ? mid : lo, khi = q & mask ? hi : mid;
            int64_t slo = q & mask ? lo : mid, shi = q & mask ? mid : hi;
            BB_TRY(exchange(c, partner, buf + slo, shi - slo, partner, tmp, khi - klo));
            add(buf + klo, tmp, khi - klo);
            lo = klo;
            hi = khi;
        }
        /* allgather: the same pairs in reverse order swap their complete halves */
        for (int s = steps - 1; s >= 0; s--) {
            int mask = 1 << s;
            int partner = hd_rank(q ^ mask, rem);
            int64_t plo = los[s], phi = his[s], mid = plo + (phi - plo) / 2;
            int64_t olo = q & mask ? plo : mid, ohi = q & mask ? mid : phi;
            BB_TRY(exchange(c, partner, buf + lo, hi - lo, partner, buf + olo, ohi - olo));
            lo = plo;
            hi = phi;
        }
    }
    /* unfold: the odd ranks hand the result back */
    if (r < 2 * rem) {
        if (r % 2 == 1) BB_TRY(exchange(c, r - 1, buf, len, -1, NULL, 0));
        else BB_TRY(exchange(c, -1, NULL, 0, r + 1, buf, len));
    }
    return BB_OK;
}
