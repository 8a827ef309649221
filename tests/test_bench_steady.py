"""The benchmark suite's helpers (tests/bench/steady.py) on a fake clock: settling, round sizing, the hooks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.probe import PROBE_DEPTHS
from tests.bench.steady import (MAX_ROUNDS, MAX_SETTLE_S, MIN_CALLS, MIN_ROUNDS, MIN_SETTLE_S, ROUND_S, TIMED_S,
                                PaceLog, bench_threads, pace_cache_key, plan, settle, slowdown, slowed, timer_for,
                                wait_budget_s)

ROOT = Path(__file__).resolve().parent.parent


class FakeCall:
    """A call whose duration on a fake clock starts at ``first`` and drops to ``steady`` after ``cold`` calls."""

    def __init__(self, first: float, steady: float, cold: int):
        self.now, self.calls = 0.0, 0
        self.first, self.steady, self.cold = first, steady, cold

    def clock(self) -> float:
        return self.now

    def __call__(self) -> None:
        self.calls += 1
        self.now += self.first if self.calls <= self.cold else self.steady


def test_settle_waits_until_calls_agree_and_returns_the_steady_time():
    call = FakeCall(first=3e-3, steady=1e-4, cold=20)  # a slow wake-up (60 ms), then 30x faster
    assert settle(call, call.clock) == pytest.approx(1e-4)
    assert call.now >= MIN_SETTLE_S and call.calls > 20


def test_settle_gives_up_after_its_budget():
    state = {"now": 0.0, "n": 0}

    def call():  # never steady: every call 2% slower than the one before
        state["n"] += 1
        state["now"] += 1e-4 * 1.02 ** state["n"]

    settle(call, lambda: state["now"])
    assert MAX_SETTLE_S <= state["now"] < 2 * MAX_SETTLE_S


@pytest.mark.parametrize("per_call", [1e-6, 1e-5, 1e-4, 1e-3, 5e-2])
def test_plan_sizes_rounds_in_time(per_call):
    rounds, iterations = plan(per_call)
    assert iterations >= MIN_CALLS and MIN_ROUNDS <= rounds <= MAX_ROUNDS
    assert iterations * per_call >= ROUND_S or iterations == MIN_CALLS
    if MIN_ROUNDS < rounds < MAX_ROUNDS:
        assert rounds * iterations * per_call == pytest.approx(TIMED_S, rel=0.1)


def test_slowdown_hook_parses_and_does_the_extra_work():
    env = {"CONVBENCH_BENCH_SLOWDOWN": "numpy:1.3, numba-cpu:2"}
    assert slowdown("numpy", env) == 1.3 and slowdown("numba-cpu", env) == 2.0 and slowdown("torch", env) == 1.0
    assert slowdown("numpy", {}) == 1.0
    for bad in ("numpy", "numpy:x", "numpy:0.5", ":1.3"):
        with pytest.raises(ValueError, match="CONVBENCH_BENCH_SLOWDOWN"):
            slowdown("numpy", {"CONVBENCH_BENCH_SLOWDOWN": bad})
    count = [0]

    def call():
        count[0] += 1

    run = slowed(call, 1.3)
    for _ in range(100):
        run()
    assert count[0] == 130
    assert slowed(call, 1.0) is call


def test_threads_and_clock_settings():
    assert bench_threads({}) == 1 and bench_threads({"CONVBENCH_BENCH_THREADS": "0"}) >= 1
    with pytest.raises(ValueError, match="CONVBENCH_BENCH_THREADS"):
        bench_threads({"CONVBENCH_BENCH_THREADS": "many"})
    assert timer_for("cpu", {}) is time.process_time and timer_for("cuda", {}) is time.perf_counter
    assert timer_for("cpu", {"CONVBENCH_BENCH_CLOCK": "wall"}) is time.perf_counter
    with pytest.raises(ValueError, match="CONVBENCH_BENCH_CLOCK"):
        timer_for("cpu", {"CONVBENCH_BENCH_CLOCK": "gpu"})


def test_pace_log_keeps_one_reading_per_timed_round():
    readings = [(k + 1) * 1e-4 for k in range(2 + 5 + 1)]  # warm-up rounds, timed rounds, the result's call
    parts = len(PROBE_DEPTHS)  # each reading times its loop in parts, the clock read before and after each
    ticks = iter([t for r in readings for extra in reversed(range(parts)) for t in (0.0, r / parts + extra * 1e-6)])
    log = PaceLog(lambda: next(ticks))
    for _ in readings:
        log()
    assert log.paces_s == pytest.approx(readings) and log.timed(2, 5) == pytest.approx(readings[2:7])


def test_a_slow_reading_after_a_round_is_waited_out_before_the_next():
    from harness.pacewait import MIN_READINGS, PaceWait

    class Gate(PaceWait):
        def wait(self):
            self.waits += 1
            return 0.0

    gate = Gate(lambda: 1e-4, stored_s=1e-4)
    log = PaceLog(lambda: 0.0, gate, rounds=4)  # 4 rounds; pytest-benchmark reads once more after its result call
    readings = iter([1e-4, 2e-4, 1e-4, 2e-4, 2e-4])  # usual, slow, usual, slow after the last round, slow after all
    log.probe = lambda clock: next(readings)
    for _ in range(5):
        log()
    assert log.paces_s == [1e-4, 2e-4, 1e-4, 2e-4, 2e-4] and gate.waits == 1  # only where another round follows
    assert len(gate.readings) == 5 and MIN_READINGS > 5  # every reading is the session's


def test_the_wait_budget_and_the_cache_key():
    assert wait_budget_s({}) == 60.0 and wait_budget_s({"CONVBENCH_BENCH_WAIT_S": "0"}) == 0.0
    assert wait_budget_s({"CONVBENCH_BENCH_WAIT_S": " 12.5 "}) == 12.5
    for bad in ("-1", "soon", "inf", "nan"):
        with pytest.raises(ValueError, match="CONVBENCH_BENCH_WAIT_S"):
            wait_budget_s({"CONVBENCH_BENCH_WAIT_S": bad})
    key = pace_cache_key(time.process_time)
    assert key.startswith("convbench/usual-pace/probe") and key.endswith("/process_time") and " " not in key
    assert pace_cache_key(time.perf_counter) != key  # readings on another clock are kept apart


@pytest.mark.parametrize("variable, value", [("CONVBENCH_BENCH_WAIT_S", "soon"), ("CONVBENCH_BENCH_THREADS", "many")])
def test_a_bad_suite_variable_stops_the_benchmark_run_with_one_line(variable, value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/bench", "-q", "-p", "no:cacheprovider", "-k",
                           "numpy-3a-1x1", "--benchmark-only"], cwd=ROOT, env=dict(env, **{variable: value}),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 4 and done.stderr.strip().startswith(f"ERROR: {variable}: expected"), done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_suite_records_a_pace_after_every_timed_round(tmp_path):
    # the real pytest-benchmark run (pedantic with a per-round teardown): one benchmark, in a process of its own
    out = tmp_path / "one.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # not an xdist worker itself
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/bench", "-q", "-p", "no:cacheprovider", "-k",
                           "test_conv2d and numpy-3a-1x1", "--benchmark-only", "--benchmark-save-data",
                           f"--benchmark-json={out}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    doc = json.loads(out.read_text())
    (bench,) = doc["benchmarks"]
    paces, data = bench["extra_info"]["paces_s"], bench["stats"]["data"]
    assert len(paces) == len(data) == bench["stats"]["rounds"] and all(0 < p < 0.1 for p in paces)
    assert bench["extra_info"]["pace_wait_s"] >= 0 and "convbench: waited" in done.stdout  # the session's waits
    # the file names the machine as a sweep's metadata does: history files both under one machine (it did not)
    from harness import metadata
    from harness.benchjson import benchmark_metadata
    from harness.historyrecord import machine_of

    sweep = machine_of(dict(cpu_model=metadata.cpu_model(), cpu_isa=metadata.cpu_isa(), cpu_count=os.cpu_count(),
                            memory_gib=metadata.memory_gib(), numba_threading_layer=metadata.numba_threading_layer()))
    assert {k: v for k, v in machine_of(benchmark_metadata(doc)).items() if k != "gpu"} == \
        {k: v for k, v in sweep.items() if k != "gpu"}
    assert benchmark_metadata(doc)["versions"]["probe"] == metadata.loaded_versions()["probe"]  # the same loop
