"""The two builds of one A/B run are judged on the same pass numbers (harness.abpairs).

The seen case (AMD EPYC Zen 2 VM, 2026-12-05, A/B smoke run ab3): the cores' hand-off read slow in four of five
passes, the threshold cut through the slow readings, and numba-cpu's points were judged on one slow and one fast pass
in one build against one fast pass in the other: a floor of x/ 2.8, and an injected 1.6x of numba-cpu was
inconclusive on every row. Here: backend a's pass 1 ran in the slow state (1.9x) in both builds, but on half the
points one build's reading of it fell just under the threshold.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

import harness
from harness.abhalves import AB_RUN_ATTR
from harness.abpairs import one_ab_run, paired_choice
from harness.comparison import exit_code
from harness.handoff import SLOW_HANDOFF
from harness.passgroups import KeptPasses
from harness.runfiles import RunFiles

from .test_compare_rule import CASES, write_run

USUAL_S = 1.5e-6
SLOW_S, JUST_UNDER_S = 2 * USUAL_S, 0.97 * SLOW_HANDOFF * USUAL_S
STATE = [1.9, 1.9, 1.0, 1.9, 1.9]  # passes 0, 1, 3, 4 in the slow state: 1.9x, both builds alike


def reading(backend: str, case: str, n: int, base: bool) -> float:
    """a's hand-off reading of pass ``n``: slow but for pass 2; on every other point pass 1 of one build (the base
    build's on even points, this build's on odd ones) read just under the threshold."""
    if backend != "a" or n == 2:
        return USUAL_S
    under = n == 1 and CASES.index(case) % 2 == (0 if base else 1)
    return JUST_UNDER_S if under else SLOW_S


def write_ab_run(folder, run_id: str = "ab", factor: float = 1.0) -> RunFiles:
    """A fake A/B run: backends a and b in both builds (``NAME@base``), five passes per point, pass ``i`` of both
    builds back to back; this build's a ``factor`` x slower in code, both builds' a in the state of :data:`STATE`."""
    scratch = folder / "halves"
    scratch.mkdir()
    halves = {True: write_run(scratch, "base", seed=1, passes=5, rounds=100),
              False: write_run(scratch, "new", seed=2, passes=5, rounds=100, scale={"a": factor})}
    tables, samples, records = [], [], []
    for base, files in halves.items():
        table, rounds = pd.read_csv(files.table), pd.read_csv(files.samples)
        for frame in (table, rounds):
            frame["run_id"] = run_id
            frame["backend"] = frame["backend"] + ("@base" if base else "")
        table["gflops"] = table["flops"] / table["time_s"] / 1e9  # a loaded run is drawn from
        tables.append(table)
        samples.append(rounds)
        for line in files.passes.read_text().splitlines():
            r = json.loads(line)
            backend, case, n = r["key"][0], r["row"]["case"], r["pass"]
            r["row"]["handoff_s"] = reading(backend, case, n, base)
            r["samples_s"] = [t * (STATE[n] if backend == "a" else 1.0) for t in r["samples_s"]]
            r["key"][0] = r["row"]["backend"] = backend + ("@base" if base else "")
            r["row"]["run_id"] = run_id
            records.append((n, CASES.index(case), r["key"][0].split("@")[0], not base, r))
    out = RunFiles(folder, run_id)
    pd.concat(tables).to_csv(out.table, index=False)
    pd.concat(samples).to_csv(out.samples, index=False)
    out.passes.write_text("".join(json.dumps(r[-1]) + "\n" for r in sorted(records, key=lambda r: r[:4])))
    meta = json.loads(halves[False].metadata.read_text())
    out.metadata.write_text(json.dumps(dict(meta, run_id=run_id, started_at="2026-12-05T16:16:29+00:00")))
    return out


@pytest.mark.parametrize("factor", [1.0, 1.6])
def test_both_builds_are_judged_on_the_passes_both_kept(tmp_path, factor):
    # before: on half the points one build kept pass 1 (a slow one) beside pass 2 - ratios 0.7x-1.6x across a's
    # points, a floor wide enough to call an injected 1.6x inconclusive on every row
    write_ab_run(tmp_path, factor=factor)
    result = harness.compare("ab@base", "ab", results_dir=tmp_path)
    a = result.query("backend == 'a'")
    assert set(a["verdict"]) == ({"same"} if factor == 1.0 else {"slower"})
    assert a["ratio"].between(0.93 * factor, 1.07 * factor).all()
    assert exit_code(result) == (0 if factor == 1.0 else 1)
    paired = a["note"].str.contains("judged on 1 of 5 passes, leaving out 3 whose cores handed work to each other "
                                    "slowly (an empty parallel region read slow around them) and 1 with the other "
                                    "build's pass of the same number", regex=False)
    assert paired.sum() == len(CASES)  # one build of each point: the one whose pass 1 read under the threshold
    assert set(result.query("backend == 'b'")["verdict"]) == {"same"}


def test_separate_runs_and_one_build_against_itself_are_not_paired(tmp_path):
    write_ab_run(tmp_path, factor=1.6)
    for ref in ("ab", "ab@base"):  # the same half on both sides: identical, nothing to pair
        assert set(harness.compare(ref, ref, results_dir=tmp_path)["verdict"]) == {"same"}
    other = tmp_path / "other"
    other.mkdir()
    write_ab_run(other, "ab2", factor=1.6)
    for name in ("ab.csv", "ab.samples.csv", "ab.passes.jsonl", "ab.json"):
        (other / name).write_bytes((tmp_path / name).read_bytes())
    meta = json.loads((other / "ab.json").read_text())
    (other / "ab.json").write_text(json.dumps(dict(meta, started_at="2026-12-05T17:00:00+00:00")))
    result = harness.compare("ab2@base", "ab", results_dir=other)  # halves of two runs: each judged on its own
    assert not result["note"].str.contains("other build's pass").any()


def kept(indices, passes=5, slow=0) -> KeptPasses:
    """KeptPasses of a point whose passes' medians are 1, 2, 3, ... us, keeping ``indices``."""
    return KeptPasses([(j + 1) * 1e-6 for j in indices], (), len(indices), passes, None, slow, tuple(indices))


