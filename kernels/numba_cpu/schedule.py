"""How the threads of ``numba-cpu``'s kernels share out the tasks: guided chunks, claimed through
atomic counters, optionally in one region per thread (cache affinity).

:func:`task_chunks` makes, at ``prepare()`` time, one int64 array the kernel both reads and writes:

* ``[0]`` the number of workers W (the kernel's ``prange``), ``[1]`` the number of regions R;
* ``[2 : 2+R]`` one counter per region: the next chunk of that region to be claimed;
* ``[2+R : 3+2R]`` the first chunk of each region (R+1 values, the last one the chunk count);
* ``[3+2R :]`` the task bounds of the chunks.

Worker w claims the chunks of region ``w * R // W`` first, in order, then those left in the other
regions (so a preempted or slower thread's work is taken over, one chunk at a time). With one region
this is plain dynamic scheduling: the chunk a worker gets depends on timing. With one region per
worker, each worker does the same tasks call after call, unless it falls behind: the data its
tasks read (a range of images, or a group of filters' weights) stays in its core's own L2 from one
call to the next. :data:`kernels.numba_cpu.isa.AFFINE_REGIONS` says which the CPU gets.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .isa import AFFINE_REGIONS
from .simd import atomic_add


def task_chunks(tasks: int, threads: int, affine: bool | None = None) -> np.ndarray:
    """The int64 schedule array (module docstring) for ``tasks`` tasks on ``threads`` workers.

    Each region (one, or one per worker when ``affine``, default :data:`AFFINE_REGIONS`) holds an
    equal share of the tasks, cut into guided chunks: a quarter of what is left of the region over
    the threads (at least one task), so the last chunks are single tasks. Correct for any thread
    count; balanced for ``threads``."""
    threads = max(threads, 1)
    affine = AFFINE_REGIONS if affine is None else affine
    regions = min(threads, max(tasks, 1)) if affine else 1
    bounds, starts = [0], []
    for r in range(regions):
        end = tasks * (r + 1) // regions
        starts.append(len(bounds) - 1)
        while bounds[-1] < end:
            bounds.append(bounds[-1] + max(1, (end - bounds[-1]) // (4 * threads)))
    starts.append(len(bounds) - 1)
    return np.array([threads, regions] + starts[:-1] + starts + bounds, dtype=np.int64)


@njit(boundscheck=False, inline="always")
def reset_chunks(chunks):  # pragma: no cover - compiled
    """Set every region's counter to its first chunk (at the start of each call, before the workers)."""
    R = chunks[1]
    for r in range(R):
        chunks[2 + r] = chunks[2 + R + r]


@njit(boundscheck=False, inline="always")
def claim_chunk(chunks, r):  # pragma: no cover - compiled
    """The next chunk of region r for the calling worker (an index into the bounds), or -1 if none is left."""
    R = chunks[1]
    end = chunks[3 + R + r]
    if chunks[2 + r] >= end:  # a plain read first: a worker with nothing left does no atomic add
        return -1
    c = atomic_add(chunks, 2 + r, 1)
    return c if c < end else -1


@njit(boundscheck=False, inline="always")
def chunk_tasks(chunks, c, tasks):  # pragma: no cover - compiled
    """(first, end) task of chunk c, the end capped at ``tasks``."""
    base = 3 + 2 * chunks[1]
    return chunks[base + c], min(chunks[base + c + 1], tasks)


@njit(boundscheck=False, inline="always")
def worker_region(chunks, w, k):  # pragma: no cover - compiled
    """The region worker w claims from k-th (k = 0, 1, ..., regions - 1): its own first."""
    R = chunks[1]
    return (w * R // chunks[0] + k) % R


@njit(boundscheck=False, inline="always")
def next_chunk(chunks, w, k):  # pragma: no cover - compiled
    """(chunk, k) for worker w: the next chunk it claims, searching its regions in :func:`worker_region` order
    from the k-th (its own first), and the k to pass back next time; chunk -1 once every region is empty.
    A kernel's worker loop: ``c, k = next_chunk(chunks, w, 0)``, then ``while c >= 0:`` run the tasks of
    :func:`chunk_tasks` and ``c, k = next_chunk(chunks, w, k)``."""
    R = chunks[1]
    while k < R:
        c = claim_chunk(chunks, worker_region(chunks, w, k))
        if c >= 0:
            return c, k
        k += 1
    return -1, k
