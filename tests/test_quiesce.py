"""A timed pass waits for its own library threads to park (harness.quiesce): the wait's logic on fake clocks, and a real
NumPy pass whose OpenBLAS threads no longer spin when the next pass would start; a run's total wait, resumed
sessions included."""
from __future__ import annotations

import csv
import json
import os
import time

import pandas as pd
import pytest

import harness.jobs as jobs
import kernels
from harness.cases import Case
from harness.jobs import PointJob, run_job
from harness.layers import Layer
from harness.quiesce import wait_own_threads
from harness.timing import TimingConfig
from tests.fakes import FakeClock, steady_backend


class SpinningProcess:
    """A process whose helper threads use ``busy`` of a core until ``spin_s`` after the start, then nothing; they
    are runnable until then (``busy`` 0: another process kept them off the cores)."""

    def __init__(self, clock: FakeClock, spin_s: float, busy: float = 1.0):
        self.clock, self.until, self.busy, self.cpu = clock, clock() + spin_s, busy, 0.0

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass; the helper threads run in them while they spin."""
        spinning = max(0.0, min(seconds, self.until - self.clock()))
        self.cpu += self.busy * spinning + 0.01 * seconds  # the waiting thread itself costs ~1% of a core
        self.clock.advance(seconds)

    def wait(self, **kw) -> float:
        """:func:`wait_own_threads` on this process's clocks."""
        return wait_own_threads(cpu_s=lambda: self.cpu, wall_s=self.clock, sleep=self.sleep,
                                runnable=lambda: int(self.clock() < self.until), **kw)


def test_the_wait_ends_in_the_first_window_after_the_threads_park():
    spinning = SpinningProcess(FakeClock(), spin_s=0.1)  # OpenBLAS on the AMD VM: one core for ~100 ms
    waited = spinning.wait(window_s=0.005)
    assert waited == pytest.approx(0.105)  # the window 0.100-0.105 is the first quiet one


def test_a_quiet_process_waits_one_window_and_half_a_core_is_not_quiet():
    assert SpinningProcess(FakeClock(), spin_s=0.0).wait(window_s=0.005) == pytest.approx(0.005)
    assert SpinningProcess(FakeClock(), spin_s=0.05, busy=0.5).wait(window_s=0.005) == pytest.approx(0.055)


def test_a_spinning_thread_kept_off_the_cores_is_not_taken_for_parked():
    """Beside two busy processes OpenBLAS's thread may get no CPU in a window yet spin on after it (measured: 39 of
    40 waits ended in the first window, the process then held half a core): runnable threads keep the wait going."""
    deprived = SpinningProcess(FakeClock(), spin_s=0.1, busy=0.0)
    assert deprived.wait(window_s=0.005) == pytest.approx(0.105)


def test_runnable_threads_are_read_from_their_state_the_callers_own_aside(tmp_path):
    import threading

    from harness.quiesce import runnable_other_threads

    def thread(tid, comm: str, state: str) -> None:
        (tmp_path / str(tid)).mkdir()
        (tmp_path / str(tid) / "stat").write_text(f"{tid} ({comm}) {state} 1 2 3\n")

    thread(threading.get_native_id(), "python", "R")  # the caller runs while it reads: not counted
    thread(11, "openblas) S (x", "R")  # a name may hold parentheses and states: the last ")" ends it
    thread(12, "numba", "S")
    thread(13, "torch", "R")
    (tmp_path / "14").mkdir()  # a thread that ended while it was read: no stat
    assert runnable_other_threads(tmp_path) == 2
    assert runnable_other_threads(tmp_path / "absent") == 0  # not Linux: the CPU time alone tells


def test_threads_that_never_park_cost_at_most_the_cap():
    waited = SpinningProcess(FakeClock(), spin_s=1e9).wait(window_s=0.005, max_s=0.2)
    assert 0.2 - 1e-9 <= waited <= 0.205 + 1e-9  # the cap, give or take the last window (sums of 0.005 round)


