"""A backend that moved as a whole: its points share the move where each alone could not show it, and only then.

On the shared 2-vCPU VMs one point's run-to-run floor is +/-20-30% at alpha 0.01, wider than a 1.3x change;
the mean over a backend's points is not. These tests give each row a run-to-run drift (``shift_sigma``) that
makes every point's own interval straddle the threshold - the rule before the backend's move left every such
row inconclusive - and check that the move is seen, that it is not seen in an A/A pair, that a point which did
not move is not swept along, and that a competing process that slowed some passes of every point is no move.
"""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from harness.backendmove import MIN_POINTS, BackendMove, backend_moves, shares
from harness.cli import main
from harness.compare_rule import REASON_MOVED, burst_hit
from harness.comparison import exit_code
from harness.compare_summary import summary_lines
from harness.storedfloor import store_calibrated_floor

from .test_compare_rule import CASES, judged, write_passes_run, write_run

DRIFT = {"a": 0.06, "b": 0.06}


def test_a_backend_that_moved_1_3x_is_slower_on_points_whose_own_interval_straddles(tmp_path, capsys):
    write_run(tmp_path, "base", seed=1, shift_sigma=DRIFT, passes=3)
    write_run(tmp_path, "new", seed=2, shift_sigma=DRIFT, scale={"a": 1.3}, passes=3)
    result = judged(tmp_path, "base", "new")
    a, b = result[result["backend"] == "a"], result[result["backend"] == "b"]
    shared = a[a["note"].str.startswith(REASON_MOVED)]
    assert (a["verdict"] == "slower").sum() >= len(CASES) - 1 and not (b["verdict"] == "slower").any()
    assert len(shared) >= len(CASES) // 2 and (shared["ratio_lo"] < 1.1).all()  # alone: straddling, inconclusive
    move = result.attrs["backend_moves"]["a"]
    assert move["verdict"] == "slower" and move["points"] == len(CASES) and move["ratio_lo"] > 1.1
    assert move["ratio"] == pytest.approx(1.3, rel=0.1) and result.attrs["backend_moves"]["b"]["verdict"] != "slower"
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "backends as a whole" in out and "over 8 points: slower" in out and "together" in out


def test_an_a_a_pair_with_the_same_drift_moves_no_backend(tmp_path):
    for seed in (3, 5, 7):
        write_run(tmp_path, f"base{seed}", seed=seed, shift_sigma=DRIFT, passes=3)
        write_run(tmp_path, f"new{seed}", seed=seed + 1, shift_sigma=DRIFT, passes=3)
        result = judged(tmp_path, f"base{seed}", f"new{seed}")
        assert exit_code(result) != 1 and not result["verdict"].isin(["slower", "faster"]).any()
        assert {m["verdict"] for m in result.attrs["backend_moves"].values()} <= {"same", "inconclusive"}


def test_a_point_that_did_not_move_with_its_backend_is_not_swept_along(tmp_path):
    write_run(tmp_path, "base", seed=1, shift_sigma=DRIFT, passes=3)
    new = write_run(tmp_path, "new", seed=2, shift_sigma=DRIFT, scale={"a": 1.5}, passes=3)
    samples = pd.read_csv(new.samples)
    stayed = (samples["backend"] == "a") & (samples["case"] == CASES[3])
    samples.loc[stayed, "time_s"] /= 1.5
    samples.to_csv(new.samples, index=False)
    records = [json.loads(line) for line in new.passes.read_text().splitlines()]
    for r in records:
        if r["key"][:2] == ["a", CASES[3]]:
            r["samples_s"] = [t / 1.5 for t in r["samples_s"]]
    new.passes.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = judged(tmp_path, "base", "new")
    row = result.query("backend == 'a' and case == @CASES[3]").iloc[0]
    assert row["verdict"] != "slower" and REASON_MOVED not in row["note"]
    assert (result.query("backend == 'a' and case != @CASES[3]")["verdict"] == "slower").all()


