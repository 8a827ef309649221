"""harness history refusing bad input: damaged database cells, bad options, paths, lists and run metadata."""
from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import harness
from harness.historyrecord import utc_iso
from tests.conftest import run_cli
from tests.test_history import ROOT, digest, series_runs, write_run

VERBS = (["check", "--min-runs", "2"], ["plot", "--min-runs", "2", "--output", "OUT"],
         ["machines", "--output", "OUT/m.png"])


@pytest.fixture(scope="module")
def clean_db(tmp_path_factory) -> Path:
    """A database of six runs of backends a and b (reduce/direct branches included), as history add writes it."""
    folder = tmp_path_factory.mktemp("history")
    ids = series_runs(folder, n=6)
    db = folder / "h.sqlite"
    assert run_cli("history", "add", *ids, "--results-dir", folder, "--db", db).returncode == 0
    return db


def damaged(clean_db, tmp_path, update: str) -> Path:
    """A copy of ``clean_db`` with ``update`` (an SQL statement) applied."""
    db = tmp_path / "damaged.sqlite"
    shutil.copy(clean_db, db)
    con = sqlite3.connect(db)
    con.execute(update)
    con.commit()
    con.close()
    return db


@pytest.mark.parametrize("update, message", [
    ("UPDATE results SET time_s = 'abc' WHERE rowid % 3 = 0", "column time_s holds 'abc', not a number (run r0"),
    ("UPDATE results SET time_s = -1", "column time_s holds -1.0, a time must be a number from 0 to 1e+06 s"),
    ("UPDATE results SET time_s = NULL WHERE rowid % 3 = 0", "time_s holds NULL, the time per call of an ok row must"),
    ("UPDATE results SET time_s = 0", "time_s holds 0.0, the time per call of an ok row must be from 1e-12 to 1e+06 s"),
    ("UPDATE results SET time_s = 9223372036854775807", "time_s holds 9.223372036854776e+18, a time must be a num"),
    ("UPDATE results SET time_min_s = 9e999", "column time_min_s holds inf, a time must be a number from 0 to 1e+06"),
    ("UPDATE results SET time_min_s = 0", "column time_min_s holds 0.0, in an ok row it must be a finite number > 0"),
    ("UPDATE results SET time_min_s = X'0102'", "column time_min_s holds b'\\x01\\x02', not a number"),
    ("UPDATE results SET rounds = 2.5 WHERE rowid = 4", "column rounds holds 2.5, must be a whole number"),
    ("UPDATE results SET N = -1 WHERE rowid = 4", "column N holds -1, must be a whole number from 0 to 2**53"),
    ("UPDATE results SET flops = 9223372036854775807 WHERE role = 'reduce'", "column flops holds 9223372036854775807"),
    ("UPDATE results SET flops = NULL WHERE role = 'direct'", "an ok point of a reduce/conv/direct branch needs it > 0"),
    ("UPDATE results SET gflops = 'fast'", "column gflops holds 'fast', not a number"),
    ("UPDATE results SET rel_ci = -0.5", "column rel_ci holds -0.5, must be a number >= 0"),
    ("UPDATE results SET trusted = 'abc'", "column trusted holds 'abc', must be 0 or 1"),
    ("UPDATE results SET backend = X'00'", "column backend holds b'\\x00', not text"),
    ("UPDATE runs SET started_at = X'00'", "column started_at holds b'\\x00', not text"),
])
def test_a_damaged_cell_is_one_line_for_every_verb_and_the_api(clean_db, tmp_path, update, message):
    db = damaged(clean_db, tmp_path, update)
    before = digest(db)
    for argv in VERBS:
        out = run_cli("history", *[str(tmp_path / "out") + a[3:] if a.startswith("OUT") else a for a in argv],
                      "--db", db)
        assert out.returncode == 2, (argv, out.stdout, out.stderr)
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("harness: error:"), out.stderr
        assert f"{db}: the database is damaged: " in out.stderr and message in out.stderr, out.stderr
    with pytest.raises(ValueError, match="the database is damaged"):
        harness.history(db, samples=True)
    assert digest(db) == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("blob, message", [("X'0102'", "holds 2 bytes, not a whole number of float64 samples"),
                                           ("'abc'", "holds 'abc', not a whole number of float64 samples"),
                                           ("-1", "holds -1, not a whole number of float64 samples"),
                                           ("X'000000000000F0BF'", "holds a sample of -1.0, a sample must be a time"),
                                           ("X'000000000000F07F'", "holds a sample of inf, a sample must be a time"),
                                           ("X'0000000000000000'", "holds a sample of 0.0, a sample must be a time")])