def test_the_wait_is_bounded_even_where_the_wall_clock_stands_still():
    cpu = iter(range(10**6))  # CPU time runs, the wall clock does not: without a bound this never returns
    slept = []
    waited = wait_own_threads(cpu_s=lambda: float(next(cpu)), wall_s=lambda: 5.0, sleep=slept.append,
                              window_s=0.01, max_s=0.1, runnable=lambda: 0)
    assert waited == 0.0 and len(slept) == 11


@pytest.mark.parametrize("bad", [dict(window_s=0.0), dict(max_s=-1.0), dict(quiet_share=-0.1)])
def test_nonsense_settings_name_themselves(bad):
    with pytest.raises(ValueError, match="wait_own_threads needs"):
        wait_own_threads(**bad)


def gemm_job(threads: int) -> PointJob:
    """A real numpy 1x1 convolution pass (one GEMM of 784x192 by 192x64 per call), timed on the real clock."""
    layer = Layer("q", N=1, C=192, H=28, W=28, F=64, k=1, stride=1, padding=0, dtype="float32")
    return PointJob("numpy", Case(name="q", layer=layer, threads=threads), TimingConfig(budget_s=0.05, warmup_s=0.0))


def cpu_share_next(window_s: float = 0.03) -> float:
    """This process's CPU time over the next ``window_s`` of wall time (the calling thread asleep), in cores."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(window_s)
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def usable_cores() -> int:
    """The cores this process may run on (affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@pytest.mark.skipif(usable_cores() < 2, reason="one usable core: OpenBLAS runs no helper thread to spin")
def test_a_real_numpy_pass_returns_with_its_blas_threads_parked(monkeypatch):
    """OpenBLAS's helper thread spins on for ~100 ms after a pass, one core of two that the next pass (another
    worker's) would meet; with the wait the process is idle when the pass returns."""
    with monkeypatch.context() as patched:
        patched.setattr(jobs, "wait_own_threads", lambda: 0.0)  # the same pass without the wait
        for _ in range(2):  # the first pass of a process may start OpenBLAS's pool without it spinning after
            assert run_job(gemm_job(threads=2)).status == "ok"
        if cpu_share_next() < 0.3:
            pytest.skip("this NumPy's BLAS does not spin after a call: nothing to wait for")
    result = run_job(gemm_job(threads=2))
    assert result.status == "ok" and 0 < result.row["quiet_wait_s"] <= 0.5
    assert cpu_share_next() < 0.3


def test_the_sweep_process_waits_for_its_own_threads_before_a_timed_pass(monkeypatch):
    """The sweep process spins the cores (the settler) and computes the case's reference (BLAS) just before a pass:
    a local executor waits for its own threads to park first - not with an injected clock, not for an untimed pass."""
    import harness.executor as executor_module
    from harness.executor import InProcessExecutor

    events = []
    monkeypatch.setattr(executor_module, "wait_own_threads", lambda: events.append("wait") or 0.0)

    class Settler:
        def before_point(self):
            events.append("settle")

        def after_point(self):
            events.append("after")

    executor = InProcessExecutor(settler=Settler())
    monkeypatch.setattr(executor, "run", lambda job, data: events.append("run") or "result")
    job = gemm_job(threads=1)
    assert list(executor.map([("t", job, None)])) == [("t", "result")]
    assert events == ["settle", "wait", "run", "after"]
    events.clear()
    untimed = PointJob("numpy", job.case, job.config, timed=False)
    list(executor.map([("u", untimed, None)]))
    assert events == ["run", "after"]
    events.clear()
    fake = InProcessExecutor(clock=FakeClock())
    monkeypatch.setattr(fake, "run", lambda job, data: events.append("run"))
    list(fake.map([("f", job, None)]))
    assert events == ["run"]


def test_only_real_timed_cpu_passes_wait_and_the_table_does_not_keep_the_wait(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(jobs, "wait_own_threads", lambda: calls.append(1) or 0.25)
    assert run_job(gemm_job(threads=1)).row["quiet_wait_s"] == 0.25 and len(calls) == 1
    untimed = PointJob("numpy", gemm_job(1).case, gemm_job(1).config, timed=False)
    assert "quiet_wait_s" not in run_job(untimed).row and len(calls) == 1  # a correctness-only pass times nothing
    fake = FakeClock()
    kernels.register(steady_backend(fake))
    try:  # an injected clock (tests): no real pass to wait after
        assert run_job(PointJob("test-steady", gemm_job(1).case, gemm_job(1).config), clock=fake).status == "ok"
    finally:
        kernels.unregister("test-steady")
    assert len(calls) == 1
    import harness

    harness.sweep(preset="smoke", backends=["numpy"], budget_s=0.02, repeats=2, run_id="q", results_dir=tmp_path,
                  plots=False, report=False, in_process=True)
    records = [json.loads(line)["row"] for line in (tmp_path / "q.passes.jsonl").read_text().splitlines()]
    ok = [r for r in records if r["status"] == "ok"]
    waits = [0.25 * (2 if r["threads"] > 1 else 1) for r in ok]  # a multi-thread pass also lets its hand-off park
    assert ok and [r["quiet_wait_s"] for r in ok] == waits
    assert json.loads((tmp_path / "q.json").read_text())["quiet_wait_s"] == pytest.approx(sum(waits))  # the total
    assert "quiet_wait_s" not in pd.read_csv(tmp_path / "q.csv").columns


@pytest.mark.parametrize("wall", [None, "three seconds"])
def test_a_resumed_run_adds_its_earlier_sessions_wait_as_it_does_their_wall_time(monkeypatch, results_dir, capsys,
                                                                                 wall):
    """A run whose earlier session recorded 2.5 s of waits for parking threads, resumed, ends with 2.5 s plus this
    session's waits - in its metadata and in the sweep's last line alike, as ``wall_s`` counts the whole run. A
    damaged earlier ``wall_s`` counts as 0 (it crashed the resume with a ValueError before)."""
    import harness

    monkeypatch.setattr(jobs, "wait_own_threads", lambda: 0.25)
    quick = dict(results_dir=results_dir, plots=False, report=False, in_process=True)
    harness.sweep(preset="smoke", backends=["numpy"], budget_s=0.02, repeats=2, settle_s=0, run_id="q", **quick)
    table, passes, meta_file = (results_dir / f"q.{ext}" for ext in ("csv", "passes.jsonl", "json"))
    with table.open(newline="") as fh:
        header, *rows = list(csv.reader(fh))
    with table.open("w", newline="") as fh:  # the earlier session finished two points, then it was killed
        csv.writer(fh, lineterminator="\n").writerows([header, *rows[:2]])
    done = {(row[header.index("backend")], row[header.index("case")]) for row in rows[:2]}
    records = [line for line in passes.read_text().splitlines() if tuple(json.loads(line)["key"][:2]) in done]
    passes.write_text("".join(f"{line}\n" for line in records))
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps(dict(meta, status="interrupted", quiet_wait_s=2.5, wall_s=wall or meta["wall_s"])))
    capsys.readouterr()
    harness.sweep(resume="q", quiet=False, **quick)
    new = [json.loads(line)["row"] for line in passes.read_text().splitlines()[len(records):]]
    this_session_s = sum(r.get("quiet_wait_s") or 0.0 for r in new)
    assert this_session_s > 0  # the resumed session measured the other points' passes, each waiting 0.25 s
    meta = json.loads(meta_file.read_text())
    assert meta["status"] == "complete" and meta["quiet_wait_s"] == pytest.approx(2.5 + this_session_s)
    assert isinstance(meta["wall_s"], float) and meta["wall_s"] > 0
    assert f"({meta['quiet_wait_s']:.1f} s of it waiting for library threads to park)" in capsys.readouterr().out


@pytest.mark.parametrize("recorded, earlier_s", [(2.5, 2.5), (3, 3.0), (None, 0.0), ("2.5 s", 0.0), (True, 0.0),
                                                 (float("nan"), 0.0), (-1.0, 0.0)])
def test_an_earlier_sessions_wait_that_is_no_number_counts_as_none(recorded, earlier_s):
    """Runs written before ``quiet_wait_s`` was recorded (or hand-edited) resume as though they had waited 0 s."""
    from harness.metadata import recorded_s

    assert recorded_s({"quiet_wait_s": recorded}, "quiet_wait_s") == earlier_s
    assert recorded_s({}, "quiet_wait_s") == 0.0
