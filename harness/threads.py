"""One thread count for every library in a point: Numba, BLAS (threadpoolctl) and torch."""
from __future__ import annotations

import contextlib
import sys


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
    numba.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        numba.set_num_threads(old_numba)
        if torch is not None and old_torch is not None:
            torch.set_num_threads(old_torch)