def test_a_competing_process_that_slowed_some_passes_of_every_point_is_no_move(tmp_path):
    # every point of a: NEW's passes at 1.0/1.35/1.3 of BASE's - the median pass 1.3x, the fastest unchanged
    write_passes_run(tmp_path, "base", [1.0, 1.0, 1.0], seed=1)
    write_passes_run(tmp_path, "new", [1.0, 1.35, 1.3], seed=2, every_point=True)
    result = judged(tmp_path, "base", "new")
    a = result[result["backend"] == "a"]
    assert (a["ratio"] > 1.25).all() and not (a["verdict"] == "slower").any()
    assert result.attrs["backend_moves"]["a"]["fastest_pass_ratio"] == pytest.approx(1.0, abs=0.02)
    write_passes_run(tmp_path, "slow", [1.3, 1.3, 1.3], seed=3, every_point=True)  # the code: every pass
    assert (judged(tmp_path, "base", "slow").query("backend == 'a'")["verdict"] == "slower").all()


def test_backend_moves_need_enough_points_and_skip_missing_ratios():
    rows = [("a", math.log(1.3) + e, 0.01) for e in (-0.02, 0.01, 0.0, 0.02, -0.01)]
    rows += [("b", 0.0, 0.01)] * (MIN_POINTS - 1) + [("b", math.nan, 0.01)]
    assert backend_moves(rows, 0.01) == {}  # no passes known (pytest-benchmark files): no move
    moves = backend_moves(rows, 0.01, [math.log(1.3)] * len(rows))
    assert set(moves) == {"a"} and moves["a"].points == 5 and moves["a"].verdict(0.1) == "slower"
    assert moves["a"].detectable(0.1) == pytest.approx(1.1 * moves["a"].ratio_hi / moves["a"].ratio)
    flat = backend_moves([("c", e, 0.01) for e in (-0.01, 0.0, 0.01, 0.0)], 0.01, [0.0] * 4)["c"]
    assert flat.verdict(0.1) == "same" and flat.direction(0.1) == 0 and flat.fastest_pass_ratio == 1.0


def test_a_point_shares_a_move_only_beyond_the_threshold_and_inside_its_own_interval():
    move = BackendMove(1.3, 1.2, 1.4, 16)
    d = math.log(1.25)
    assert shares(move, 0.1, d, d - 0.3, d + 0.3) == 1
    assert shares(move, 0.1, math.log(1.05), -0.3, 0.35) == 0  # its own ratio inside the threshold
    assert shares(move, 0.1, d, d - 0.01, d + 0.01) == 0  # its interval excludes the backend's 1.3x
    assert shares(BackendMove(1.05, 0.9, 1.2, 16), 0.1, d, d - 0.3, d + 0.3) == 0  # the backend did not move
    assert shares(BackendMove(1.3, 1.2, 1.4, 16, fastest_pass_ratio=1.0), 0.1, d, d - 0.3, d + 0.3) == 0
    assert shares(BackendMove(0.7, 0.65, 0.75, 16), 0.1, math.log(0.72), -0.6, 0.0) == -1
    assert shares(None, 0.1, d, d - 0.3, d + 0.3) == 0


def test_the_summary_names_each_backends_move_in_every_view(tmp_path):
    write_run(tmp_path, "base", seed=1, shift_sigma=DRIFT, passes=3)
    write_run(tmp_path, "new", seed=2, shift_sigma=DRIFT, scale={"a": 1.3}, passes=3)
    lines = summary_lines(judged(tmp_path, "base", "new"))
    assert any(line.startswith("backends as a whole") and "a 1.3" in line for line in lines)
    md = tmp_path / "cmp.md"
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path), "--markdown", str(md)]) == 1
    assert "backends as a whole" in md.read_text()


def burst(run, case, factor=12.0):
    """Two of three passes (rounds 14-39) of ``case`` of backend a in ``run`` caught beside a burst: ``factor`` slower."""
    samples = pd.read_csv(run.samples)
    hit = (samples["backend"] == "a") & (samples["case"] == case) & (samples["round"] >= 14)
    samples.loc[hit, "time_s"] *= factor
    samples.to_csv(run.samples, index=False)
    records = [json.loads(line) for line in run.passes.read_text().splitlines()]
    for r in records:
        if r["key"] == ["a", case] and r["pass"] > 0:
            r["samples_s"] = [t * factor for t in r["samples_s"]]
    run.passes.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_point_that_interference_moved_in_one_run_neither_widens_the_floor_nor_the_move(tmp_path):
    # the Intel VM's case: two of three passes of one point of NEW caught beside a burst (its median 12x, its fastest
    # pass as BASE's x 1.3): the other points still show the backend's 1.3x, their floor is theirs
    write_run(tmp_path, "base", seed=1, shift_sigma=DRIFT, passes=3)
    burst(write_run(tmp_path, "new", seed=2, shift_sigma=DRIFT, scale={"a": 1.3}, passes=3), CASES[3])
    result = judged(tmp_path, "base", "new")
    assert result.query("backend == 'a' and case == @CASES[3]").iloc[0]["ratio"] > 10
    others = result.query("backend == 'a' and case != @CASES[3]")
    assert (others["verdict"] == "slower").sum() >= len(others) - 1 and (others["noise_floor"] < 1).all()
    move = result.attrs["backend_moves"]["a"]
    assert move["points"] == len(CASES) - 1 and move["ratio"] == pytest.approx(1.3, rel=0.1)


