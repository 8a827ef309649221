"""Passes checked against each other: synthetic bimodal passes on a fake clock, through the one sweep loop."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import harness.jobs
import kernels
from harness.cases import Case
from harness.executor import InProcessExecutor
from harness.layers import Layer
from harness.passes import combine_passes, consistent_passes, fastest_group, point_done
from harness.results import MemoryWriter
from harness.rows import PointResult
from harness.sweeploop import run_sweep
from harness.timing import TimingConfig
from harness.trust import with_trust
from tests.fakes import FakeClock

CASE = Case(name="tiny", layer=Layer("tiny", N=1, C=3, H=6, W=6, F=4, k=3, stride=1, padding=1), threads=1)
CONFIG = TimingConfig(budget_s=0.06, warmup_s=0.0, settle_s=0.05)


def a_pass(median_s: float, rounds: int = 9, spread: float = 0.002) -> PointResult:
    """An ok pass whose rounds sit within +/-``spread`` of ``median_s``."""
    times = tuple(median_s * (1 + spread * (i - rounds // 2) / rounds) for i in range(rounds))
    row = dict(status="ok", flops=1000, bytes=100, calls_per_round=3, warmup_s=0.0, steady=True, reason="",
               backend="b", case="c")
    return PointResult(row, times)


def test_a_pass_19x_slower_than_the_others_is_left_out_and_named():
    passes = [a_pass(7.6e-3), a_pass(0.40e-3), a_pass(0.40e-3 * 1.01)]
    assert consistent_passes(passes) == [1, 2]
    assert not point_done(passes, repeats=3)  # two consistent passes of three: measure again
    point = combine_passes(passes, CONFIG, repeats=3)
    assert point.row["passes"] == 2 and point.row["passes_disagree"].startswith("pass 0 ran 18.9x slower")
    assert "x slower than passes 1, 2" in point.row["passes_disagree"]
    assert point.row["time_s"] == pytest.approx(0.4e-3, rel=0.02) and len(point.samples_s) == 18
    assert "passes-disagree" in with_trust(point.row, 1.0)["flags"].split(";")


def test_a_re_measured_pass_that_agrees_outvotes_the_odd_one():
    passes = [a_pass(7.6e-3), a_pass(0.40e-3), a_pass(0.40e-3), a_pass(0.402e-3)]
    assert point_done(passes, repeats=3)
    point = combine_passes(passes, CONFIG, repeats=3)
    assert point.row["passes"] == 3 and point.row["passes_disagree"] == ""
    assert point.row["reason"].startswith("re-measured: pass 0 ran 19.") and "left out" in point.row["reason"]
    assert "passes-disagree" not in with_trust(point.row, 1.0)["flags"]


def test_passes_within_their_spread_agree_and_a_tie_keeps_the_faster_group():
    assert consistent_passes([a_pass(1e-3), a_pass(1.1e-3), a_pass(0.97e-3)]) == [0, 1, 2]  # within 15%
    assert consistent_passes([a_pass(1e-3), a_pass(5e-3)]) == [0]
    wide = [a_pass(1e-3, spread=0.6), a_pass(1.3e-3, spread=0.6)]  # noisy passes: their CIs allow 30%
    assert consistent_passes(wide) == [0, 1]
    assert point_done([a_pass(1e-3), a_pass(5e-3), a_pass(9e-3), a_pass(2e-3), a_pass(7e-3)], repeats=3)  # 2 extra


class Bimodal(kernels.Backend):
    """numpy's convolution on a fake clock: each prepare takes the next per-call time of ``SCHEDULE``."""

    name = "test-bimodal"
    clock: FakeClock = FakeClock()
    schedule = iter(())

    def prepare(self, x, w, spec):
        inner, clock, per_call_s = kernels.get_backend("numpy").prepare(x, w, spec), self.clock, next(self.schedule)

        class Timed(kernels.Prepared):
            def __call__(self):
                inner()
                clock.advance(per_call_s)

            def result(self):
                return inner.result()

        return Timed()


@pytest.fixture
def bimodal(monkeypatch):
    # a kernel on a fake clock: the real cores' speed (harness.probe) says nothing of it
    monkeypatch.setattr(harness.jobs, "pass_probe", lambda job: None)
    kernels.register(Bimodal)
    yield kernels.get_backend("test-bimodal")
    kernels.unregister("test-bimodal")


def sweep(backend, schedule) -> tuple[dict, tuple]:
    backend.schedule = iter(schedule)
    writer = MemoryWriter()
    executor = InProcessExecutor(backend.clock)
    executor.start(["test-bimodal"])
    run_sweep([CASE], ["test-bimodal"], CONFIG, writer, run_id="r", repeats=3, executor=executor)
    [row], [samples] = writer.rows, writer.samples
    return row, samples


