"""harness.drift with a fake clock: windows, their per-call medians, agreement and co-movement; and the CLI."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.cli import main
from harness.drift import SUMMARY_COLUMNS, TRACE_COLUMNS, drift_summary, speed_trace

from .fakes import FakeClock


class Machine:
    """A fake machine whose speed state changes after each round of windows (``speed_trace``'s progress call)."""

    def __init__(self):
        self.clock, self.window = FakeClock(), 0

    def next_window(self, done_s: float) -> None:
        """Called by speed_trace after each round of windows."""
        self.window += 1

    def workload(self, states, per_call_s: float):
        """A call that takes ``per_call_s`` x the current window's state of ``states``."""
        return lambda: self.clock.advance(per_call_s * states[min(self.window, len(states) - 1)])

    def trace(self, workloads, seconds):
        """speed_trace of ``workloads`` ({name: (states, per_call_s)}) on this machine, 0.5 s windows."""
        calls = {name: self.workload(states, t) for name, (states, t) in workloads.items()}
        return speed_trace(calls, seconds, window_s=0.5, clock=self.clock, wall=self.clock,
                           progress=self.next_window)


def test_each_window_records_the_median_call_of_each_workload_in_turn():
    states = [1.0, 1.3, 0.7, 1.0]
    trace = Machine().trace({"a": (states, 0.01), "b": (states, 0.02)}, seconds=3.9)
    assert list(trace.columns) == TRACE_COLUMNS
    assert trace["window"].max() == 3 and (trace.groupby("window").size() == 2).all()
    a = trace[trace["workload"] == "a"]["per_call_s"].to_numpy()
    assert a == pytest.approx([0.01 * s for s in states])
    assert (trace["calls"] >= 20).all() and trace["start_s"].is_monotonic_increasing


def test_the_summary_says_how_often_two_windows_agree_and_that_the_machine_moved_them_together():
    states = [1.0, 1.0, 1.3, 1.0, 0.7, 1.05]
    trace = Machine().trace({"a": (states, 0.01), "b": (states, 0.03)}, seconds=5.9)
    summary = drift_summary(trace).set_index("workload")
    assert list(summary.reset_index().columns) == SUMMARY_COLUMNS
    values = np.array(states)
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    expected = np.mean([abs(values[i] / values[j] - 1) <= 0.10 for i, j in pairs])
    assert summary.loc["a", "pairs_within"] == pytest.approx(expected)
    assert summary.loc["a", "co_movement"] == pytest.approx(1.0)  # the same states: the machine moved both
    assert summary.loc["a", "p5_ratio"] < 0.8 < 1.2 < summary.loc["a", "p95_ratio"]
    assert summary.loc["b", "median_per_call_s"] == pytest.approx(0.03)
    assert summary.loc["a", "sd_log"] == pytest.approx(np.log(values).std(ddof=1))


def test_workloads_that_move_apart_are_not_called_the_machines():
    up, down = [1.0, 1.3, 1.0, 1.3, 1.0, 1.3], [1.3, 1.0, 1.3, 1.0, 1.3, 1.0]
    trace = Machine().trace({"a": (up, 0.01), "b": (down, 0.01)}, seconds=5.9)
    summary = drift_summary(trace).set_index("workload")
    assert summary.loc["a", "co_movement"] == pytest.approx(-1.0)
    steady = Machine().trace({"only": ([1.0], 0.01)}, seconds=2.9)
    one = drift_summary(steady).iloc[0]
    assert math.isnan(one["co_movement"]) and one["pairs_within"] == 1.0 and one["sd_log"] == pytest.approx(0.0)


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="at least one workload"):
        speed_trace({}, 1.0)
    with pytest.raises(ValueError, match="> 0"):
        speed_trace({"a": lambda: None}, 0.0)
    with pytest.raises(ValueError, match="> 0"):
        speed_trace({"a": lambda: None}, 1.0, window_s=float("nan"))


def test_calibrate_drift_prints_the_table_and_what_it_means(monkeypatch, capsys):
    import harness.drift

    monkeypatch.setattr(harness.drift, "default_workloads", lambda: {"sum 1e4": lambda: sum(range(10_000)),
                                                                      "sum 2e4": lambda: sum(range(20_000))})
    assert main(["calibrate", "--drift-s", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "sum 1e4" in out and "sum 2e4" in out and "pairs within +/-10%" in out
    assert "agree within +/-10% in" in out


@pytest.mark.parametrize("value", ["0", "0.5", "-3", "nan", "7200"])
def test_calibrate_drift_out_of_range_is_exit_2_with_one_line(value, capsys):
    assert main(["calibrate", "--drift-s", value]) == 2
    err = capsys.readouterr().err.strip()
    assert "--drift-s" in err and len(err.splitlines()) == 1