def test_a_burst_in_a_calibration_pair_is_not_stored_as_the_floor_of_every_later_gate(tmp_path):
    base = write_run(tmp_path, "base", seed=1, shift_sigma=DRIFT, passes=3)
    new = write_run(tmp_path, "new", seed=2, shift_sigma=DRIFT, passes=3)
    clean = store_calibrated_floor(base, new, tmp_path / "clean")[1]
    burst(new, CASES[3])
    stored = store_calibrated_floor(base, new, tmp_path / "burst")[1]
    assert stored["bursts_left_out"] == 1 and stored["backends"]["a"]["rows"] == len(CASES) - 1
    assert stored["backends"]["a"]["floor_sd"] < 2 * clean["backends"]["a"]["floor_sd"] + 0.05 < 1


def beside_a_busy_process(run, case, factor=2.5, share=0.5):
    """Every pass of ``case`` of backend a in ``run`` made beside a busy process: ``factor`` slower, fastest pass
    included (not a burst), and the point's ``others_share`` ``share``; every other point at 0.02."""
    burst(run, case, factor)
    samples = pd.read_csv(run.samples)
    first = (samples["backend"] == "a") & (samples["case"] == case) & (samples["round"] < 14)
    samples.loc[first, "time_s"] *= factor
    samples.to_csv(run.samples, index=False)
    records = [json.loads(line) for line in run.passes.read_text().splitlines()]
    for r in records:
        if r["key"] == ["a", case] and r["pass"] == 0:
            r["samples_s"] = [t * factor for t in r["samples_s"]]
    run.passes.write_text("".join(json.dumps(r) + "\n" for r in records))
    table = pd.read_csv(run.table)
    table["others_share"] = ((table["backend"] == "a") & (table["case"] == case)).map({True: share, False: 0.02})
    table.to_csv(run.table, index=False)


def test_a_point_other_processes_moved_in_one_run_of_a_calibration_pair_is_not_stored_either(tmp_path):
    base = write_run(tmp_path, "base", seed=1, shift_sigma=DRIFT, passes=3)
    new = write_run(tmp_path, "new", seed=2, shift_sigma=DRIFT, passes=3)
    clean = store_calibrated_floor(base, new, tmp_path / "clean")[1]
    pd.read_csv(base.table).assign(others_share=0.02).to_csv(base.table, index=False)
    beside_a_busy_process(new, CASES[3], share=0.02)  # the same slowdown, no contention measured: it is the floor
    blind = store_calibrated_floor(base, new, tmp_path / "blind")[1]
    assert blind["contended_left_out"] == 0 and blind["backends"]["a"]["rows"] == len(CASES)
    beside_a_busy_process(new, CASES[3], factor=1.0, share=0.5)
    stored = store_calibrated_floor(base, new, tmp_path / "busy")[1]
    assert stored["contended_left_out"] == 1 and stored["bursts_left_out"] == 0
    assert stored["backends"]["a"]["rows"] == len(CASES) - 1
    assert stored["backends"]["a"]["floor_sd"] < 2 * clean["backends"]["a"]["floor_sd"] + 0.05
    assert blind["backends"]["a"]["floor_sd"] > stored["backends"]["a"]["floor_sd"] + 0.1


def test_burst_hit_is_a_median_pass_that_moved_3x_apart_from_the_fastest_either_way():
    assert burst_hit(math.log(12.8), math.log(1.44)) and burst_hit(math.log(1 / 4), 0.0)
    assert not burst_hit(math.log(1.3), math.log(1.3))  # a change of the code moves both, at any size
    assert not burst_hit(math.log(30), math.log(25)) and not burst_hit(math.log(2.9), 0.0)  # two speeds
    assert not burst_hit(math.log(12.0), math.nan)  # passes unknown