def test_damaged_samples_are_one_line_where_they_are_read(clean_db, tmp_path, blob, message):
    db = damaged(clean_db, tmp_path, f"UPDATE results SET samples_s = {blob} WHERE rowid % 3 = 0")
    for argv in VERBS[1:]:
        out = run_cli("history", *[str(tmp_path / "out") + a[3:] if a.startswith("OUT") else a for a in argv],
                      "--db", db)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert "column samples_s " + message in out.stderr and "(run r0" in out.stderr, out.stderr
    with pytest.raises(ValueError, match="column samples_s"):
        harness.history(db, samples=True)
    assert len(harness.history(db)) == 60  # without samples, they are not read


def test_a_damaged_machines_table_is_one_line(clean_db, tmp_path):
    db = damaged(clean_db, tmp_path, "UPDATE machines SET cpu_count = 'many'")
    out = run_cli("history", "machines", "--db", db, "--output", tmp_path / "out" / "m.png")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "column cpu_count of the machines table holds 'many', not a number" in out.stderr


def test_empty_cells_where_a_run_may_leave_them_are_not_damage(clean_db, tmp_path):
    db = damaged(clean_db, tmp_path, "UPDATE results SET status = 'skipped', time_s = NULL, time_min_s = NULL, "
                                     "samples_s = NULL, rounds = NULL, trusted = NULL WHERE rowid % 7 = 0")
    con = sqlite3.connect(db)  # a failed point of a layer whose shape was invalid: no flops, no bytes
    con.execute("UPDATE results SET status = 'failed', flops = NULL, bytes = NULL, time_s = NULL, Ho = NULL "
                "WHERE role = 'direct' AND rowid % 2 = 0")
    con.commit()
    con.close()
    assert run_cli("history", "check", "--db", db, "--min-runs", "2").returncode in (0, 3)
    table = harness.history(db, samples=True)
    assert (table.loc[table["status"] == "skipped", "samples_s"].map(len) == 0).all()
    assert run_cli("history", "machines", "--db", db, "--output", tmp_path / "m.png").returncode == 0


@pytest.mark.parametrize("value", ["0", "-1", "1", "101"])
def test_min_runs_out_of_range_states_the_real_range(clean_db, value):
    for verb in ("check", "plot"):
        out = run_cli("history", verb, "--db", clean_db, "--min-runs", value)
        assert out.returncode == 2 and out.stderr.count("\n") == 1
        assert "--min-runs: must be between 2 and 100" in out.stderr and ">= 1" not in out.stderr, out.stderr


@pytest.mark.parametrize("since", ["", " ", "nat"])
def test_an_empty_or_unreadable_since_is_refused(clean_db, since):
    out = run_cli("history", "check", "--db", clean_db, "--since", since)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and f"--since {since!r}" in out.stderr


@pytest.mark.parametrize("since, says", [("now", "moves with the clock"), ("today", "moves with the clock"),
                                         ("2999-01-01", "is in the future")])
def test_a_since_that_would_accept_every_change_point_is_refused(clean_db, since, says):
    out = run_cli("history", "check", "--db", clean_db, "--since", since)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and f"--since {since!r} {says}" in out.stderr, out.stderr


def test_utc_iso_refuses_what_is_not_a_date_string():
    assert utc_iso("2026-01-02") == "2026-01-02T00:00:00+00:00" and utc_iso(None) is None and utc_iso("") is None
    for value in ("NaT", 5, 0, 1.5):
        with pytest.raises(ValueError, match="cannot read the date"):
            utc_iso(value)


class DbPath:
    """An os.PathLike that is neither str nor pathlib.Path."""

    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path


def test_history_api_takes_any_path_like(clean_db):
    assert len(harness.history(DbPath(str(clean_db)))) == 60
    assert len(harness.history(DbPath(os.fsencode(clean_db)))) == 60
    for bad in (3, b"h.sqlite", DbPath(3)):
        with pytest.raises(TypeError, match=r"harness.history\(\): db must be a path"):
            harness.history(bad)
    with pytest.raises(ValueError, match="db is an empty path"):
        harness.history("")


@pytest.mark.parametrize("second, message", [("bench_rerun.json@base", "bench_rerun.json@base' is a base build"),
                                             ("r00", "/r00' is not a pytest-benchmark .json file")])
