"""Other processes on the cores: each pass measures their share of the machine, a point is flagged ``contended``,
and compare holds back a move towards the run that met more of it - and only then.

The seen case (2-vCPU Intel VM): a test suite on two processes ran through half of one of two unchanged
inception3a runs, torch moved 2-3.7x as a whole and compare exited 1; the core-speed probe read 0.96x.
"""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import harness.jobs as jobs
from harness.contention import (OthersMeter, contention_gap, is_contended, machine_busy_s, median_share, uncontended,
                                more_contended)
from harness.interference import contention_noted, contention_split, interference_demoted
from harness.layers import Layer
from harness.cases import Case
from harness.results import ResultsWriter, RunFiles
from harness.settings import CONTENDED_SHARE
from harness.sweeploop import run_sweep
from harness.timing import TimingConfig

import kernels

from harness.compare_rule import IDENTICAL
from harness.comparison import exit_code

from .test_compare_rule import CASES, judged, write_run
from tests.fakes import FakeClock, steady_backend


def counters(*values):
    """A counter that returns ``values`` one call after another."""
    it = iter(values)
    return lambda: next(it)


def test_the_share_is_others_busy_time_over_the_cores_wall_time():
    # 1 s of wall on 2 cores; the machine was busy 1.5 s, 0.5 s of it this process: others held half of it
    meter = OthersMeter(busy=counters(10.0, 11.5), own=counters(3.0, 3.5), wall=counters(100.0, 101.0), cores=2)
    assert meter.start().share() == 0.5
    quiet = OthersMeter(busy=counters(10.0, 10.9), own=counters(3.0, 3.95), wall=counters(0.0, 1.0), cores=2)
    assert quiet.start().share() == 0.0  # jiffies round: never below 0
    assert OthersMeter(busy=counters(0.0, 9.0), own=counters(0.0, 0.0), wall=counters(0.0, 1.0),
                       cores=2).start().share() == 1.0
    assert OthersMeter(busy=lambda: None).start().share() is None  # no counters (not Linux)
    assert OthersMeter(busy=counters(1.0, 2.0), own=counters(0.0, 0.0), wall=counters(5.0, 5.0)).start().share() is None


