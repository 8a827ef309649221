"""One thread count for every library in a point: Numba, BLAS (threadpoolctl) and torch."""
from __future__ import annotations

import contextlib
import os
import sys


def default_threads() -> int:
    """Threads a sweep uses by default ("all cores"): NUMBA_NUM_THREADS if set, else the usable cores.

    Mirrors Numba's own default without importing numba (so ``--help`` stays fast).
    """
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def max_threads() -> int:
    """The most threads Numba may use here (NUMBA_NUM_THREADS, by default the core count)."""
    from numba import config

    return int(config.NUMBA_NUM_THREADS)


@contextlib.contextmanager
def thread_limits(threads: int):
    """Run the block with Numba, BLAS/OpenMP and torch all limited to ``threads`` threads."""
    import numba
    from threadpoolctl import threadpool_limits

    if not 1 <= threads <= max_threads():
        raise ValueError(f"threads must be between 1 and {max_threads()} on this machine, got {threads}")
    old_numba = numba.get_num_threads()
    torch = sys.modules.get("torch")
    old_torch = torch.get_num_threads() if torch is not None else None
    try:  # whatever was set is restored, even if a later limit fails
        numba.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            yield
    finally:
        numba.set_num_threads(old_numba)
        if torch is not None and old_torch is not None:
            torch.set_num_threads(old_torch)