def test_a_list_of_files_with_a_stranger_names_history_add(tmp_path, second, message):
    shutil.copy(ROOT / "tests/data/bench_base.json", tmp_path / "bench_base.json")
    shutil.copy(ROOT / "tests/data/bench_rerun.json", tmp_path / "bench_rerun.json")
    db = tmp_path / "h.sqlite"
    ref = f"{tmp_path / 'bench_base.json'},{tmp_path / second}"
    out = run_cli("history", "add", ref, "--db", db)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"history add {ref!r}: " in out.stderr and message in out.stderr and "one side" not in out.stderr
    assert not db.exists()


@pytest.mark.parametrize("change, message", [
    ({"settings": 5}, "settings"),
    ({"settings": {"target_rel_ci": "abc"}}, "settings.target_rel_ci must be a finite number > 0, got 'abc'"),
    ({"settings": {"target_rel_ci": None}}, "settings.target_rel_ci must be a finite number > 0, got None"),
    ({"settings": {"target_rel_ci": [1]}}, "settings.target_rel_ci must be a finite number > 0, got [1]"),
    ({"settings": {"target_rel_ci": -1}}, "settings.target_rel_ci must be a finite number > 0, got -1"),
    ({"settings": {"target_rel_ci": True}}, "settings.target_rel_ci must be a finite number > 0, got True"),
    ({"started_at": 5}, "started_at must be a string, got int"),
    ({"git_commit": {"sha": "0"}}, "git_commit must be a string, got dict"),
    ({"cpu_model": ["x"]}, "cpu_model must be a string, got list"),
    ({"cpu_count": math.inf}, "cpu_count must be a finite number >= 0, got inf"),
    ({"gpu": {"name": 5}}, "gpu must be a name or an object with a name"),
    ({"peak": {"fma_gflops": 5}}, "peak: the rows cannot be judged against this roof"),
])
def test_bad_run_metadata_is_one_line_naming_file_and_field(tmp_path, change, message):
    files = write_run(tmp_path, "odd", 1)
    table = pd.read_csv(files.table)
    table.drop(columns=["flags", "trusted"]).to_csv(files.table, index=False)  # a run from before the trust columns
    files.metadata.write_text(json.dumps({**json.loads(files.metadata.read_text()), **change}))
    db = tmp_path / "h.sqlite"
    for ref in ("odd", str(files.metadata)):
        out = run_cli("history", "add", ref, "--results-dir", tmp_path, "--db", db)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert str(files.metadata) in out.stderr and message in out.stderr, out.stderr
    assert not db.exists()


@pytest.mark.parametrize("column, value, message", [("N", -1, "column N holds -1, must be a whole number"),
                                                    ("rel_ci", -0.5, "column rel_ci holds -0.5, must be a number >= 0"),
                                                    ("first_call_s", 2e6, "column first_call_s holds 2000000.0")])
def test_history_add_stores_nothing_its_readers_would_refuse(tmp_path, column, value, message):
    files = write_run(tmp_path, "odd", 1)
    table = pd.read_csv(files.table)
    table.loc[3, column] = value  # a run table that its own reader takes
    table.to_csv(files.table, index=False)
    db = tmp_path / "h.sqlite"
    out = run_cli("history", "add", "odd", "--results-dir", tmp_path, "--db", db)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"{files.table}: {message}" in out.stderr and "(run odd, point a|b conv|" in out.stderr, out.stderr
    assert not db.exists()


def test_a_run_whose_failed_point_kept_same_padding_is_recorded_and_read(tmp_path):
    """A failed chain point keeps padding 'same' (its shape could not be built): the table's padding column then
    reads as text ('0', '1', 'same'). history add stored '0' as text and every reader called the database damaged -
    so `sweep --axis k=1,3 --history` measured, then exited 2."""
    write_run(tmp_path, "r0", 1)
    table = pd.read_csv(tmp_path / "r0.csv", keep_default_na=False, dtype=str)
    table.loc[len(table)] = {**table.iloc[0].to_dict(), "backend": "c", "status": "failed", "padding": "same",
                             "reason": "invalid case", "time_s": "", "time_min_s": "", "gflops": "", "rounds": ""}
    table.to_csv(tmp_path / "r0.csv", index=False)
    db = tmp_path / "h.sqlite"
    done = run_cli("history", "add", "r0", "--results-dir", tmp_path, "--db", db)
    assert done.returncode == 0, done.stderr
    stored = harness.history(db)
    assert set(stored["padding"].dropna().astype(str)) == {"0", "1", "same"}
    assert run_cli("history", "check", "--db", db, "--min-runs", "2").returncode in (0, 3)
