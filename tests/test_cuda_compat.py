"""``kernels.numba_cuda.compat``: numba.cuda imports even where NumPy dropped ``np.row_stack`` (NumPy >= 2.5)."""
from __future__ import annotations

import numpy as np

from kernels.numba_cuda.compat import import_cuda


def test_import_cuda_restores_row_stack(monkeypatch):
    monkeypatch.delattr(np, "row_stack", raising=False)
    cuda = import_cuda()
    assert np.row_stack is np.vstack
    assert hasattr(cuda, "jit")


def test_import_cuda_keeps_an_existing_row_stack(monkeypatch):
    sentinel = object()
    monkeypatch.setattr(np, "row_stack", sentinel, raising=False)
    import_cuda()
    assert np.row_stack is sentinel


def test_quick_thread_switching_lowers_the_interval_and_restores_it_even_on_error():
    import sys

    import pytest

    from kernels.numba_cuda.compat import quick_thread_switching

    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError):
        with quick_thread_switching(1e-5):
            assert sys.getswitchinterval() == pytest.approx(1e-5)
            raise RuntimeError("kernel failed")
    assert sys.getswitchinterval() == before
    with pytest.raises(ValueError, match="positive"):
        with quick_thread_switching(0):
            pass


def test_threads_of_a_simulated_block_share_one_static_shared_array(monkeypatch):
    """The simulator's lookup-then-create must be atomic: a slow allocation opens the race window wide."""
    import threading
    import time

    import pytest

    cuda = import_cuda()
    if not cuda.config.ENABLE_CUDASIM:
        pytest.skip("the CUDA simulator is not enabled")
    from numba.cuda.simulator import kernelapi

    real_empty = np.empty

    def slow_empty(*args, **kwargs):
        time.sleep(0.002)
        return real_empty(*args, **kwargs)

    monkeypatch.setattr(np, "empty", slow_empty)
    shared = kernelapi.FakeCUDAShared(0)
    start, got = threading.Barrier(8), []

    def thread():
        start.wait()
        got.append((shared.array((4, 4), np.float32),
                    shared.array((2,), np.float64)))  # a second declaration line: its own array

    threads = [threading.Thread(target=thread) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len({id(a) for a, _ in got}) == 1 and len({id(b) for _, b in got}) == 1
    first, second = got[0]
    assert first.shape == (4, 4) and second.shape == (2,) and second.dtype == np.float64
