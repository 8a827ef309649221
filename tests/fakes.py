"""Test doubles: a fake clock, a kernel that advances it, misbehaving backends, and synthetic run tables."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from harness.results import ALL_COLUMNS
from kernels import Backend, Prepared


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 100.0):
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.t += seconds


class FakeKernel:
    """A 'convolution' whose every call takes the next duration from ``durations_s`` (cycled)."""

    def __init__(self, clock: FakeClock, durations_s):
        self.clock = clock
        self.durations = itertools.cycle(durations_s)
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        self.clock.advance(next(self.durations))

    def sync(self) -> None:
        """Nothing queued on a fake device."""


class FakeEventTimer:
    """A device timer that reports a fixed elapsed time per round, whatever the host clock says."""

    def __init__(self, seconds_per_round: float):
        self.seconds = seconds_per_round
        self.started = 0

    def start(self) -> None:
        self.started += 1

    def stop(self) -> float:
        return self.seconds


class _ArrayPrepared(Prepared):
    def __init__(self, out):
        self.out = out

    def __call__(self) -> None:
        pass

    def result(self):
        return self.out


class ZerosBackend(Backend):
    """Returns zeros: a wrong answer of the right shape."""

    name = "test-zeros"

    def prepare(self, x, w, spec):
        return _ArrayPrepared(np.zeros(spec.out_shape, spec.dtype))


class BadShapeBackend(Backend):
    """Returns an output of the wrong shape."""

    name = "test-bad-shape"

    def prepare(self, x, w, spec):
        return _ArrayPrepared(np.zeros((1, 1, 1, 1), spec.dtype))


class RaisingBackend(Backend):
    """Raises in prepare."""

    name = "test-raising"

    def prepare(self, x, w, spec):
        raise RuntimeError("boom in prepare")


class AbsentBackend(Backend):
    """Never available."""

    name = "test-absent"

    def unavailable_reason(self):
        return "the test says so"

    def prepare(self, x, w, spec):  # pragma: no cover - never called
        raise AssertionError("prepare of an unavailable backend")


#: A stored peak and run metadata for synthetic run tables.
FAKE_PEAK = {"gemm_gflops": {"float32": 50.0}, "copy_gbytes_per_s": 10.0, "threads": 2}
FAKE_META = {"preset": "tiny $x$", "host": "h1", "cpu_model": "Test CPU", "peak": FAKE_PEAK}


def fake_row(backend, case, flops, gflops, status="ok", **extra):
    """A run-table row with every column; ``gflops=None`` for a row that was not timed."""
    row = {c: None for c in ALL_COLUMNS}
    row.update(run_id="t", backend=backend, device="cpu", case=case, layer=case, N=1, C=8, H=8, W=8, F=8, k=3,
               stride=1, padding=0, dtype="float32", threads=1, status=status, reason="", flops=flops,
               bytes=flops // 4, gflops=gflops, time_s=flops / gflops / 1e9 if gflops else None, rel_ci=0.02,
               flags="", trusted=status == "ok")
    row.update(extra)
    return row


def fake_table(rows) -> pd.DataFrame:
    """A run table of ``rows`` with every column, in table order."""
    return pd.DataFrame(rows, columns=ALL_COLUMNS)


def fake_run_table() -> pd.DataFrame:
    """Two backends on a 1x1, a 3x3 (failed on naive), a 3a 5x5 branch (direct, reduce, conv), and the 1x1
    again at 2 threads: enough for every figure kind."""
    rows = []
    for backend, speed in (("numpy", 1.0), ("naive", 2.0)):
        rows += [
            fake_row(backend, "1x1", 1_000_000, 3.0 * speed, k=1),
            fake_row(backend, "5x5 reduce", 400_000, 1.0 * speed, k=1, branch="3a 5x5", role="reduce"),
            fake_row(backend, "5x5", 600_000, 2.0 * speed, k=5, branch="3a 5x5", role="conv"),
            fake_row(backend, "5x5 direct", 10_000_000, 4.0 * speed, k=5, branch="3a 5x5", role="direct"),
            fake_row(backend, "1x1 @2", 1_000_000, 5.0 * speed, k=1, layer="1x1", threads=2),
        ]
    rows.insert(1, fake_row("numpy", "3x3", 4_000_000, 3.5, flags="noisy", trusted=False))
    rows.insert(7, fake_row("naive", "3x3", 4_000_000, None, status="failed", reason="boom [red]x[/red]"))
    return fake_table(rows)