class Samples:
    """A stand-in for a samples table: its attrs only."""

    def __init__(self, base: bool, numbers, run=("ab", "t0")):
        point = ("a", "x")
        self.attrs = {AB_RUN_ATTR: (*run, base), "pass_numbers": {point: numbers},
                      "passes_s": {point: [[(j + 1) * 1e-6] * 3 for j in range(len(numbers))]},
                      "pass_medians_s": {point: [(j + 1) * 1e-6 for j in range(len(numbers))]}}


def test_the_pairing_rule():
    keys = {0: {"_base": ("a", "x"), "_new": ("a", "x")}}
    base, new = Samples(True, [0, 1, 2, 3, 4]), Samples(False, [0, 1, 2, 3, 4])
    assert one_ab_run(base, new) and not one_ab_run(base, base) and not one_ab_run(base, Samples(False, [0], ("b",)))
    choice = {0: {"_base": (("a", "x"), kept([1, 2], slow=3)), "_new": (("a", "x"), kept([2], slow=4))}}
    out = paired_choice(choice, keys, base, new)
    assert out[0]["_base"][1].indices == (2,) and out[0]["_base"][1].paired == 1
    assert out[0]["_base"][1].medians_s == [3e-6] and out[0]["_new"][1] == choice[0]["_new"][1]
    # one build left out pass 3 alone: the other build, which left out nothing, leaves it out too
    out = paired_choice({0: {"_new": (("a", "x"), kept([0, 1, 2, 4], slow=1))}}, keys, base, new)
    assert out[0]["_base"][1].indices == (0, 1, 2, 4) and out[0]["_base"][1].paired == 1
    # no pass kept by both: neither leaves anything out
    assert paired_choice({0: {"_base": (("a", "x"), kept([0])), "_new": (("a", "x"), kept([1]))}}, keys,
                         base, new) == {}
    # pass numbers that differ between the builds (a pass of too few rounds skipped): matched by number
    short = Samples(False, [0, 2, 3, 4])
    out = paired_choice({0: {"_base": (("a", "x"), kept([2, 3], slow=3))}}, keys, base, short)
    assert out[0]["_new"][1].indices == (1, 2) and out[0]["_new"][1].passes == 4
    # halves of two runs, or no pass numbers: the choice as it was
    assert paired_choice(choice, keys, base, Samples(False, [0, 1, 2, 3, 4], ("ab", "t1"))) == choice
    bare = Samples(False, [0, 1, 2, 3, 4])
    bare.attrs.pop("pass_numbers")
    assert paired_choice(choice, keys, base, bare) == choice
