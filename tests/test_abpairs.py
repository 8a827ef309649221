"""The two builds of one A/B run are judged on the same pass numbers (harness.abpairs).

The seen case (AMD EPYC Zen 2 VM, 2026-12-05, A/B smoke run ab3): the cores' hand-off read slow in four of five
passes, the threshold cut through the slow readings, and numba-cpu's points were judged on one slow and one fast pass
in one build against one fast pass in the other: a floor of x/ 2.8, and an injected 1.6x of numba-cpu was
inconclusive on every row.
"""
from __future__ import annotations

import numpy as np
import pytest

import harness
from harness.abpairs import marked_numbers, narrowed, one_ab_run
from harness.comparison import exit_code
from harness.handoff import SLOW_HANDOFF
from harness.keptpasses import kept_note
from harness.passgroups import KeptPasses
from harness.results import ALL_COLUMNS, ResultsWriter, RunFiles
from harness.rows import PointResult

USUAL_S = 1.5e-6
SLOW_S, JUST_UNDER_S = 2 * USUAL_S, 0.97 * SLOW_HANDOFF * USUAL_S
PASSES = 5
STARTED = "2026-12-05T16:16:29+00:00"


def write_ab(folder, spec: dict, run_id: str = "ab", factor: dict | None = None, started: str = STARTED) -> RunFiles:
    """A fake A/B run: for each backend of ``spec`` its ``cases`` points (default 8) in both builds (``NAME@base``),
    five passes a point, pass ``n`` of both builds back to back. ``spec[backend][build]`` (``"base"``, ``"new"``), a
    function of the point's index, gives per pass ``shares``, ``slow`` (the state's factor on its rounds) and
    ``handoff`` readings (defaults: 0, 1, the usual); ``factor`` slows this build's backends in code."""
    rng = np.random.default_rng(0)
    writer = ResultsWriter(RunFiles(folder, run_id))
    for i in range(8):
        for backend, s in spec.items():
            if i >= s.get("cases", 8):
                continue
            for base in (True, False):
                build = s.get("base" if base else "new", lambda i: {})(i)
                shares, slow = build.get("shares", [0.0] * PASSES), build.get("slow", [1.0] * PASSES)
                code = 1.0 if base else (factor or {}).get(backend, 1.0)
                parts = [3e-6 * (1 + i / 4) * code * slow[n] * rng.lognormal(0, 0.02, 20) for n in range(PASSES)]
                samples = np.concatenate(parts)
                name = backend + ("@base" if base else "")
                row = {c: None for c in ALL_COLUMNS}
                row.update(run_id=run_id, backend=name, device="cpu", case=f"layer {i}", N=1, C=8, H=8, W=8, F=8,
                           k=1, stride=1, padding=0, dtype="float32", threads=2, status="ok", reason="",
                           time_s=float(np.median(samples)), time_min_s=float(samples.min()), rounds=len(samples),
                           flops=1000, gflops=1000 / float(np.median(samples)) / 1e9,
                           others_share=float(np.median(shares)))
                for n, part in enumerate(parts):
                    handoff = build.get("handoff", [USUAL_S] * PASSES)[n]
                    writer.append_pass((name, row["case"]), n,
                                       PointResult(dict(row, others_share=shares[n], handoff_s=handoff), tuple(part)))
                writer.append(row, samples)
    writer.write_metadata({"host": "h", "cpu_model": "cpu", "versions": {"numpy": "2"}, "started_at": started,
                           "run_id": run_id})
    return RunFiles(folder, run_id)


def state(base: bool):
    """a's passes 0, 1, 3, 4 in the slow state (1.9x, both builds alike); on every other point pass 1 of one build
    (the base build's on even points, this build's on odd ones) read just under the threshold."""
    def build(i: int) -> dict:
        under = i % 2 == (0 if base else 1)
        readings = [SLOW_S, JUST_UNDER_S if under else SLOW_S, USUAL_S, SLOW_S, SLOW_S]
        return {"handoff": readings, "slow": [1.9, 1.9, 1.0, 1.9, 1.9]}
    return build


SEEN = {"a": {"base": state(True), "new": state(False)}, "b": {}}


@pytest.mark.parametrize("factor", [1.0, 1.6])
def test_both_builds_are_judged_on_the_passes_both_kept(tmp_path, factor):
    # before: on half the points one build kept pass 1 (a slow one) beside pass 2 - ratios 0.7x-1.6x across a's
    # points, a floor wide enough to call an injected 1.6x (and the unchanged code) inconclusive on every row
    write_ab(tmp_path, SEEN, factor={"a": factor})
    result = harness.compare("ab@base", "ab", results_dir=tmp_path)
    a = result.query("backend == 'a'")
    assert set(a["verdict"]) == ({"same"} if factor == 1.0 else {"slower"})
    assert a["ratio"].between(0.93 * factor, 1.07 * factor).all()
    assert exit_code(result) == (0 if factor == 1.0 else 1)
    paired = a["note"].str.contains("judged on 1 of 5 passes, leaving out 3 whose cores handed work to each other "
                                    "slowly (an empty parallel region read slow around them) and 1 whose twin pass "
                                    "in the other build a slow hand-off slowed", regex=False)
    assert paired.sum() == 8  # one build of each point: the one whose pass 1 read under the threshold
    assert set(result.query("backend == 'b'")["verdict"]) == {"same"}
    reversed_ = harness.compare("ab", "ab@base", results_dir=tmp_path).query("backend == 'a'")
    assert set(reversed_["verdict"]) == ({"same"} if factor == 1.0 else {"faster"})


