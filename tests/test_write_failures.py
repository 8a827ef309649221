"""Output that cannot be delivered. A disk that fails while a command writes: one line and exit 2 (never 1, which
compare and history check use for a regression), no traceback, no temporary file left, and an existing page or
database left as it was. A reader of standard output that goes away (``| head``): the command keeps its exit code."""
from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import harness.commands.compare as compare_command
import harness.commands.history as history_command
import harness.durable as durable
import harness.historydb as historydb
import harness.peak_store as peak_store
from harness.render.html import write_index
from tests.conftest import run_cli, seed_peak
from tests.test_history import series_runs, write_run


def disk_full(*args, **kwargs):
    """Stands in for a write on a full disk."""
    raise OSError(errno.ENOSPC, "No space left on device", str(args[0]) if args else None)


def assert_one_line_exit_2(result, *words):
    """The CLI's contract for an unusable request or environment."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if ": warning: " not in line]
    assert len(lines) == 1 and lines[0].startswith("harness: error:") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("option, name", [("--markdown", "c.md"), ("--html", "c.html")])
def test_compare_writing_its_report_on_a_full_disk_exits_2_not_1(tmp_path, monkeypatch, option, name):
    write_run(tmp_path, "base", 1)
    write_run(tmp_path, "new", 2, scale={"b": 2.0}, seed=1)  # a real regression: exit 1 when the write works
    assert run_cli("compare", "base", "new", "--results-dir", tmp_path).returncode == 1
    monkeypatch.setattr(compare_command, "atomic_write_text", disk_full)
    monkeypatch.setattr("harness.render.html.atomic_write_text", disk_full)
    result = run_cli("compare", "base", "new", "--results-dir", tmp_path, option, tmp_path / name)
    assert_one_line_exit_2(result, "No space left on device", name)
    assert not (tmp_path / name).exists()


def test_history_check_csv_on_a_full_disk_exits_2(tmp_path, monkeypatch):
    db = tmp_path / "h.sqlite"
    ids = series_runs(tmp_path, n=6)
    assert run_cli("history", "add", *ids, "--db", db, "--results-dir", tmp_path).returncode == 0
    monkeypatch.setattr(history_command, "atomic_write_text", disk_full)
    result = run_cli("history", "check", "--db", db, "--csv", tmp_path / "c.csv")
    assert_one_line_exit_2(result, "--csv", "No space left on device")


class CommitFails:
    """A connection whose COMMIT fails the way SQLite's does on a full disk: the transaction is rolled back first."""

    def __init__(self, con):
        self.con = con

    def execute(self, sql, *args):
        if sql.strip().upper() == "COMMIT":
            self.con.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_history_add_whose_commit_fails_names_the_disk_and_keeps_the_database(tmp_path, monkeypatch):
    db = tmp_path / "h.sqlite"
    first, second = series_runs(tmp_path, n=2)
    assert run_cli("history", "add", first, "--db", db, "--results-dir", tmp_path).returncode == 0
    real = historydb.connect
    monkeypatch.setattr(historydb, "connect", lambda path, write=False: CommitFails(real(path, write=write)))
    result = run_cli("history", "add", second, "--db", db, "--results-dir", tmp_path)
    assert_one_line_exit_2(result, "database or disk is full")  # was: "cannot rollback - no transaction is active"
    monkeypatch.setattr(historydb, "connect", real)
    assert set(historydb.read_history(db)["run_id"]) == {first}


def test_a_roof_that_cannot_be_stored_leaves_no_temporary_file(tmp_path, monkeypatch):
    seed_peak(tmp_path)
    stored = (tmp_path / "peak.json").read_text()
    real_fsync = durable.os.fsync
    monkeypatch.setattr(durable.os, "fsync", lambda fd: disk_full())
    with pytest.raises(OSError):
        seed_peak(tmp_path)
    monkeypatch.setattr(durable.os, "fsync", real_fsync)
    assert (tmp_path / "peak.json").read_text() == stored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peak.json"]
    assert peak_store.load_peak(tmp_path) is not None


def test_the_cli_turns_any_failed_write_into_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setattr("harness.commands.peak.cached_peak", disk_full)
    assert_one_line_exit_2(run_cli("peak", "--results-dir", tmp_path), "No space left on device")


