"""Sums as numpy takes them, so that a kernel's totals are numpy's floats bit for bit."""

from __future__ import annotations

from vitsim.simulator.kernels.jit import jit

PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: below it, eight running sums
UNROLL = 8  # numpy's unroll factor of the blocked sum


@jit
def pairwise_sum(a):
    """``a.sum()`` of a float64 vector (any stride) as numpy computes it, bit for bit.

    numpy's ``add.reduce`` over a contiguous run (``loops_utils.h.src``, ``pairwise_sum``):
    under 8 elements a plain running sum from 0; up to 128, eight interleaved running sums
    combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))`` and the remainder
    added in order; above, the two halves (the first a multiple of 8 long) summed the same
    way and added.
    """
    n = a.shape[0]
    if n < UNROLL:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= PAIRWISE_BLOCK:
        r0, r1, r2, r3 = a[0], a[1], a[2], a[3]
        r4, r5, r6, r7 = a[4], a[5], a[6], a[7]
        i = UNROLL
        stop = n - n % UNROLL
        while i < stop:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += UNROLL
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[i]
            i += 1
        return res
    half = n // 2
    half -= half % UNROLL
    return pairwise_sum(a[:half]) + pairwise_sum(a[half:])
