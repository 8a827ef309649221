"""measure_point: every status a point can end in, with the clock faked where time matters."""
from __future__ import annotations

import numpy as np
import pytest

import kernels
from harness.cases import Case
from harness.layers import Layer
from harness.measure import SpeedEstimator, measure_point
from harness.timing import TimingConfig
from tests.fakes import AbsentBackend, BadShapeBackend, FakeClock, RaisingBackend, ZerosBackend, steady_backend

CASE = Case(name="tiny", layer=Layer("tiny", N=1, C=3, H=6, W=6, F=4, k=3, stride=1, padding="same", dtype="float32"), threads=1)
CONFIG = TimingConfig(budget_s=0.05, warmup_s=0.0)


@pytest.fixture
def fake_backends():
    classes = [ZerosBackend, BadShapeBackend, RaisingBackend, AbsentBackend]
    for cls in classes:
        kernels.register(cls)
    yield
    for cls in classes:
        kernels.unregister(cls.name)


def test_ok_row_has_consistent_derived_columns():
    result = measure_point("numpy", CASE, None, CONFIG, run_id="r")
    row = result.row
    assert row["status"] == "ok", row["reason"]
    assert row["padding"] == 1 and (row["Ho"], row["Wo"]) == (6, 6)
    assert row["gflops"] == pytest.approx(row["flops"] / row["time_s"] / 1e9)
    assert row["gbytes_per_s"] == pytest.approx(row["bytes"] / row["time_s"] / 1e9)
    assert row["rounds"] == len(result.samples_s) >= 5
    assert row["first_call_s"] >= row["prepare_s"] >= 0
    assert row["max_abs_err"] <= row["tolerance"]


def test_wrong_answer_is_recorded_and_not_timed(fake_backends):
    result = measure_point("test-zeros", CASE, None, CONFIG)
    assert result.status == "wrong"
    assert "max abs error" in result.row["reason"]
    assert result.samples_s == () and "time_s" not in result.row


def test_wrong_shape_is_named(fake_backends):
    result = measure_point("test-bad-shape", CASE, None, CONFIG)
    assert result.status == "wrong"
    assert "output shape (1, 1, 1, 1) != (1, 4, 6, 6)" in result.row["reason"]


def test_exception_becomes_a_failed_row_naming_the_stage(fake_backends):
    result = measure_point("test-raising", CASE, None, CONFIG)
    assert result.status == "failed"
    assert result.row["reason"] == "prepare: RuntimeError: boom in prepare"


def test_unavailable_backend_keeps_its_reason(fake_backends):
    result = measure_point("test-absent", CASE, None, CONFIG)
    assert (result.status, result.row["reason"]) == ("unavailable", "the test says so")


def test_impossible_case_is_a_failed_row():
    bad = Case(name="bad", layer=Layer("bad", N=1, C=3, H=2, W=2, F=4, k=5, stride=1, padding=0, dtype="float32"), threads=1)
    result = measure_point("numpy", bad, None, CONFIG)
    assert result.status == "failed"
    assert "larger than the padded input" in result.row["reason"]


def test_slow_backend_is_skipped_with_its_estimate():
    clock = FakeClock()
    estimator = SpeedEstimator(clock)
    estimator.rates["naive"] = 1e6  # calibrated: 1 MFLOP/s
    big = Case(name="big", layer=Layer("big", N=1, C=16, H=16, W=16, F=16, k=3, stride=1, padding=1, dtype="float32"), threads=1)
    result = measure_point("naive", big, None, TimingConfig(budget_s=1.0), clock=clock, estimator=estimator)
    assert result.status == "skipped"
    assert result.row["reason"] == "estimated 1.2 s per call x 7 calls exceeds the point's 1 s budget (--budget-s)"
    # one pass of three: the reason speaks of the whole point's budget, as --help does, never of the pass's share
    small = Case(name="s", layer=Layer("s", N=1, C=8, H=8, W=8, F=8, k=3, stride=1, padding=1, dtype="float32"),
                 threads=1)
    result = measure_point("naive", small, None, TimingConfig(budget_s=1.0 / 3), clock=clock, estimator=estimator,
                           point_budget_s=1.0, passes=3)
    assert result.row["reason"] == ("estimated 0.074 s per call x 7 calls x 3 passes exceeds the point's 1 s budget "
                                    "(--budget-s)")


def test_simulated_gpu_is_checked_but_not_timed():
    impl = kernels.get_backend("numba-cuda")
    if impl.timing_unsupported_reason() is None:
        pytest.skip("a real GPU is present")
    result = measure_point("numba-cuda", CASE, None, TimingConfig(budget_s=60))
    assert result.status == "skipped" and "simulator" in result.row["reason"]
    assert result.row["max_abs_err"] <= result.row["tolerance"]


def test_check_mode_does_not_time():
    result = measure_point("numpy", CASE, None, CONFIG, timed=False)
    assert result.status == "ok" and result.samples_s == () and "time_s" not in result.row


