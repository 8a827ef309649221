"""``kernels.cuda_compat``: numba.cuda imports even where NumPy dropped ``np.row_stack`` (NumPy >= 2.5)."""
from __future__ import annotations

import numpy as np

from kernels.cuda_compat import import_cuda


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

    from kernels.cuda_compat import quick_thread_switching

    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError):
        with quick_thread_switching(1e-5):
            assert sys.getswitchinterval() == pytest.approx(1e-5)
            raise RuntimeError("kernel failed")
    assert sys.getswitchinterval() == before
    with pytest.raises(ValueError, match="positive"):
        with quick_thread_switching(0):
            pass
