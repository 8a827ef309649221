"""One pytest-benchmark file a side: a whole backend's move is judged where the probe saw the machine steady
(harness.benchblocks), on hand-made files.

tests/data/bench_base.json holds three benchmarks per backend; a backend needs four for a move of its own, so each
file here adds a copy of every benchmark on a twin layer (``NAME-b``), five to six per backend. Every round of NEW
carries its own lognormal noise, and every round a pace, as the suite records them.
"""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from harness.backendmove import BackendMove
from harness.benchblocks import PROCESS_SHIFT, best_round_log_ratio, block_moves, least_move, steady_blocks
from harness.benchpace import READ_ATTR
from harness.cli import main
from harness.comparison import compare_runs, exit_code, resolve_run

from .test_benchjson import BASE

PACE_S = 1e-4


def doc_of(seed: int, time_of=lambda name: 1.0, pace_of=lambda name: 1.0, paced: bool = True, noise: float = 0.02):
    """bench_base.json with a twin of every benchmark, each round times ``time_of(name)`` and lognormal noise, and a
    pace after every round (PACE_S x ``pace_of(name)``, 1% noise) unless not ``paced``."""
    doc = json.loads(BASE.read_text())
    twins = []
    for bench in doc["benchmarks"]:
        twin = copy.deepcopy(bench)
        for key in ("name", "fullname"):
            twin[key] = twin[key].replace("]", "-b]")
        twin["param"] += "-b"
        twin["extra_info"]["layer"] += "-b"
        twins.append(twin)
    doc["benchmarks"] += twins
    rng = np.random.default_rng(seed)
    for bench in doc["benchmarks"]:
        n = len(bench["stats"]["data"])
        data = [t * time_of(bench["name"]) * math.exp(rng.normal(0, noise)) for t in bench["stats"]["data"]]
        bench["stats"].update(data=data, min=min(data), max=max(data), median=float(np.median(data)))
        if paced:
            bench["extra_info"]["paces_s"] = list(PACE_S * pace_of(bench["name"]) * np.exp(rng.normal(0, 0.01, n)))
    return doc


def names_of(backend: str) -> list[str]:
    return [b["name"] for b in doc_of(0)["benchmarks"] if b["extra_info"]["backend"] == backend]


def compared(tmp_path, base: dict, new: dict):
    paths = []
    for label, doc in (("base", base), ("new", new)):
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    return compare_runs(resolve_run(paths[0], "unused"), resolve_run(paths[1], "unused"))


def by(factor: float, names):
    names = set(names)
    return lambda name: factor if name in names else 1.0


def test_a_whole_backend_slowed_at_a_steady_pace_is_slower(tmp_path):
    # every benchmark of numba-cpu 1.3x slower, the machine's pace unchanged: the code, not the machine (before,
    # the block's common shift counted as noise: every row inconclusive, whatever the size of the slowdown)
    result = compared(tmp_path, doc_of(0), doc_of(1, time_of=by(1.3, names_of("numba-cpu"))))
    rows = result[result["backend"] == "numba-cpu"]
    assert len(rows) == 6 and set(rows["verdict"]) == {"slower"}, rows[["case", "verdict", "note"]]
    assert rows["note"].str.contains("backend").all()
    assert result.attrs["backend_moves"]["numba-cpu"]["verdict"] == "slower"
    assert not result.loc[result["backend"] != "numba-cpu", "verdict"].isin(["slower", "faster"]).any()
    assert exit_code(result) == 1


def test_unchanged_files_at_a_steady_pace_move_no_backend(tmp_path):
    for seed in range(4):
        result = compared(tmp_path, doc_of(10 + seed), doc_of(20 + seed, noise=0.05))
        assert exit_code(result) != 1
        assert {m["verdict"] for m in result.attrs["backend_moves"].values()} <= {"same", "inconclusive"}


def test_without_paces_a_whole_backend_keeps_the_block_rule(tmp_path):
    # no probe read: a slow minute of the machine cannot be told from the code, as before
    result = compared(tmp_path, doc_of(0, paced=False),
                      doc_of(1, time_of=by(1.3, names_of("numba-cpu")), paced=False))
    assert not result["verdict"].isin(["slower", "faster"]).any()
    assert "numba-cpu" not in result.attrs["backend_moves"]