def test_machine_busy_counts_user_nice_system_irq_softirq_and_steal(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 5000 40 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    monkeypatch.setattr("os.sysconf", lambda name: 100)
    assert machine_busy_s(str(stat)) == pytest.approx((100 + 20 + 30 + 6 + 7 + 8) / 100)
    assert machine_busy_s(str(stat), cores={0}) == pytest.approx((1 + 2 + 3 + 6 + 7 + 8) / 100)
    assert machine_busy_s(str(stat), cores={0, 1}) is None  # a core the file does not list
    stat.write_text("intr 1 2 3\n")
    assert machine_busy_s(str(stat)) is None and machine_busy_s(str(tmp_path / "none")) is None
    stat.write_text("cpu  1 x 3\n")
    assert machine_busy_s(str(stat)) is None


def test_the_real_meter_reads_this_machines_cores():
    meter = OthersMeter().start()
    sum(i * i for i in range(200_000))
    share = meter.share()
    assert share is None or 0.0 <= share <= 1.0  # None off Linux


def test_a_points_share_is_its_passes_median_and_the_gap_needs_both():
    rows = [dict(status="ok", others_share=s) for s in (0.5, 0.1, 0.45)] + [dict(status="failed", others_share=0.9)]
    assert median_share(rows) == 0.45 and is_contended(0.45) and not is_contended(CONTENDED_SHARE - 0.01)
    assert median_share([dict(status="ok")]) is None and not is_contended(None) and not is_contended(math.nan)
    assert contention_gap(0.5, 0.1) == pytest.approx(0.4) and math.isnan(contention_gap(0.5, None))


def test_a_sweep_records_each_points_share_and_flags_the_contended_one(monkeypatch, tmp_path):
    clock = FakeClock()
    shares = iter([0.5, 0.02] * 3)  # passes interleaved: A0 B0 A1 B1 A2 B2

    class Meter:
        def share(self):
            return next(shares)

    monkeypatch.setattr(jobs, "pass_meter", lambda clock, wall: Meter())
    layer = dict(N=1, C=3, H=6, W=6, F=4, k=3, stride=1, padding="same", dtype="float32")
    cases = [Case(name=n, layer=Layer(n, **layer), threads=1) for n in ("A", "B")]
    kernels.register(steady_backend(clock))
    try:
        run_sweep(cases, ["test-steady"], TimingConfig(budget_s=0.06, warmup_s=0.0),
                  ResultsWriter(RunFiles.of("r", tmp_path)), run_id="r", repeats=3, clock=clock)
    finally:
        kernels.unregister("test-steady")
    table = pd.read_csv(tmp_path / "r.csv", keep_default_na=False).set_index("case")
    assert table.loc["A", "others_share"] == 0.5 and "contended" in table.loc["A", "flags"].split(";")
    assert table.loc["B", "others_share"] == 0.02 and "contended" not in table.loc["B", "flags"]


def merged(verdict_share_new, share_base):
    """A merged row of compare with both runs' ``others_share``."""
    return pd.Series({"others_share_new": verdict_share_new, "others_share_base": share_base,
                      "flags_new": "", "flags_base": ""})


@pytest.mark.parametrize("new, base, ratio, lo, hi, demoted", [
    (0.5, 0.02, 2.5, 2.0, 3.0, True),     # NEW beside a busy process, slower: not the code's
    (0.5, 0.45, 2.5, 2.0, 3.0, False),    # both beside it: judged as usual
    (0.3, 0.25, 2.5, 2.0, 3.0, False),    # both contended, by about as much
    (0.39, 0.17, 6.4, 1.2, 35, True),     # half of BASE beside the busy process, all of NEW (seen: numba-cpu)
    (0.2, 0.0, 2.5, 2.0, 3.0, False),     # NEW not contended: a quiet run's share
    (0.5, 0.02, 600, 500, 700, False),    # beyond what contention moved a kernel: the code
    (0.02, 0.5, 0.4, 0.3, 0.5, True),     # faster, BASE beside the busy process
    (0.5, None, 2.5, 2.0, 3.0, True),     # BASE from before the column: NEW's own share says it
    (None, 0.5, 2.5, 2.0, 3.0, False),    # NEW from before it: nothing known of NEW
    (True, 0.0, 2.5, 2.0, 3.0, False),    # not a share
])
def test_compare_holds_back_a_move_towards_the_run_that_met_more_contention(new, base, ratio, lo, hi, demoted):
    verdict = "slower" if ratio > 1 else "faster"
    out = interference_demoted(dict(verdict=verdict, ratio=ratio, ratio_lo=lo, ratio_hi=hi), merged(new, base), True)
    assert (out.get("verdict") == "inconclusive") == demoted
    if demoted:
        assert "contended" in out["note"] and "of its cores" in out["note"]
    assert contention_split(merged(new, base)) == (more_contended(new, base) or more_contended(base, new))


def test_an_unchanged_run_half_made_beside_a_busy_process_raises_no_alarm(tmp_path):
    # NEW's backend a: seven of eight points 2.5x slower with their passes beside a busy process (share 0.5), every
    # pass of them - fastest included - slowed; its other points clean. Without the shares: a moved, exit 1.
    write_run(tmp_path, "base", seed=1, passes=3)
    new = write_run(tmp_path, "new", seed=2, passes=3)
    busy = {"a": set(CASES[:7])}
    table, samples = pd.read_csv(new.table), pd.read_csv(new.samples)
    hit = table["backend"].eq("a") & table["case"].isin(busy["a"])
    table.loc[hit, ["time_s", "time_min_s"]] *= 2.5
    samples.loc[samples["backend"].eq("a") & samples["case"].isin(busy["a"]), "time_s"] *= 2.5
    samples.to_csv(new.samples, index=False)
    records = [json.loads(line) for line in new.passes.read_text().splitlines()]
    for r in records:
        if r["key"][0] == "a" and r["key"][1] in busy["a"]:
            r["samples_s"] = [t * 2.5 for t in r["samples_s"]]
    new.passes.write_text("".join(json.dumps(r) + "\n" for r in records))
    table.to_csv(new.table, index=False)
    assert (judged(tmp_path, "base", "new").query("backend == 'a'")["verdict"] == "slower").sum() >= 6
    table["others_share"] = hit.map({True: 0.5, False: 0.02})
    table.to_csv(new.table, index=False)
    base_table = pd.read_csv(RunFiles(tmp_path, "base").table).assign(others_share=0.02)
    base_table.to_csv(RunFiles(tmp_path, "base").table, index=False)
    result = judged(tmp_path, "base", "new")
    a = result[result["backend"] == "a"]
    assert not (a["verdict"] == "slower").any() and a["note"].str.contains("contended").sum() >= 6


@pytest.mark.parametrize("value", ["5", "-1", "abc", "True"])
def test_a_table_whose_others_share_is_no_share_is_damaged(tmp_path, value):
    run = write_run(tmp_path, "r", seed=1)
    table = pd.read_csv(run.table)
    table["others_share"] = table["others_share"].astype(object)
    table.loc[0, "others_share"] = value
    table.to_csv(run.table, index=False)
    from harness.results import read_table

    with pytest.raises(ValueError, match="others_share holds values that are not shares"):
        read_table(run.table)


def test_a_damaged_share_is_named_as_written_not_the_first_good_one(tmp_path):
    run = write_run(tmp_path, "r", seed=1)
    table = pd.read_csv(run.table)
    table["others_share"] = 0.1
    table.loc[3, "others_share"] = 41.0  # a percentage
    table.to_csv(run.table, index=False)
    from harness.results import read_table

    with pytest.raises(ValueError, match=r"not shares in \[0, 1\] \(e\.g\. 41\.0\); the table is damaged"):
        read_table(run.table)


@pytest.mark.parametrize("shares, kept", [
    ([0.5, 0.02, 0.6], [1]),                 # contended point, one clean pass: judged on it
    ([0.5, 0.3, 0.6], None),                 # every pass contended: all kept (compare holds the move back)
    ([0.35, 0.2, 0.35], [1]),                # (judged on it only where the other run's point was not contended)
    ([0.02, 0.4, 0.01], None),               # one contended pass of a clean point: the median pass is clean already
    ([None, None], None),                    # a run from before the column
    ([0.3, None, 0.1, 0.26], [2]),           # unknown shares are not clean
])
def test_a_contended_point_keeps_its_passes_below_the_flag(shares, kept):
    assert uncontended(shares) == kept


def set_passes(run, backend, shares, slows=None, table_share=None):
    """Give ``backend``'s passes of ``run`` these ``others_share`` values (by pass number), each ``slows[n]`` x slower;
    its table rows the share ``table_share`` (default: the median), the other backend 0.02 throughout."""
    slows = slows or [1.0] * len(shares)
    records = [json.loads(line) for line in run.passes.read_text().splitlines()]
    for r in records:
        on = r["key"][0] == backend
        r["row"]["others_share"] = shares[r["pass"]] if on else 0.02
        r["samples_s"] = [t * (slows[r["pass"]] if on else 1.0) for t in r["samples_s"]]
    run.passes.write_text("".join(json.dumps(r) + "\n" for r in records))
    table = pd.read_csv(run.table)
    share = sorted(shares)[len(shares) // 2] if table_share is None else table_share
    table["others_share"] = table["backend"].map({backend: share}).fillna(0.02)
    table.to_csv(run.table, index=False)


def contended_pair(tmp_path, factor=1.0, rounds=60):
    """Fake runs base and new (three passes per point); new's backend a ``factor`` x slower in code."""
    base = write_run(tmp_path, "base", seed=1, passes=3, rounds=rounds)
    new = write_run(tmp_path, "new", seed=2, passes=3, rounds=rounds, scale={"a": factor})
    set_passes(base, "a", [0.02] * 3)
    return base, new


@pytest.mark.parametrize("factor", [1.0, 1.3])
def test_compare_judges_a_contended_point_on_its_clean_pass(tmp_path, factor):
    # NEW's backend a (factor x slower in code) met a busy process in two of its three passes, 2.5x slower there.
    # Before: the point's median pass was contended, so a real 1.3x was held back as inconclusive on every row.
    # Now its clean pass is judged: 1.3x is slower, an unchanged backend is not (2.5x of the busy passes unseen).
    _, new = contended_pair(tmp_path, factor)
    set_passes(new, "a", [0.5, 0.02, 0.5], [2.5, 1.0, 2.5])
    a = judged(tmp_path, "base", "new").query("backend == 'a'")
    if factor == 1.0:
        assert not a["verdict"].isin(["slower", "faster"]).any()
    else:
        assert (a["verdict"] == "slower").all()
        assert (a["ratio"].between(1.2, 1.4)).all()
    assert a["note"].str.contains("NEW: judged on 1 of 3 passes", regex=False).all()


def test_a_kept_pass_that_ran_slower_than_the_contended_ones_does_not_stand_for_its_point(tmp_path):
    # AMD EPYC VM, load ~2.8, two unchanged inception3a runs: numba-cpu's 3a 5x5 kept BASE's 102.5 us pass (share
    # 0.21; the others 113 and 141 us) and NEW's 116.8 us pass (share 0.18; the others 98 and 101 us): NEW judged on
    # its slowest pass was a 1.14x "slower", exit 1. Contention did not slow NEW's other passes: all of them count.
    base, new = contended_pair(tmp_path)
    set_passes(base, "a", [0.36, 0.39, 0.21], [1.10, 1.38, 1.0])
    set_passes(new, "a", [0.38, 0.32, 0.18], [0.957, 0.982, 1.14])
    result = judged(tmp_path, "base", "new")
    assert exit_code(result) != 1 and not result["note"].str.contains("NEW: judged on", regex=False).any()


def test_a_clean_pass_is_not_judged_against_a_point_contended_throughout(tmp_path):
    # unchanged code: BASE's passes at 0.35/0.20/0.35 (contended ones 2x slower), NEW at 0.29 throughout, 1.5x slower.
    # Judged on BASE's 0.20 pass, NEW (0.29) is not 0.1 more contended and a was "slower", exit 1.
    base, new = contended_pair(tmp_path)
    set_passes(base, "a", [0.35, 0.2, 0.35], [2.0, 1.0, 2.0])
    set_passes(new, "a", [0.29] * 3, [1.5] * 3)
    result = judged(tmp_path, "base", "new")
    assert exit_code(result) != 1 and not result["note"].str.contains("judged on").any()


def test_contended_against_contended_is_judged_as_usual(tmp_path):
    # both runs beside the same busy process, its neighbour away for one pass of BASE; the code 1.3x slower in NEW:
    # BASE's clean pass against NEW's contended ones would hold the move back, so both keep all their passes
    base, new = contended_pair(tmp_path, 1.3)
    set_passes(base, "a", [0.5, 0.02, 0.5])
    set_passes(new, "a", [0.5] * 3)
    a = judged(tmp_path, "base", "new").query("backend == 'a'")
    assert (a["verdict"] == "slower").all() and not a["note"].str.contains("judged on").any()


def test_kept_passes_too_short_to_judge_leave_the_backend_as_it_was(tmp_path):
    # 12 rounds in 3 passes: a median pass of 4 rounds is too short, the backend is judged on pooled rounds, so the
    # contended passes are in what is judged: no note claims otherwise, and the move is held back as before
    _, new = contended_pair(tmp_path, rounds=12)
    set_passes(new, "a", [0.5, 0.02, 0.5], [2.5, 1.0, 2.5])
    a = judged(tmp_path, "base", "new").query("backend == 'a'")
    assert not a["verdict"].isin(["slower", "faster"]).any() and not a["note"].str.contains("judged on").any()


def test_a_run_compared_with_itself_stays_identical(tmp_path):
    _, new = contended_pair(tmp_path)
    set_passes(new, "a", [0.5, 0.02, 0.5], [2.5, 1.0, 2.5])
    result = judged(tmp_path, "new", "new")
    assert set(result["verdict"]) == {"same"} and set(result["note"]) == {IDENTICAL}
    assert not any("noise floor" in w for w in result.attrs["warnings"])


def test_a_run_from_before_the_column_against_a_contended_one(tmp_path):
    # BASE's table has no others_share column at all; NEW's point contended throughout and 2.5x slower: held back
    base, new = contended_pair(tmp_path)
    pd.read_csv(base.table).drop(columns="others_share").to_csv(base.table, index=False)
    set_passes(new, "a", [0.5] * 3, [2.5] * 3)
    a = judged(tmp_path, "base", "new").query("backend == 'a'")
    assert not (a["verdict"] == "slower").any() and a["note"].str.contains("contended").all()


def test_a_point_left_wide_by_contention_names_it_before_the_floor():
    floor_note = "straddles 1.10; run-to-run floor x/ 29 > rounds +/-3%"
    judged_row = {"verdict": "inconclusive", "note": floor_note}
    note = contention_noted(judged_row, merged(0.39, 0.01))["note"]
    assert note == ("NEW was measured under interference (contended: other processes held 39% of its cores during "
                    f"its median pass, 1% in the other run); {floor_note}")
    assert contention_noted(judged_row, merged(0.01, 0.39))["note"].startswith("BASE was measured under interference")
    assert contention_noted(judged_row, merged(0.3, 0.28)) == {}  # both beside it: the floor is the reason
    assert contention_noted(dict(judged_row, verdict="same"), merged(0.39, 0.01)) == {}


def test_a_run_made_beside_a_busy_process_throughout_is_named_on_every_row(tmp_path):
    # x1 -> x4 on the Intel VM: every point of NEW beside a busy loop, scattered x/ 2-8 from its BASE; every row's
    # floor came from rows such as itself and its note said only "run-to-run floor x/ 29"
    base = write_run(tmp_path, "base", seed=1, passes=3)
    new = write_run(tmp_path, "new", seed=2, passes=3, scale={"a": 3.0, "b": 3.0}, shift_sigma={"a": 1.0, "b": 1.0})
    for run, share in ((base, 0.02), (new, 0.5)):
        pd.read_csv(run.table).assign(others_share=share).to_csv(run.table, index=False)
    result = judged(tmp_path, "base", "new")
    assert exit_code(result) != 1 and (result["verdict"] == "inconclusive").all()
    assert result["note"].str.startswith("NEW was measured under interference (contended: other processes held "
                                         "50% of its cores").all()
