"""Test doubles: a fake clock, a kernel that advances it, and misbehaving backends."""
from __future__ import annotations

import itertools

import numpy as np

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