def test_a_block_whose_pace_moved_for_most_benchmarks_keeps_the_block_rule(tmp_path):
    # four of numba-cpu's six benchmarks read the machine 1.1x slower: its block is the machine's to explain
    slow = names_of("numba-cpu")
    result = compared(tmp_path, doc_of(0), doc_of(1, time_of=by(1.3, slow), pace_of=by(1.1, slow[:4])))
    assert "numba-cpu" not in result.attrs["backend_moves"]
    assert not result["verdict"].isin(["slower", "faster"]).any()


def test_a_block_slowed_on_some_rounds_only_is_no_backend_regression(tmp_path):
    # every benchmark's later rounds 1.6x slower, the best rounds untouched: a burst, not the code
    slow = set(names_of("torch"))
    new = doc_of(1)
    for bench in new["benchmarks"]:
        if bench["name"] in slow:
            data = bench["stats"]["data"]
            bench["stats"]["data"] = data[:4] + [t * 1.6 for t in data[4:]]
    result = compared(tmp_path, doc_of(0), new)
    assert not (result.loc[result["backend"] == "torch", "verdict"] == "slower").any()


@pytest.mark.parametrize("moves, steady", [
    ([0.0, 0.0, 0.0, 0.0, 0.0], True),
    ([0.1, 0.12, 0.0, 0.01, -0.02], True),     # two benchmarks' probes moved: the median did not
    ([0.1, 0.12, 0.09, 0.01, -0.02], False),   # most of them moved: the machine did
    ([-0.1, -0.12, -0.09, 0.01, 0.0], False),  # either way
    ([math.log(1.08)] * 3 + [0.0] * 2, False),  # the threshold itself: moved
])
def test_a_block_is_steady_when_its_median_pace_moved_less_than_1_08x(moves, steady):
    attrs = {READ_ATTR: {("numpy", f"case{i}"): m for i, m in enumerate(moves)}}
    assert steady_blocks(attrs) == ({"numpy"} if steady else set())


def test_no_pace_read_no_steady_block():
    assert steady_blocks({}) == set()
    assert steady_blocks({READ_ATTR: {}}) == set()


def test_best_round_ratio():
    assert best_round_log_ratio([2.0, 1.0, 3.0], [2.6, 1.3, 5.0]) == pytest.approx(math.log(1.3))
    assert math.isnan(best_round_log_ratio([0.0, -1.0], [1.0]))
    assert math.isnan(best_round_log_ratio([1.0], []))


def test_block_moves_give_steady_backends_their_best_rounds_and_the_least_move():
    ratios = [(b, math.log(1.3), 0.01) for b in ("numpy", "torch") for _ in range(4)]
    rounds = [([1.0, 2.0], [1.3, 2.6])] * 8
    attrs = {READ_ATTR: {("numpy", "a"): 0.0}}
    back_to_back, moves = block_moves(ratios, 0.01, [math.nan] * 8, set(), rounds, attrs, in_blocks=True)
    assert back_to_back == {"numpy", "torch"}  # a steady block's floor still holds its shift: only the move is new
    assert set(moves) == {"numpy"} and moves["numpy"].least_move == PROCESS_SHIFT
    assert moves["numpy"].fastest_pass_ratio == pytest.approx(1.3)
    # sweeps and several files a side: backend_moves as it was (no least move)
    assert block_moves(ratios, 0.01, [0.2] * 8, set(), rounds, attrs, in_blocks=False)[0] == set()


@pytest.mark.parametrize("ratio, verdict", [(1.2, "inconclusive"), (1.24, "inconclusive"), (1.3, "slower"),
                                            (1 / 1.3, "faster"), (1.0, "same")])
def test_a_steady_block_needs_more_than_a_process_shift(ratio, verdict):
    move = BackendMove(ratio, ratio / 1.02, ratio * 1.02, 5, ratio, least_move=PROCESS_SHIFT)
    assert move.verdict(0.1) == verdict
    assert move.detectable(0.1) == pytest.approx(PROCESS_SHIFT * 1.02)
    assert BackendMove(1.2, 1.18, 1.22, 5, 1.2).verdict(0.1) == "slower"  # a sweep's move: the threshold alone


