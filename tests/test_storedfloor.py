"""The stored noise floor of an A/A pair is a quiet machine's: no burst, no busy neighbour, no backend from two
points - and nothing at all, said plainly, when nothing is left (an empty entry silenced compare's warning)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.cli import main
from harness.noisefloor import load_floors
from harness.storedfloor import MIN_STORED_ROWS, calibration_entry, left_out_lines, store_calibrated_floor

from .test_compare_rule import CASES, write_run


def with_shares(run, shares: dict, default: float = 0.02):
    """Set ``others_share`` of ``run``'s table: ``shares`` maps (backend, case) to a share, every other point
    ``default``."""
    table = pd.read_csv(run.table)
    table["others_share"] = [shares.get((b, c), default) for b, c in zip(table["backend"], table["case"])]
    table.to_csv(run.table, index=False)
    return run


def pair(tmp_path, base_shares=None, new_shares=None, base_default=0.02, new_default=0.02):
    """An A/A pair of fake runs (backends a and b, passes known) with these shares."""
    base = with_shares(write_run(tmp_path, "base", seed=1, passes=3), base_shares or {}, base_default)
    new = with_shares(write_run(tmp_path, "new", seed=2, passes=3), new_shares or {}, new_default)
    return base, new


def test_a_pair_made_beside_a_busy_process_throughout_stores_nothing_and_says_why(tmp_path):
    base, new = pair(tmp_path, base_default=0.45, new_default=0.5)
    entry = calibration_entry(base, new)
    assert entry["backends"] == {} and entry["contended_left_out"] == 2 * len(CASES)
    with pytest.raises(ValueError, match=r"no noise floor stored \(.*noise.json unchanged\): no backend kept 3 points .*"
                                         r"points kept: a 0, b 0; 16 left out: 16 contended in either run"):
        store_calibrated_floor(base, new, tmp_path / "out")
    assert not (tmp_path / "out" / "noise.json").exists()  # compare still warns that no floor is stored
    code = main(["compare", "base", "new", "--results-dir", str(tmp_path), "--save-floor"])
    assert code == 2 and load_floors(tmp_path, "cpu") is None


def test_points_contended_in_either_run_are_left_out_and_a_backend_left_with_two_keeps_its_old_floor(tmp_path):
    base, new = pair(tmp_path)
    first = store_calibrated_floor(base, new, tmp_path)[1]
    assert set(first["backends"]) == {"a", "b"} and first["contended_left_out"] == 0 and not left_out_lines(first)
    busy = {("a", c): 0.4 for c in CASES[:len(CASES) - MIN_STORED_ROWS + 1]}  # a keeps 2 points
    busy[("b", CASES[0])] = 0.3
    with_shares(new, {k: v for k, v in busy.items() if k[0] == "a"})
    with_shares(base, {("b", CASES[0]): 0.3})  # contended in BASE alone counts too
    second = store_calibrated_floor(base, new, tmp_path)[1]
    assert set(second["backends"]) == {"b"} and second["backends"]["b"]["rows"] == len(CASES) - 1
    assert second["too_few_rows"] == {"a": MIN_STORED_ROWS - 1} and second["contended_left_out"] == len(busy)
    stored = json.loads((tmp_path / "noise.json").read_text())["cpu"]["backends"]
    assert stored["a"]["rows"] == len(CASES) and stored["b"]["rows"] == len(CASES) - 1  # a's earlier floor stays
    lines = left_out_lines(second)
    assert lines[0].startswith(f"left out: {len(busy)} point(s) that met other busy processes in either run")
    assert lines[1] == "no new floor for a: 2 point(s) left, 3 needed (an earlier floor of it, if stored, stays)"


def test_compare_save_floor_prints_the_comparison_first_and_what_it_left_out(tmp_path, capsys):
    base, new = pair(tmp_path, new_shares={("a", CASES[0]): 0.5})
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path), "--save-floor"]) in (0, 3)
    out = capsys.readouterr().out
    assert "stored the spread of this A/A pair as the noise floor of a, b in" in out
    assert "left out: 1 point(s) that met other busy processes in either run" in out
    assert out.index("base -> new") < out.index("stored the spread")  # the comparison is shown first
