"""harness history, as a demanding user asks it: a step with as many runs after it as before is a slowdown, --since
names any run, output never obeys a control character, an empty --db is refused, and sweep --history refuses a
database it could not create before it measures."""
from __future__ import annotations

import json

import pytest

import harness
import harness.commands.history as history_command
from harness.errors import UsageError
from tests.conftest import run_cli
from tests.test_history import MACHINE, series_runs, write_run


def test_a_3x_step_over_three_runs_each_side_is_a_slowdown_and_fails_the_gate(tmp_path):
    ids = series_runs(tmp_path, n=6, stepped=3, factor=3.0)
    db = tmp_path / "h.sqlite"
    assert run_cli("history", "add", *ids, "--db", db, "--results-dir", tmp_path).returncode == 0
    for extra in ((), ("--allow-inconclusive",)):  # the CI recipe's form exited 0 on this 3x slowdown
        result = run_cli("history", "check", "--db", db, *extra)
        assert result.returncode == 1, result.stdout
        assert "r03" in result.stdout


def test_since_names_a_run_that_backend_or_machine_leave_out(tmp_path):
    other = dict(MACHINE, cpu_model="Other CPU")
    ids = series_runs(tmp_path, n=6) + [write_run(tmp_path, "elsewhere", 20, machine=other).run_id]
    db = tmp_path / "h.sqlite"
    assert run_cli("history", "add", *ids, "--db", db, "--results-dir", tmp_path).returncode == 0
    result = run_cli("history", "check", "--db", db, "--machine", "Test CPU", "--since", "elsewhere",
                     "--allow-inconclusive")
    assert result.returncode == 0, result.stderr  # was: "--since 'elsewhere': neither a run id ... nor a date"


def test_history_output_shows_control_characters_and_never_obeys_them(tmp_path):
    files = write_run(tmp_path, "r1", 1, commit="abc\x1b[2J\x1b[31mEVIL",
                      machine=dict(MACHINE, cpu_model="CPU\x1b[41m[bold]X"))
    db = tmp_path / "h.sqlite"
    meta = json.loads(files.metadata.read_text())
    assert "\x1b" in meta["git_commit"]
    for args in (("add", "r1", "--results-dir", tmp_path), ("machines",), ("check",)):
        result = run_cli("history", *args, "--db", db)
        assert "\x1b" not in result.stdout + result.stderr, args
    assert "\\x1b" in run_cli("history", "machines", "--db", db).stdout


def test_an_empty_db_is_refused(tmp_path):
    write_run(tmp_path, "r1", 1)
    result = run_cli("history", "add", "r1", "--db", "", "--results-dir", tmp_path)
    assert result.returncode == 2 and "--db" in result.stderr and "empty" in result.stderr
    assert not (tmp_path / "history.sqlite").exists()


@pytest.mark.parametrize("samples", ["no", 2, None])
def test_history_api_refuses_a_samples_flag_that_is_not_a_bool(tmp_path, samples):
    with pytest.raises(TypeError, match="samples"):
        harness.history(tmp_path / "h.sqlite", samples=samples)
    import numpy as np

    with pytest.raises(ValueError, match="no history database"):  # numpy's bools are bools: on to the database
        harness.history(tmp_path / "h.sqlite", samples=np.True_)


def test_sweep_history_into_a_folder_it_cannot_write_is_refused_before_measuring(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    monkeypatch.setattr(history_command.os, "access", lambda path, mode: False)  # a read-only mount (root or not)
    with pytest.raises(UsageError, match="not writable"):
        history_command.check_history_target(str(folder / "h.sqlite"), str(tmp_path))


def test_a_run_added_while_it_ran_takes_its_final_status_when_added_again(tmp_path):
    import sqlite3

    files = write_run(tmp_path, "r1", 1)
    meta = json.loads(files.metadata.read_text())
    files.metadata.write_text(json.dumps(dict(meta, status="running")))
    db = tmp_path / "h.sqlite"
    assert run_cli("history", "add", "r1", "--db", db, "--results-dir", tmp_path).returncode == 0
    files.metadata.write_text(json.dumps(dict(meta, status="complete")))
    again = run_cli("history", "add", "r1", "--db", db, "--results-dir", tmp_path)
    assert again.returncode == 0 and "already recorded" in again.stdout
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("complete",)]  # stayed 'running'
    files.metadata.write_text(json.dumps(dict(meta, status="running")))  # a stale copy: never a step back
    assert run_cli("history", "add", "r1", "--db", db, "--results-dir", tmp_path).returncode == 0
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("complete",)]


def test_an_inconclusive_step_that_did_not_last_says_so_not_that_it_was_lost_in_noise():
    import numpy as np
    import pandas as pd

    from harness.changepoints import judge_series
    from harness.render.history_view import why_unjudged

    times = [0.956, 0.923, 0.917, 0.935, 1.05, 1.023, 1.041, 1.065, 1.075, 1.0, 1.008, 1.037, 1.057, 0.902, 0.972,
             0.966, 0.929, 0.983, 1.036, 0.884]  # +12% at run 4, the newest runs back: not a lasting change
    n = len(times)
    runs = pd.DataFrame({"time_s": 1e-3 * np.array(times), "run_id": [f"r{i:02d}" for i in range(n)],
                         "git_commit": ["abc"] * n, "started_at": [f"2026-01-{i + 1:02d}" for i in range(n)]})
    verdict = judge_series(runs, 0.1)
    assert verdict["verdict"] == "inconclusive" and verdict["detectable"] < 0.1
    assert why_unjudged(verdict, 0.1) == "a +12% step at run r04 that not every run since has kept"
    noisy = dict(verdict, detectable=0.5)  # was the only reason given: "steps below 7% are lost in its noise"
    assert why_unjudged(noisy, 0.1) == "steps below 50% are lost in its noise"