def test_the_pairs_follow_the_run_not_its_file_name_and_halves_of_two_runs_are_not_paired(tmp_path):
    write_ab(tmp_path, SEEN, factor={"a": 1.6})
    for suffix in (".csv", ".samples.csv", ".passes.jsonl", ".json"):  # a byte copy of the run, under another name
        (tmp_path / f"copy{suffix}").write_bytes((tmp_path / f"ab{suffix}").read_bytes())
    copied = harness.compare("ab@base", "copy", results_dir=tmp_path).query("backend == 'a'")
    assert set(copied["verdict"]) == {"slower"} and copied["note"].str.contains("twin pass").sum() == 8
    other = tmp_path / "other"  # the same run id, made at another time: two runs
    other.mkdir()
    write_ab(other, SEEN, factor={"a": 1.6}, started="2026-12-05T17:00:00+00:00")
    result = harness.compare(f"{tmp_path / 'ab.csv'}@base", str(other / "ab.csv"))
    assert not result["note"].str.contains("twin pass").any()


def test_a_build_is_never_judged_on_passes_its_own_readings_leave_out(tmp_path):
    # BASE's a contended in passes 0-2 (1.5x slower), NEW's in passes 3-4: unchanged code. Cutting NEW to BASE's
    # clean passes 3-4 judged it on its contended ones: `slower` 1.5x, exit 1 (a review of the first version)
    spec = {"a": {"base": lambda i: {"shares": [0.5, 0.5, 0.5, 0, 0], "slow": [1.5, 1.5, 1.5, 1, 1]},
                  "new": lambda i: {"shares": [0, 0, 0, 0.5, 0.5], "slow": [1, 1, 1, 1.5, 1.5]}}, "b": {}}
    write_ab(tmp_path, spec)
    result = harness.compare("ab@base", "ab", results_dir=tmp_path)
    assert exit_code(result) != 1 and not (result["verdict"] == "slower").any()


def test_a_lone_point_is_not_judged_on_passes_its_hand_off_slowed(tmp_path):
    # f, one point: BASE contended in passes 2-4, NEW's passes 0-1 slowed by a slow hand-off; no pass clean in both
    spec = {"a": {}, "b": {}, "f": {"cases": 1,
                                    "base": lambda i: {"shares": [0, 0, 0.5, 0.5, 0.5], "slow": [1, 1, 1.5, 1.5, 1.5]},
                                    "new": lambda i: {"handoff": [3.5e-6, 3.5e-6] + [USUAL_S] * 3,
                                                      "slow": [1.5, 1.5, 1, 1, 1]}}}
    write_ab(tmp_path, spec)
    result = harness.compare("ab@base", "ab", results_dir=tmp_path)
    assert exit_code(result) != 1 and not (result["verdict"] == "slower").any()


def test_where_both_builds_keep_clean_passes_of_their_own_only_each_is_judged_as_before(tmp_path):
    # BASE contended in passes 3-4, NEW's hand-off slow in 0-2: no pass clean in both builds, and each build's own
    # clean passes still show this build's 1.4x
    spec = {"a": {"base": lambda i: {"shares": [0, 0, 0, 0.5, 0.5], "slow": [1, 1, 1, 1.5, 1.5]},
                  "new": lambda i: {"handoff": [SLOW_S] * 3 + [USUAL_S] * 2, "slow": [1.9, 1.9, 1.9, 1, 1]}},
            "b": {}}
    write_ab(tmp_path, spec, factor={"a": 1.4})
    a = harness.compare("ab@base", "ab", results_dir=tmp_path).query("backend == 'a'")
    assert set(a["verdict"]) == {"slower"} and not a["note"].str.contains("twin pass").any()


def test_the_note_counts_each_reason_once():
    both = KeptPasses([1e-6, 2e-6], (), 2, 5, 0.0, 0, (3, 4), 1)  # 2 contended, 1 paired
    assert kept_note("BASE", both) == (
        "BASE: judged on 2 of 5 passes, those where other processes held under 25% of its cores and leaving out 1 "
        "whose twin pass in the other build a slow hand-off slowed (an A/B run times both builds' pass of a point back "
        "to back, in the same state)")
    paired_only = kept_note("NEW", KeptPasses([1e-6], (), 1, 5, None, 3, (2,), 1))
    assert paired_only.startswith("NEW: judged on 1 of 5 passes, leaving out 3 whose cores handed work")
    assert paired_only.endswith("around them) and 1 whose twin pass in the other build a slow hand-off slowed (an A/B "
                                "run times both builds' pass of a point back to back, in the same state)")
    assert "held under" not in paired_only


