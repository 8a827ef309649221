"""Test doubles: a fake clock, a kernel that advances it, misbehaving backends, and synthetic run tables."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from harness.results import ALL_COLUMNS
from kernels import Backend, Prepared, reference_conv2d


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


class SteadyPrepared(Prepared):
    """The right answer, each call taking exactly ``call_s`` on the fake clock (so every pass agrees)."""

    def __init__(self, out, clock: FakeClock, call_s: float):
        self.out, self.clock, self.call_s = out, clock, call_s

    def __call__(self) -> None:
        self.clock.advance(self.call_s)

    def result(self):
        return self.out


def steady_backend(clock: FakeClock, call_s: float = 1e-4):
    """A backend registered as ``test-steady`` whose calls take ``call_s`` of ``clock``'s time."""

    class SteadyBackend(Backend):
        name = "test-steady"

        def prepare(self, x, w, spec):
            return SteadyPrepared(reference_conv2d(x, w, spec).astype(spec.dtype), clock, call_s)

    return SteadyBackend


#: A stored peak and run metadata for synthetic run tables (a BLAS-only peak, as runs before the physical roof).
FAKE_PEAK = {"gemm_gflops": {"float32": 50.0}, "copy_gbytes_per_s": 10.0, "threads": 2}


def fake_roof(threads: int = 2, **kw) -> dict:
    """A physical roof (schema 2, as ``harness.peak.measure_peak`` returns) of this machine at ``threads``:
    100 GFLOP/s float32 per core, 20 GB/s triad, an 8 MiB last-level cache, no problems."""
    from kernels.numba_cpu.isa import ISA, VECTOR_BYTES

    from harness.metadata import cpu_model
    from harness.peak import roof_versions

    roof = dict(schema=2, cpu_model=cpu_model(), isa=ISA, vector_bits=VECTOR_BYTES * 8, threads=threads,
                versions=roof_versions(), measured_at="2024-01-02T03:04:05+00:00", seconds=0.5, clock_ghz=3.0,
                clock_spread=0.01, os_clock_ghz=2.0, fma_gflops={"float32": 100.0 * threads, "float64": 50.0 * threads},
                fma_gflops_measured={"float32": 100.0 * threads, "float64": 50.0 * threads},
                fma_gflops_1t={"float32": 100.0, "float64": 50.0}, fma_scaling={"float32": 1.0, "float64": 1.0},
                fma_spread={"float32": 0.01, "float64": 0.01},
                fma_theoretical_gflops={"float32": 96.0 * threads, "float64": 48.0 * threads}, llc_bytes=8 * 2**20,
                bandwidth_gbytes_per_s={"read": 25.0, "copy": 22.0, "triad": 20.0},
                bandwidth_detail={"read": [25.0, 0.01], "copy": [22.0, 0.02], "triad": [20.0, 0.02]},
                gemm_gflops={"float32": 80.0 * threads, "float64": 40.0 * threads},
                gemm_spread={"float32": 0.02, "float64": 0.02}, problems=[])
    return dict(roof, **kw)
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
