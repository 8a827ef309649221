"""A point the machine's state moved in one run enters no backend's move - only a point that moved, and only
towards the run whose row carries the flag, and by no more than that state explains.

The seen case (Zen 2 VM, 2026-12-05): six of nine numba-cpu points of an unchanged smoke run ran in the slow
hand-off state throughout, 1.8-1.9x; they moved numba-cpu as a whole and a seventh point shared that move: exit 1.
The first rule left out every point whose flags differed, and numpy - whose BLAS the state flagged but did not
slow - lost its move in 10 of 30 unchanged pairs.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.comparison import exit_code
from harness.handoff import SLOW_FLAG, SLOW_HANDOFF_MAX
from harness.interference import state_moved
from harness.settings import DISTURBED_MAX

from .test_compare_rule import judged
from .test_handoff import SLOW_S, runs, set_handoffs

UP, DOWN = math.log(1.5), -math.log(1.5)


def row(base=None, new=None) -> dict:
    """A merged row with these ``flags`` of BASE and NEW."""
    return {"flags_base": base, "flags_new": new}


@pytest.mark.parametrize("flags, log_ratio, moved", [
    (row(new=SLOW_FLAG), UP, True),  # towards the flagged run: the state may be the move
    (row(base=SLOW_FLAG), DOWN, True),
    (row(new=f"noisy;{SLOW_FLAG}"), UP, True),
    (row(new="unsettled"), UP, True),
    (row(new="disturbed"), UP, True),
    (row(new=SLOW_FLAG), DOWN, False),  # away from it: not the state's doing
    (row(base=SLOW_FLAG), UP, False),
    (row(new=SLOW_FLAG), math.log(1.05), False),  # within the threshold: no move at all
    (row(base=SLOW_FLAG, new=SLOW_FLAG), UP, False),  # both runs in the state: a copy slowed alike
    (row(base="disturbed", new=f"disturbed;{SLOW_FLAG}"), UP, True),
    (row(new="noisy;passes-disagree"), UP, False),  # not the machine's state
    (row(new=SLOW_FLAG), math.log(SLOW_HANDOFF_MAX * 1.1), False),  # beyond what the state explains
    (row(new="disturbed"), math.log(DISTURBED_MAX * 1.1), False),
    (row(new=f"disturbed;{SLOW_FLAG}"), math.log(DISTURBED_MAX * 1.1), True),  # the hand-off still explains it
    (row(new=float("nan"), base=float("nan")), UP, False),
    (row(new=pd.NA), UP, False),
    ({}, UP, False),  # pytest-benchmark JSON: no flags column
    (row(new=SLOW_FLAG), float("nan"), False),
])
def test_state_moved_only_a_move_towards_the_flagged_run_that_the_state_explains(flags, log_ratio, moved):
    assert state_moved(pd.Series(flags, dtype=object), log_ratio, 0.1) is moved


def test_a_backend_the_state_flagged_but_did_not_slow_keeps_its_move(tmp_path):
    # every pass of b in NEW read slow, its times unchanged (numpy's BLAS on the Zen 2 VM): b still moves "same";
    # a, slowed 1.3x in code and read as usual, is caught as a whole
    _, new = runs(tmp_path, 1.3)
    set_handoffs(new, {"b": [SLOW_S] * 5})
    result = judged(tmp_path, "base", "new")
    moves = result.attrs["backend_moves"]
    assert moves["b"]["verdict"] == "same" and moves["b"]["points"] == 8
    assert moves["a"]["verdict"] == "slower" and exit_code(result) == 1


def test_a_copy_slowed_with_the_same_flags_on_both_sides_moves_its_backend(tmp_path):
    base, new = runs(tmp_path, 1.3)
    for run in (base, new):  # both runs in the state throughout: it explains nothing between them
        set_handoffs(run, {"a": [SLOW_S] * 5})
    result = judged(tmp_path, "base", "new")
    assert result.attrs["backend_moves"]["a"]["verdict"] == "slower" and exit_code(result) == 1
    assert (result.query("backend == 'a'")["verdict"] == "slower").all()