def test_a_build_that_left_nothing_out_is_never_cut_to_the_other_builds_passes(tmp_path):
    # point 3: BASE alone met a neighbour in passes 1-4 (it did not slow them), NEW clean but its pass 0 1.15x from
    # noise; one unchanged lone point f whose NEW passes 0-1 ran in the slow state and the rest 1.2x (its process).
    # Cut to the other build's passes: a's point 3 and f `slower` 1.16x / 1.21x, exit 1 (a second review)
    spec = {"a": {"base": lambda i: {"shares": [0.2, 0.3, 0.3, 0.3, 0.3]} if i == 3 else {},
                  "new": lambda i: {"slow": [1.15, 1.0, 1.0, 1.02, 0.98]} if i == 3 else {}},
            "b": {},
            "f": {"cases": 1, "new": lambda i: {"handoff": [SLOW_S, SLOW_S] + [USUAL_S] * 3,
                                                "slow": [1.9, 1.9, 1.2, 1.22, 1.18]}}}
    write_ab(tmp_path, spec)
    result = harness.compare("ab@base", "ab", results_dir=tmp_path)
    assert exit_code(result) != 1 and not (result["verdict"] == "slower").any()
    assert not result["note"].str.contains("twin pass").any()


def test_a_neighbour_in_one_builds_pass_does_not_narrow_the_other_build(tmp_path):
    # point 3: NEW contended in passes 2-4 (1.5x) keeps passes 0-1, its pass 1 1.15x from noise; BASE met a neighbour
    # in pass 0 only, which did not slow it. Pairing the contention cut NEW to pass 1 alone: `slower` 1.16x, exit 1
    # (a third review); a burst of another process says little of the twin pass's
    spec = {"a": {"base": lambda i: {"shares": [0.3, 0, 0, 0, 0]} if i == 3 else {},
                  "new": lambda i: {"shares": [0, 0, 0.5, 0.5, 0.5], "slow": [1.0, 1.15, 1.5, 1.5, 1.5]} if i == 3
                  else {}},
            "b": {}}
    write_ab(tmp_path, spec)
    result = harness.compare("ab@base", "ab", results_dir=tmp_path)
    assert exit_code(result) != 1 and not (result["verdict"] == "slower").any()
    assert not result["note"].str.contains("twin pass").any()


def narrowing(kept_indices, rounds=5, numbers=(0, 1, 2, 3, 4)):
    """The attrs of one build's point ("a", "x") with five passes of ``rounds`` rounds (pass 3: 4 rounds when
    ``rounds`` is None), and its KeptPasses keeping ``kept_indices``."""
    sizes = [4 if (rounds is None and j == 3) else (rounds or 10) for j in range(len(numbers))]
    attrs = {"passes_s": {("a", "x"): [[(j + 1) * 1e-6] * n for j, n in enumerate(sizes)]},
             "pass_medians_s": {("a", "x"): [(j + 1) * 1e-6 for j in range(len(numbers))]},
             "pass_shares": {("a", "x"): [0.5, 0.5, 0.0, 0.1, 0.0]}}
    kept = KeptPasses([(j + 1) * 1e-6 for j in kept_indices], (), len(kept_indices), len(numbers), 0.05, 0,
                      tuple(kept_indices))
    return attrs, list(numbers), kept


def test_narrowing_drops_only_passes_whose_twin_the_other_build_marked():
    attrs, numbers, kept = narrowing([2, 3, 4])
    out = narrowed(attrs, ("a", "x"), numbers, {3}, kept)
    assert out.indices == (2, 4) and out.paired == 1 and out.kept == 2 and out.medians_s == pytest.approx([3e-6, 5e-6])
    assert out.share == 0.0 and out.slow_handoff == 0  # the judged passes' share
    assert narrowed(attrs, ("a", "x"), numbers, {0, 1}, kept) is kept  # nothing of its own choice marked
    assert narrowed(attrs, ("a", "x"), numbers, {2, 3, 4}, kept) is kept  # nothing left: its own choice
    extra = narrowing([2, 3, 4], numbers=(0, 1, 2, 3, 9))  # pass 9 timed in this build only: it stays
    assert narrowed(extra[0], ("a", "x"), extra[1], {3}, extra[2]).indices == (2, 4)
    short = narrowing([2, 3, 4], rounds=None)  # the pass left would be a median pass of 4 rounds: its own choice
    assert narrowed(short[0], ("a", "x"), short[1], {2, 4}, short[2]) is short[2]
    assert marked_numbers([0, 2, 3, 4], {0, 2}) == {0, 3}


class Samples:
    """A stand-in for a samples table: its attrs only."""

    def __init__(self, token):
        self.attrs = {"ab_run": token}


def test_two_halves_of_one_run_and_nothing_else_are_one_ab_run():
    base, new = Samples(("ab", STARTED, True)), Samples(("ab", STARTED, False))
    assert one_ab_run(base, new) and one_ab_run(new, base)
    assert not one_ab_run(base, base) and not one_ab_run(base, Samples(("ab", "later", False)))
    assert not one_ab_run(base, Samples(("ab2", STARTED, False))) and not one_ab_run(base, Samples(None))
    assert not one_ab_run(base, None)