def ab_doc(seed: int, time_of=lambda name: 1.0):
    """An A/B file: every benchmark of :func:`doc_of` right after its base build's twin (``NAME@base``), this build's
    rounds times ``time_of(name)``."""
    doc = doc_of(seed, time_of=time_of)
    twins = doc_of(seed + 100)["benchmarks"]
    for twin in twins:
        backend = twin["extra_info"]["backend"]
        twin["extra_info"]["backend"] = f"{backend}@base"
        twin["name"] = twin["name"].replace(f"[{backend}-", f"[{backend}@base-")
    doc["benchmarks"] = twins + doc["benchmarks"]
    return doc


def test_the_two_builds_of_one_ab_file_move_as_blocks_too(tmp_path):
    # each benchmark timed beside its twin in one process: this build's numpy 1.6x is the code's; unchanged, nothing
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(ab_doc(0, time_of=by(1.6, names_of("numpy")))))
    result = compare_runs(resolve_run(f"{path}@base", "unused"), resolve_run(str(path), "unused"))
    assert len(result) == 18 and result.attrs["backend_moves"]["numpy"]["verdict"] == "slower"
    assert set(result.loc[result["backend"] == "numpy", "verdict"]) == {"slower"} and exit_code(result) == 1
    assert result.attrs["backend_moves"]["numpy"]["least_move"] == PROCESS_SHIFT
    path.write_text(json.dumps(ab_doc(1)))
    result = compare_runs(resolve_run(f"{path}@base", "unused"), resolve_run(str(path), "unused"))
    assert exit_code(result) != 1 and not result["verdict"].isin(["slower", "faster"]).any()


def test_only_the_backend_with_a_steady_pace_on_every_round_moves(tmp_path):
    # numba-cpu lost the pace of one benchmark in NEW: its block keeps the rule; numpy's moves
    new = doc_of(1, time_of=by(1.6, names_of("numba-cpu") + names_of("numpy")))
    for bench in new["benchmarks"]:
        if bench["name"] == names_of("numba-cpu")[0]:
            del bench["extra_info"]["paces_s"]
    result = compared(tmp_path, doc_of(0), new)
    assert set(result.attrs["backend_moves"]) == {"numpy", "torch"}
    assert set(result.loc[result["backend"] == "numpy", "verdict"]) == {"slower"}
    assert not result.loc[result["backend"] == "numba-cpu", "verdict"].isin(["slower"]).any()


def test_files_of_other_pythons_move_no_block(tmp_path):
    # another interpreter runs the probe's loop at another speed: its readings say nothing of the machine
    new = doc_of(1, time_of=by(1.6, names_of("numba-cpu")))
    new["machine_info"]["python_version"] = "3.12.1"
    result = compared(tmp_path, doc_of(0), new)
    assert result.attrs["backend_moves"] == {}
    assert not result["verdict"].isin(["slower"]).any()


def test_a_stored_floor_wider_than_a_process_shift_raises_the_least_move(tmp_path):
    z = 2.5758
    assert least_move("numpy", None, z) == PROCESS_SHIFT
    assert least_move("numpy", {"backends": {"numpy": {"floor_sd": 0.01}}}, z) == PROCESS_SHIFT
    assert least_move("numpy", {"backends": {"numpy": {"floor_sd": 0.15}}}, z) == pytest.approx(math.exp(z * 0.15))
    assert least_move("numpy", {"backends": {"torch": {"floor_sd": 0.15}}}, z) == PROCESS_SHIFT
    assert least_move("numpy", {"backends": {"numpy": {"floor_sd": float("nan")}}}, z) == PROCESS_SHIFT
    # through the CLI: an A/A pair stored a wide floor; a 1.35x block is then no more than this machine's own shift
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    noisy = by(1.45, names_of("numba-cpu"))
    base.write_text(json.dumps(doc_of(0)))
    new.write_text(json.dumps(doc_of(1, time_of=noisy)))
    assert main(["compare", str(base), str(new), "--save-floor", "--results-dir", str(tmp_path)]) in (0, 1, 3)
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(doc_of(2, time_of=by(1.35, names_of("numba-cpu")))))
    result = compare_runs(resolve_run(str(base), "unused"), resolve_run(str(slow), "unused"))
    assert result.attrs["backend_moves"]["numba-cpu"]["verdict"] == "slower"  # no stored floor: 1.35x > 1.25x
    assert main(["compare", str(base), str(slow), "--results-dir", str(tmp_path)]) != 1