def test_repeated_passes_pool_samples_and_stop_early_for_points_not_ok(fake_backends):
    from harness.results import MemoryWriter
    from harness.sweeploop import run_sweep

    clock = FakeClock()
    kernels.register(steady_backend(clock))
    try:
        writer, steps = MemoryWriter(), []
        stats = run_sweep([CASE], ["test-steady", "test-raising"], TimingConfig(budget_s=0.06, warmup_s=0.0),
                          writer, run_id="r", repeats=3, on_step=steps.append, clock=clock)
    finally:
        kernels.unregister("test-steady")
    rows = {row["backend"]: (row, samples) for row, samples in zip(writer.rows, writer.samples)}
    assert len(writer.rows) == 2 and stats.by_status == {"ok": 1, "failed": 1}
    ok_row, ok_samples = rows["test-steady"]
    assert ok_row["passes"] == 3 and ok_row["rounds"] == len(ok_samples) >= 15
    assert ok_row["time_s"] == pytest.approx(float(np.median(ok_samples)))
    assert rows["test-raising"][0]["status"] == "failed" and rows["test-raising"][1] == ()
    assert sum(steps) == 2 * 3  # progress covers every pass, including the ones a failed point skips
    assert [r["point"] for r in writer.rows] == [1, 0]  # failed first (pass 1), but each knows its place


def test_cold_rounds_on_the_cpu_flush_and_time_one_call_each(monkeypatch):
    import harness.measure as measure

    flushes = []
    monkeypatch.setattr(measure, "host_flusher", lambda: lambda: flushes.append(1))
    result = measure_point("numpy", CASE, None, TimingConfig(budget_s=0.05, warmup_s=0.0, cold=True))
    assert result.status == "ok" and result.row["calls_per_round"] == 1
    assert len(flushes) >= result.row["rounds"]


@pytest.mark.parametrize("poison, says", [(np.nan, "output holds 2 NaN and 0 infinite value(s) of 24"),
                                          (np.inf, "output holds 0 NaN and 2 infinite value(s) of 24")])
def test_a_nan_or_inf_in_the_output_is_named_as_such(poison, says):
    """Was 'max abs error inf > tolerance ...' for both."""
    from harness.measure import check_output

    reference = np.ones((1, 2, 3, 4))
    out = reference.astype(np.float32)
    out[0, 1, 2, 2:] = poison
    columns, wrong = check_output(out, reference, 1e-4)
    assert wrong.startswith(says) and columns["error_margin"] > 1
    assert check_output(reference.astype(np.float32), reference, 1e-4)[1] is None


class StretchedClocks:
    """A wall clock that runs ``stretch`` times faster than the process's CPU time: others hold the cores."""

    def __init__(self, stretch: float, cpu_per_call_s: float):
        self.wall, self.cpu, self.stretch, self.per_call = 0.0, 0.0, stretch, cpu_per_call_s

    def call(self) -> None:
        """One calibration call: ``cpu_per_call_s`` of work, stretched on the wall clock."""
        self.cpu += self.per_call
        self.wall += self.per_call * self.stretch


def test_the_calibration_counts_the_work_not_the_time_others_held_the_cores(monkeypatch):
    """Beside busy processes the wall clock stretches a one-thread calibration; its CPU time does not (CI on the Zen 1
    VM: naive calibrated slowly enough that a ~1 ms smoke point was estimated over its budget and skipped)."""
    import harness.measure as measure

    impl = kernels.get_backend("naive")
    clocks = StretchedClocks(stretch=30.0, cpu_per_call_s=0.001)

    class Prepared:
        def __call__(self):
            clocks.call()

        def sync(self):
            pass

    monkeypatch.setattr(impl, "prepare", lambda x, w, spec: Prepared())
    spec = kernels.ConvSpec(dtype="float32", **measure.CALIBRATION_SHAPE)
    loaded = SpeedEstimator(clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu)
    assert loaded.estimate_call_s(impl, spec) == pytest.approx(0.001)
    wall_only = SpeedEstimator(clock=lambda: clocks.wall)  # an injected clock alone: it is both
    assert wall_only.estimate_call_s(impl, spec) == pytest.approx(0.03)
    frozen = SpeedEstimator(clock=lambda: clocks.wall, cpu_clock=lambda: 0.0)  # a CPU clock too coarse to move
    assert frozen.estimate_call_s(impl, spec) == pytest.approx(0.03)
    spinning = SpeedEstimator(clock=lambda: clocks.cpu, cpu_clock=lambda: 2 * clocks.cpu)  # threads left spinning
    assert spinning.estimate_call_s(impl, spec) == pytest.approx(0.001)


def test_the_default_estimator_pairs_the_wall_clock_with_cpu_time():
    import time

    assert SpeedEstimator().cpu_clock is time.process_time