def test_an_index_page_that_cannot_be_rewritten_stays_as_it_was(tmp_path, monkeypatch):
    write_run(tmp_path, "r1", 1)
    page = write_index(tmp_path, tmp_path / "plots")
    before = page.read_text()
    assert "r1" in before
    write_run(tmp_path, "r2", 2)
    monkeypatch.setattr(durable.os, "fsync", lambda fd: disk_full())
    result = run_cli("report", "--index", "--results-dir", tmp_path, "--plots-dir", tmp_path / "plots")
    assert_one_line_exit_2(result, "No space left on device", "index.html")  # the page named, not only errno 28
    assert page.read_text() == before  # was truncated to 0 bytes
    assert [p.name for p in page.parent.iterdir() if p.is_file()] == ["index.html"]


def test_a_figure_that_cannot_be_written_leaves_the_old_one_and_no_cut_file(tmp_path, monkeypatch):
    import matplotlib.figure

    from harness.render.plotting import pyplot, save_figure

    path = tmp_path / "f.png"
    save_figure(pyplot().figure(), path)
    before = path.read_bytes()

    def cut_write(self, fname, **kwargs):
        fname.write(b"\x89PNG")  # a few bytes, then the disk is full
        disk_full()

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", cut_write)
    with pytest.raises(OSError):
        save_figure(pyplot().figure(), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]

ROOT = Path(__file__).resolve().parent.parent


def test_a_reader_that_goes_away_does_not_turn_the_exit_code_into_a_regression():
    # `harness compare A B | head -1` under `set -o pipefail`: rich exited 1 (compare's "regression") on EPIPE
    ref = str(ROOT / "results" / "example.csv")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "compare", ref, ref], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(20)
    proc.stdout.close()  # the reader is gone before most of the table is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err  # identical runs: exit 0, as with the whole output read


def test_plain_output_to_a_closed_reader_keeps_the_exit_code_and_the_work(tmp_path):
    # history add prints with print(), not rich: the BrokenPipeError became "harness: error: Broken pipe", exit 2
    read_end, write_end = os.pipe()
    os.close(read_end)
    db = tmp_path / "h.sqlite"
    done = subprocess.run([sys.executable, "-m", "harness", "history", "add", "results/example.csv", "--db", str(db)],
                          cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    os.close(write_end)
    assert done.returncode == 0 and b"Broken pipe" not in done.stderr, done.stderr
    assert "already recorded" in run_cli("history", "add", ROOT / "results/example.csv", "--db", db).stdout


def test_a_figure_keeps_its_mode_and_a_path_without_a_suffix_gets_the_default_format(tmp_path):
    from harness.render.plotting import pyplot, save_figure

    path = tmp_path / "f.png"
    path.write_bytes(b"old")
    path.chmod(0o600)
    save_figure(pyplot().figure(), path)
    assert path.read_bytes().startswith(b"\x89PNG") and (path.stat().st_mode & 0o777) == 0o600
    assert save_figure(pyplot().figure(), tmp_path / "plain") == tmp_path / "plain.png"  # as savefig names it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "plain.png"]


def test_a_markdown_report_is_written_through_a_link_the_user_named_and_keeps_its_mode(tmp_path):
    write_run(tmp_path, "base", 1)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "r.md"
    target.write_text("old")
    target.chmod(0o600)
    (tmp_path / "r.md").symlink_to(target)
    assert run_cli("compare", "base", "base", "--results-dir", tmp_path, "--markdown", tmp_path / "r.md").returncode == 0
    assert (tmp_path / "r.md").is_symlink() and "convbench compare" in target.read_text()
    assert (target.stat().st_mode & 0o777) == 0o600


def test_a_page_that_cannot_replace_its_target_names_the_target_not_the_temporary_file(tmp_path):
    write_run(tmp_path, "r1", 1)
    (tmp_path / "plots" / "index.html").mkdir(parents=True)  # the rename fails: a directory holds the name
    result = run_cli("report", "--index", "--results-dir", tmp_path, "--plots-dir", tmp_path / "plots")
    assert_one_line_exit_2(result, "index.html")
    assert ".tmp" not in result.stderr
