"""The core-speed probe around every timed pass, and the ``disturbed`` flag of points none of whose passes ran on
an unslowed core (harness.probe): a fake clock for the probe, scripted probe values for a whole sweep."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import harness.jobs as jobs
import harness.probe as probe_module
import kernels
from harness.cases import Case
from harness.layers import Layer
from harness.probe import ProbeReference, cores_probe_s, is_disturbed, probe_s
from harness.results import ResultsWriter, RunFiles
from harness.resume import load_progress
from harness.settings import PROBE_SLACK
from harness.sweeploop import run_sweep
from harness.timing import TimingConfig
from harness.trust import row_flags
from tests.fakes import FakeClock, steady_backend


def test_the_probe_is_its_fastest_timing():
    ticks = iter([0.0, 3.0, 10.0, 12.0, 20.0, 25.0])  # timings 3, 2, 5
    assert probe_s(clock=lambda: next(ticks), iterations=10, repeats=3) == 2.0
    assert probe_s(iterations=1000, repeats=2) > 0  # the real loop on the real clock


def test_the_probe_times_its_loop_at_each_call_depth_in_turn(monkeypatch):
    # version 1 timed one depth: in one process of 18 that depth read 1.5x slower all along (its frame's place)
    import inspect

    from harness import probe

    depths = []
    monkeypatch.setattr(probe, "probe_loop", lambda n: depths.append((len(inspect.stack(0)), n)))
    ticks = iter(range(100))
    probe.probe_s(clock=lambda: next(ticks), iterations=7, repeats=4)
    base = depths[0][0] - probe.PROBE_DEPTHS[0]
    assert [d - base for d, _ in depths] == [*probe.PROBE_DEPTHS, probe.PROBE_DEPTHS[0]] and {n for _, n in depths} == {7}
    depths.clear()
    ticks = iter([0.0, 5.0, 10.0, 14.0, 20.0, 26.0])  # parts 5, 4, 6: the pace is the fastest part, whole-size
    assert probe.pace_s(clock=lambda: next(ticks), iterations=30) == 4.0 * len(probe.PROBE_DEPTHS)
    assert [n for _, n in depths] == [30 // len(probe.PROBE_DEPTHS)] * len(probe.PROBE_DEPTHS)
    assert len({d for d, _ in depths}) == len(probe.PROBE_DEPTHS)


def test_the_probes_loop_allocates_nothing():
    # version 1 made two fresh integers per iteration, and its speed followed where they landed
    import tracemalloc

    from harness.probe import probe_loop

    probe_loop(10)
    tracemalloc.start()
    try:
        probe_loop(20_000)
        assert tracemalloc.get_traced_memory()[1] < 100  # bytes at the peak: its iterator (48); version 1 184
    finally:
        tracemalloc.stop()


def test_every_core_is_probed_and_the_affinity_restored():
    import os

    before = os.sched_getaffinity(0)
    assert cores_probe_s() > 0 and os.sched_getaffinity(0) == before
    assert cores_probe_s(max_cores=0) > 0 and os.sched_getaffinity(0) == before  # too many cores: the current one


def test_a_core_that_cannot_be_pinned_does_not_fail_the_pass(monkeypatch):
    import os

    before = os.sched_getaffinity(0)
    real = os.sched_setaffinity

    def refuse_single_cores(pid, cores):
        if len(cores) == 1 and len(before) > 1:
            raise OSError(22, "Invalid argument")
        real(pid, cores)

    monkeypatch.setattr(os, "sched_setaffinity", refuse_single_cores)
    assert cores_probe_s() > 0 and os.sched_getaffinity(0) == before


@pytest.mark.parametrize("probe, reference, expected", [
    (1.0, 1.0, False), (PROBE_SLACK * 0.99, 1.0, False), (PROBE_SLACK * 1.01, 1.0, True), (2.0, 1.0, True),
    (None, 1.0, False), (2.0, None, False), (math.nan, 1.0, False), (2.0, math.inf, False)])
def test_a_pass_is_disturbed_only_when_its_probe_is_known_and_slow(probe, reference, expected):
    assert is_disturbed(probe, reference) is expected


def test_the_reference_is_the_usual_reading_of_each_host_and_kind():
    """The lower quartile of the readings, per host and per kind (one core or every core): a rare fast reading
    does not become the yardstick (on the quiet Intel VM that flagged 16 of 25 points)."""
    ref = ProbeReference()
    one = dict(host="a", threads=1)
    for probe in [1.0, 1.0, 1.0, 0.7, 1.1, 1.2, 1.05, 1.0, 0.98]:  # one fast outlier among usual readings
        ref.add(dict(one, probe_s=probe))
    others = [dict(host="b", threads=1, probe_s=3.0)] * 4 + [dict(host="a", threads=2, probe_s=2.0)] * 4 + [
        dict(host="d", threads=1, probe_s=1.0)] * 3
    for row in [*others, dict(one), dict(one, probe_s=math.nan), dict(one, probe_s=-1.0)]:
        ref.add(row)
    assert ref.reference(one) == 1.0 and ref.reference(dict(host="b", threads=1)) == 3.0
    assert ref.reference(dict(host="a", threads=4)) == 2.0 and ref.reference(dict(host="c")) is None
    assert ref.reference(dict(host="a", threads=np.int64(2))) == 2.0  # a thread count read back by pandas
    # too few readings (an unseeded Dask host's first points): no reference, nothing judged
    assert ref.reference(dict(host="d", threads=1)) is None
    assert not ref.all_disturbed([dict(status="ok", host="d", threads=1, probe_s=9.0)])
    ok = dict(status="ok", **one)
    assert ref.all_disturbed([dict(ok, probe_s=1.3), dict(ok, probe_s=2.0)])
    assert not ref.all_disturbed([dict(ok, probe_s=1.3), dict(ok, probe_s=1.1)])  # one pass ran unslowed
    assert not ref.all_disturbed([dict(status="ok", host="b", threads=1, probe_s=3.3)])  # host b's own usual: 3.0
    assert not ref.all_disturbed([dict(status="ok", host="a", threads=2, probe_s=2.4)])  # every core: its own kind
    assert not ref.all_disturbed([dict(ok, probe_s=2.0), dict(ok)])  # a pass without a probe: unknown
    assert not ref.all_disturbed([dict(status="failed", host="a", probe_s=9.0)]) and not ref.all_disturbed([])


def test_the_reference_of_a_quiet_bimodal_core_flags_nothing():
    """Readings as the quiet Intel VM gave them (two-core probes, most at ~0.5 ms, a few fresh from idle at
    0.37 ms): judged against the usual reading, a pass at 0.5 ms is not slowed; one at 0.7 ms is."""
    ref = ProbeReference()
    for i in range(100):
        ref.add(dict(host="h", threads=2, probe_s=0.37e-3 if i % 20 == 0 else (0.47 + 0.0006 * i) * 1e-3))
    row = dict(status="ok", host="h", threads=2)
    assert not ref.all_disturbed([dict(row, probe_s=0.5e-3)] * 3)
    assert ref.all_disturbed([dict(row, probe_s=0.7e-3)] * 3)


def test_which_cores_a_pass_probes():
    from harness.jobs import PointJob, pass_probe
    from harness.timing import pass_config

    layer = Layer("L", N=1, C=3, H=6, W=6, F=4, k=3, stride=1, padding=1, dtype="float32")
    config = pass_config(TimingConfig(budget_s=0.06), 3)

    def job(backend, threads, timed=True):
        return PointJob(backend, Case(name="L", layer=layer, threads=threads), config, "r", timed, 0.06, 3)

    assert pass_probe(job("numpy", 2)) is cores_probe_s and pass_probe(job("numpy", 1)) is probe_s
    assert pass_probe(job("numpy", 2, timed=False)) is None and pass_probe(job("numba-cuda", 1)) is None


def test_the_reference_starts_from_this_process_probes(monkeypatch):
    """Each seed reading is the slower of two probes (as a pass's before and after), of each kind."""
    import socket

    cores = iter([0.9, 0.7] * 8)
    one = iter([0.5, 0.6] * 8)
    monkeypatch.setattr(probe_module, "cores_probe_s", lambda: next(cores))
    monkeypatch.setattr(probe_module, "probe_s", lambda: next(one))
    ref = ProbeReference()
    ref.seed()
    host = socket.gethostname()
    assert ref.readings == {(host, True): [0.9] * 8, (host, False): [0.6] * 8}
    # the first point to finish is judged against it (with --repeats 1 it is its own only pass)
    assert ref.all_disturbed([dict(status="ok", host=host, threads=2, probe_s=1.2)])
    assert not ref.all_disturbed([dict(status="ok", host=host, threads=1, probe_s=0.7)])


def test_flag_from_the_row():
    row = dict(status="ok", time_s=1e-3, rel_ci=0.01, steady=True)
    assert row_flags(row, 0.05, disturbed=True) == ["disturbed"]
    assert row_flags(row, 0.05, disturbed=False) == [] and row_flags(row, 0.05) == []


def test_a_point_whose_every_pass_ran_slowed_is_flagged_and_the_files_keep_each_probe(monkeypatch, tmp_path):
    """Two steady points, passes interleaved (A0 B0 A1 B1 A2 B2), two probes per pass (before, after): every
    probe around A's passes 1.5x the fastest, B's at the fastest. A is `disturbed`, B is clean; the passes
    file keeps every pass's probe, the table (a fixed set of columns) none."""
    clock = FakeClock()
    probes = iter([1.4, 1.5, 1.0, 1.0] * 3)  # A: 1.4 before, 1.5 after each pass
    monkeypatch.setattr(probe_module, "cores_probe_s", lambda: 1.0)  # the sweep's own seed of the reference
    monkeypatch.setattr(probe_module, "probe_s", lambda: 1.0)
    monkeypatch.setattr(jobs, "probe_s", lambda: next(probes))  # single-thread points: the current core
    layer = dict(N=1, C=3, H=6, W=6, F=4, k=3, stride=1, padding="same", dtype="float32")
    cases = [Case(name=n, layer=Layer(n, **layer), threads=1) for n in ("A", "B")]
    kernels.register(steady_backend(clock))
    try:
        writer = ResultsWriter(RunFiles.of("r", tmp_path))
        run_sweep(cases, ["test-steady"], TimingConfig(budget_s=0.06, warmup_s=0.0), writer, run_id="r", repeats=3,
                  clock=clock)
    finally:
        kernels.unregister("test-steady")
    table = pd.read_csv(tmp_path / "r.csv", keep_default_na=False).set_index("case")
    assert table.loc["A", "flags"] == "disturbed" and table.loc["B", "flags"] == ""
    assert not table.loc["A", "trusted"] and "probe_s" not in table.columns and "disturbed" not in table.columns
    records = [json.loads(line) for line in (tmp_path / "r.passes.jsonl").read_text().splitlines()]
    assert [(r["row"]["case"], r["row"]["probe_s"]) for r in records] == [("A", 1.5), ("B", 1.0)] * 3
    assert [(r["row"]["probe_before_s"], r["row"]["probe_after_s"]) for r in records] == [(1.4, 1.5), (1.0, 1.0)] * 3
    assert not {"probe_before_s", "probe_after_s"} & set(table.columns)
    # a resume reads every recorded probe back, finished points included, for the reference to go on from
    assert sorted(p["probe_s"] for p in load_progress(RunFiles.of("r", tmp_path)).probes) == [1.0] * 3 + [1.5] * 3


@pytest.mark.parametrize("recorded, flagged", [([], False), ([0.5] * 30, True)])
def test_a_resumed_run_judges_against_the_probes_recorded_before(monkeypatch, recorded, flagged):
    """Every pass of the new point probes 0.7 and the seed 1.0: on its own that is usual, a clean point;
    with the 0.5 readings recorded by the run before its kill, 0.7 is 1.4x slower, every pass disturbed."""
    import socket

    from harness.results import MemoryWriter

    clock = FakeClock()
    monkeypatch.setattr(probe_module, "cores_probe_s", lambda: 1.0)
    monkeypatch.setattr(probe_module, "probe_s", lambda: 1.0)
    monkeypatch.setattr(jobs, "probe_s", lambda: 0.7)
    case = Case(name="C", layer=Layer("C", N=1, C=3, H=6, W=6, F=4, k=3, stride=1, padding=1), threads=1)
    kernels.register(steady_backend(clock))
    try:
        writer = MemoryWriter()
        run_sweep([case], ["test-steady"], TimingConfig(budget_s=0.06, warmup_s=0.0), writer, run_id="r",
                  repeats=3, clock=clock,
                  probes=[{"host": socket.gethostname(), "threads": 1, "probe_s": p} for p in recorded])
    finally:
        kernels.unregister("test-steady")
    assert ("disturbed" in writer.rows[0]["flags"]) is flagged


def test_a_run_s_probe_median_reads_only_real_readings(tmp_path):
    """The median probe reading compare weighs the machine by (harness.passgroups): a damaged record's ``true``,
    NaN, a negative or a missing reading counts for nothing (``true`` was read as a 1 s reading)."""
    from harness.passgroups import PROBE_ATTR, with_pass_medians
    from harness.rows import PointResult

    writer = ResultsWriter(RunFiles.of("r", tmp_path))
    row = dict(backend="b", case="c", status="ok", threads=1)
    for n, probe in enumerate([2e-4, 2e-4, 3e-4, True, True, True, math.nan, -1.0, None]):
        writer.append_pass(("b", "c"), n, PointResult(dict(row, probe_s=probe), (1e-4,) * 10))
    samples = with_pass_medians(pd.DataFrame({"backend": ["b"], "case": ["c"], "time_s": [1e-4]}),
                                tmp_path / "r.passes.jsonl")
    assert samples.attrs[PROBE_ATTR] == pytest.approx(2e-4)