def test_a_sweep_re_measures_a_point_whose_first_pass_was_slowed(bimodal):
    row, samples = sweep(bimodal, [7.6e-3, 0.4e-3, 0.4e-3, 0.4e-3])  # one interfered pass, then a quiet machine
    assert row["passes"] == 3 and row["passes_disagree"] == "" and row["trusted"], row["flags"]
    assert row["time_s"] == pytest.approx(0.4e-3) and "re-measured: pass 0 ran 19.0x slower" in row["reason"]
    assert bimodal.schedule.__length_hint__() == 0  # exactly one extra pass


def test_a_point_whose_passes_keep_disagreeing_is_flagged_after_two_extra_passes(bimodal):
    row, _ = sweep(bimodal, itertools.cycle([7.6e-3, 0.4e-3]))  # a machine that flips between two speeds
    # 3 slow of 5 are the larger group, but the 2 fast ones show what the kernel does when nothing interferes
    assert row["passes"] == 2 and row["time_s"] == pytest.approx(0.4e-3)
    assert row["passes_disagree"] == ("pass 0 ran 19.0x slower; pass 2 ran 19.0x slower; pass 4 ran 19.0x slower "
                                      "than passes 1, 3")
    assert "summarised by the fastest" in row["reason"]
    assert not row["trusted"] and "passes-disagree" in row["flags"]


def test_a_stalled_majority_does_not_summarise_an_unsettled_point():
    """Seen on a shared VM: a 2 us kernel ran at 2 us in two passes and at ~11 ms (every round stalled) in three;
    pooled by the majority, an A/A comparison called it 4700x slower."""
    passes = [a_pass(2.4e-6), a_pass(2.3e-6), a_pass(11e-3), a_pass(11.3e-3), a_pass(10.9e-3)]
    assert consistent_passes(passes) == [2, 3, 4] and fastest_group(passes) == [0, 1]
    assert point_done(passes, repeats=3)  # two extra passes spent: final
    point = combine_passes(passes, CONFIG, repeats=3)
    assert point.row["time_s"] == pytest.approx(2.35e-6, rel=0.05) and point.row["passes"] == 2
    assert point.row["passes_disagree"].startswith("pass 2 ran")


def test_a_busy_machine_is_said_before_the_sweep_with_what_holds_up_better():
    from harness.settle import busy_machine

    assert busy_machine(2, load=0.3) is None
    text = busy_machine(2, load=64.0)
    assert text.startswith("load average 64.00 reaches this machine's") and "passes may disagree" in text
    assert "--threads 1" in text and "--clock process" in text
    assert "--threads 1" not in busy_machine(1, load=64.0) and "--clock" not in busy_machine(1, "process", load=64.0)


def test_the_process_clock_times_cpu_points_by_cpu_time_per_thread(results_dir, monkeypatch):
    import json

    import harness.jobs as jobs
    from tests.conftest import run_cli

    made = []
    real = jobs.process_clock
    monkeypatch.setattr(jobs, "process_clock", lambda threads: made.append(threads) or real(threads))
    layer = Path(__file__).parent / "data" / "one_layer.toml"
    proc = run_cli("sweep", "--layers", layer, "--backends", "numpy", "--clock", "process",
                   "--threads", "1", "--budget-s", "0.05", "--repeats", "1", "--settle-s", "0", "--in-process",
                   "--quiet", "--no-plots", "--no-report", "--results-dir", results_dir, "--run-id", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert made == [1] and json.loads((results_dir / "cpu.json").read_text())["settings"]["clock"] == "process"
    monkeypatch.setattr(jobs.time, "process_time", lambda: 10.0)  # CPU seconds of every thread of the process
    assert real(4)() == 2.5


def test_with_fresh_workers_each_round_of_passes_runs_in_new_processes(tmp_path):
    # what a process decides once (oneDNN's algorithm, where buffers landed) varies between a point's passes as it
    # varies between runs only when each pass has a process of its own: --fresh-workers (WorkerExecutor.renew).
    # Each sweep in a process of its own: workers fork from a forkserver that keeps its first environment.
    import os
    import subprocess
    import sys

    layers = tmp_path / "one.toml"
    layers.write_text('[[layer]]\nlabel = "tiny"\nN = 1\nC = 3\nH = 6\nW = 6\nF = 4\nk = 3\n')
    timed, data = {}, Path(__file__).parent / "data"
    for run_id, extra in (("fresh", ["--fresh-workers"]), ("kept", [])):
        pids = tmp_path / f"{run_id}.txt"
        command = [sys.executable, "-m", "harness", "sweep", "--plugin", str(data / "pid_plugin.py"), "--backends",
                   "test-pid", "--layers", str(layers), "--repeats", "3", "--budget-s", "0.1", "--settle-s", "0",
                   "--results-dir", str(tmp_path / "r"), "--run-id", run_id, "--no-plots", "--no-report", "--quiet"]
        done = subprocess.run(command + extra, env=dict(os.environ, CONVBENCH_TEST_PID_FILE=str(pids)),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        timed[run_id] = pids.read_text().split()[-3:]  # the three passes' prepares (a check may come first)
    assert len(set(timed["fresh"])) == 3 and len(set(timed["kept"])) == 1, timed
