"""harness history: the database (idempotent, concurrent, refusing bad input), change points, figures, machines."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.historydb import SCHEMA_VERSION, read_history
from harness.results import ALL_COLUMNS, ResultsWriter, RunFiles
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
CASES = [("1x1", 1, None, None), ("3x3", 3, None, None), ("b reduce", 1, "b", "reduce"), ("b conv", 3, "b", "conv"),
         ("b direct", 3, "b", "direct")]
MACHINE = {"cpu_model": "Test CPU", "cpu_isa": "AVX2+FMA", "cpu_count": 2, "memory_gib": 15.6,
           "numba_threading_layer": "omp", "gpu": None}


def write_run(folder, run_id, day, *, scale=None, noise=0.01, seed=0, commit="c0ffee", machine=None):
    """A fake run of backends a and b on CASES (20 rounds each); ``scale`` maps backend -> slowdown factor."""
    rng = np.random.default_rng(seed)
    files = RunFiles(folder, run_id)
    writer = ResultsWriter(files)
    for backend in ("a", "b"):
        for i, (case, k, branch, role) in enumerate(CASES):
            factor = (scale or {}).get(backend, 1.0) * np.exp(rng.normal(0, noise))
            samples = 1e-4 * (i + 1) * factor * rng.lognormal(0, 0.01, 20)
            row = {c: None for c in ALL_COLUMNS}
            row.update(run_id=run_id, backend=backend, device="cpu", case=case, N=1, C=8, H=8, W=8, F=8, k=k,
                       stride=1, padding=k // 2, dtype="float32", threads=2, status="ok", reason="",
                       time_s=float(np.median(samples)), time_min_s=float(samples.min()), rounds=20,
                       flops={"reduce": 1000, "conv": 3000, "direct": 9000}.get(role, 1000 * (i + 1)), bytes=100,
                       gflops=1.0, rel_ci=0.01, flags="", trusted=True, branch=branch, role=role)
            writer.append(row, samples)
    writer.write_metadata({"run_id": run_id, "started_at": f"2026-01-{day:02d}T10:00:00+00:00",
                           "git_commit": commit, "preset": "fake", "status": "complete", **(machine or MACHINE)})
    return files


def series_runs(folder, n=10, stepped=0, factor=1.3, noise=0.01, prefix="r", machine=None):
    """``n`` runs; backend b is ``factor`` x slower in the last ``stepped``; their ids."""
    ids = []
    for i in range(n):
        run_id = f"{prefix}{i:02d}"
        write_run(folder, run_id, i + 1, scale={"b": factor} if i >= n - stepped else None, noise=noise, seed=i,
                  commit=f"{i:07x}abc", machine=machine)
        ids.append(run_id)
    return ids


def digest(path: Path) -> str:
    """The file's SHA-256, to prove nothing was written."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_step_in_one_backend_is_found_named_and_drawn_end_to_end(tmp_path):
    ids = series_runs(tmp_path, stepped=3)
    db = tmp_path / "h.sqlite"
    added = run_cli("history", "add", *ids, "--results-dir", tmp_path, "--db", db)
    assert added.returncode == 0, added.stderr
    assert "r00: 10 of 10 points added" in added.stdout
    check = run_cli("history", "check", "--db", db, "--csv", tmp_path / "check.csv")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "slower" in check.stdout and "run r07" in check.stdout and "0000007ab" in check.stdout
    result = pd.read_csv(tmp_path / "check.csv")
    slower = result[result["verdict"] == "slower"]
    assert set(slower["backend"]) == {"b"} and len(slower) == 5 and set(slower["run_id"]) == {"r07"}
    assert slower["ratio"].between(1.2, 1.4).all() and (slower["ratio_lo"] > 1.1).all()
    assert set(result.loc[result["backend"] == "a", "verdict"]) == {"same"}
    assert run_cli("history", "check", "--db", db, "--since", "r07").returncode == 1
    assert run_cli("history", "check", "--db", db, "--since", "r08").returncode == 0  # the step is accepted
    assert run_cli("history", "check", "--db", db, "--since", "2026-01-09").returncode == 0
    assert run_cli("history", "check", "--db", db, "--since", "soon").returncode == 2
    plot = run_cli("history", "plot", "--db", db, "--output", tmp_path / "plots")
    assert plot.returncode == 0, plot.stderr
    pngs = sorted((tmp_path / "plots").glob("history-*-b.png"))
    assert len(pngs) == 1
    import matplotlib.image
    image = matplotlib.image.imread(pngs[0])
    assert image.shape[1] > 800 and image[..., :3].std() > 0.05  # drawn, not blank
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "slower" in page and "run r07" in page and pngs[0].name in page
    assert "machines.png" in page and (tmp_path / "plots" / "machines.png").stat().st_size > 10_000


def test_an_unchanged_series_passes_and_a_short_one_is_inconclusive(tmp_path):
    ids = series_runs(tmp_path)
    db = tmp_path / "h.sqlite"
    assert run_cli("history", "add", *ids[:4], "--results-dir", tmp_path, "--db", db).returncode == 0
    short = run_cli("history", "check", "--db", db)
    assert short.returncode == 3 and "too short or too noisy" in short.stdout
    assert run_cli("history", "check", "--db", db, "--allow-inconclusive").returncode == 0
    assert run_cli("history", "add", *ids[4:], "--results-dir", tmp_path, "--db", db).returncode == 0
    clean = run_cli("history", "check", "--db", db)
    assert clean.returncode == 0 and "10 same" in clean.stdout and "no slowdown" in clean.stdout


def test_adding_twice_adds_nothing_and_history_returns_what_was_stored(tmp_path):
    import harness

    files = write_run(tmp_path, "one", 1)
    db = tmp_path / "h.sqlite"
    assert run_cli("history", "add", "one", "--results-dir", tmp_path, "--db", db).returncode == 0
    again = run_cli("history", "add", str(files.table), str(files.metadata), "--db", db)
    assert again.returncode == 0 and again.stdout.count("already recorded (10 points)") == 2
    table = harness.history(db, samples=True)
    assert len(table) == 10 and set(table["run_id"]) == {"one"}
    assert table["started_at"].iloc[0] == "2026-01-01T10:00:00+00:00" and table["git_commit"].iloc[0] == "c0ffee"
    assert table["machine_label"].iloc[0] == "Test CPU, AVX2+FMA, 2 cores, 16 GiB" and len(table["machine"][0]) == 12
    samples = pd.read_csv(files.samples)
    stored = table.set_index("case").loc["3x3"]
    stored = stored[stored["backend"] == "b"].iloc[0]
    expected = samples[(samples["backend"] == "b") & (samples["case"] == "3x3")]["time_s"].to_numpy()
    np.testing.assert_array_equal(stored["samples_s"], expected)
    assert stored["trusted"] is True and stored["status"] == "ok" and stored["rel_ci"] == 0.01
    with pytest.raises(TypeError, match="db must be a path"):
        harness.history(3)
    with pytest.raises(ValueError, match="no history database"):
        harness.history(tmp_path / "none.sqlite")


def test_a_machine_is_known_by_its_fingerprint_not_its_host_name(tmp_path):
    write_run(tmp_path, "x", 1, machine=dict(MACHINE, host="alpha"))
    write_run(tmp_path, "y", 2, machine=dict(MACHINE, host="beta", memory_gib=15.9))
    write_run(tmp_path, "z", 3, machine=dict(MACHINE, cpu_count=4))
    db = tmp_path / "h.sqlite"
    assert run_cli("history", "add", "x", "y", "z", "--results-dir", tmp_path, "--db", db).returncode == 0
    machines = read_history(db).groupby("run_id")["machine"].first()
    assert machines["x"] == machines["y"] != machines["z"]


def bad_database(tmp_path, kind) -> Path:
    """A --db that must be refused: text, another program's SQLite file, a newer schema, a folder."""
    path = tmp_path / "bad.sqlite"
    if kind == "text":
        path.write_text("run_id,backend\nx,numpy\n")
    elif kind == "directory":
        path.mkdir()
    else:
        write_run(tmp_path, "seed", 1)
        assert run_cli("history", "add", "seed", "--results-dir", tmp_path, "--db", path).returncode == 0
        con = sqlite3.connect(path)
        if kind == "foreign":
            con.execute("UPDATE meta SET value = 'someone-else' WHERE key = 'app'")
        else:
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
        con.commit()
        con.close()
    return path


@pytest.mark.parametrize("kind, message", [("text", "not a convbench history database"),
                                           ("foreign", "another program"), ("newer", "newer than this convbench"),
                                           ("directory", "is a directory")])
def test_a_damaged_foreign_or_newer_database_is_one_line_exit_2_and_untouched(tmp_path, kind, message):
    db = bad_database(tmp_path, kind)
    write_run(tmp_path, "new", 2)
    before = digest(db) if db.is_file() else None
    for argv in (["add", "new", "--results-dir", tmp_path], ["check"], ["plot", "--output", tmp_path / "p"],
                 ["machines", "--output", tmp_path / "p" / "m.png"]):
        out = run_cli("history", *argv, "--db", db)
        assert out.returncode == 2, (argv, out.stdout)
        assert message in out.stderr and out.stderr.count("\n") == 1 and out.stderr.startswith("harness: error:")
    assert (digest(db) if db.is_file() else None) == before
    assert not (tmp_path / "p").exists()


BAD_FILES = {"empty.json": lambda doc: json.dumps({**doc, "benchmarks": []}), "e.csv": lambda doc: "a,b\n1,2\n",
             "date.json": lambda doc: json.dumps({**doc, "datetime": "soon"}),
             "id.json": lambda doc: json.dumps({**doc, "commit_info": {"id": {"sha": "0"}}})}  # text from bench_base


def bad_file(tmp_path, ref: str) -> str:
    """``ref`` as history add is given it: a file of tests/, a file of BAD_FILES written to ``tmp_path``, a run id."""
    if ref in BAD_FILES:
        (tmp_path / ref).write_text(BAD_FILES[ref](json.loads((ROOT / "tests/data/bench_base.json").read_text())))
        return str(tmp_path / ref)
    return str(ROOT / ref) if ref.startswith("tests/") else ref


@pytest.mark.parametrize("ref, message", [("nosuchrun", "no such run"),
                                          ("tests/data/bench_nodata.json", "history add needs per-round times"),
                                          ("tests/data/not_benchmark.json", "not a pytest-benchmark JSON"),
                                          ("empty.json", "empty.json holds no benchmarks: nothing to record"),
                                          ("date.json", "date.json: datetime: cannot read the date 'soon'"),
                                          ("id.json", "id.json: commit_info.id must be a string"),
                                          ("e.csv", "e.samples.csv; history add needs per-round samples")])
def test_bad_runs_are_refused_and_nothing_is_written(tmp_path, ref, message):
    write_run(tmp_path, "good", 1)
    db = tmp_path / "h.sqlite"
    ref = bad_file(tmp_path, ref)
    out = run_cli("history", "add", "good", ref, "--results-dir", tmp_path, "--db", db)
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1
    assert not db.exists()
    assert run_cli("history", "add", "good", "--results-dir", tmp_path, "--db", db).returncode == 0
    before = digest(db)
    assert run_cli("history", "add", ref, "--results-dir", tmp_path, "--db", db).returncode == 2
    assert digest(db) == before
    missing = run_cli("history", "check", "--db", tmp_path / "none.sqlite")
    assert missing.returncode == 2 and "no history database" in missing.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_pytest_benchmark_json_is_recorded_with_its_machine(tmp_path):
    db = tmp_path / "h.sqlite"
    out = run_cli("history", "add", ROOT / "tests/data/bench_base.json", ROOT / "tests/data/bench_rerun.json",
                  "--db", db)
    assert out.returncode == 0, out.stderr
    table = read_history(db, samples=True)
    assert set(table["run_id"]) == {"bench_base", "bench_rerun"}
    assert table["machine_label"].str.startswith("Intel(R) Xeon(R) Processor").all()
    assert (table["samples_s"].map(len) > 1).all() and (table["status"] == "ok").all()


ADD_WHEN_TOLD = """
import sys, time
from pathlib import Path
from harness.cli import main
import harness.commands.history, harness.comparison, harness.historyrecord, harness.historydb, pandas  # noqa
go = Path(sys.argv[1])
Path(sys.argv[2]).touch()  # ready: imports done
while not go.exists():
    time.sleep(0.005)
sys.exit(main(sys.argv[3:]))
"""


def test_two_processes_adding_at_once_lose_nothing(tmp_path):
    ids = series_runs(tmp_path, n=8)
    db, go = tmp_path / "h.sqlite", tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", ADD_WHEN_TOLD, str(go), "READY", "history", "add", "--results-dir",
               str(tmp_path), "--db", str(db)]
    ready = [tmp_path / "ready1", tmp_path / "ready2"]
    first, second = (subprocess.Popen([str(r) if a == "READY" else a for a in command] + part, cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for r, part in zip(ready, (ids[:5], ids[3:])))
    assert run_cli("history", "add", ids[0], "--results-dir", tmp_path, "--db", db).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a third writer holds the lock while both start: they must queue, not fail
    import time
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.05)  # both import the harness, then wait for the go
    go.touch()
    time.sleep(3)  # both read their runs and wait for the lock
    holder.execute("COMMIT")
    holder.close()
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    table = read_history(db)
    assert len(table) == 8 * 10 and not table.duplicated(["run", "point"]).any()
    assert sorted(table["run_id"].unique()) == ids
    assert sum(out.decode().count("already recorded") for out, _ in outs) == 3  # r00, then r03, r04 once


def test_machines_side_by_side(tmp_path):
    series_runs(tmp_path, n=2, prefix="p")
    series_runs(tmp_path, n=1, prefix="q", machine=dict(MACHINE, cpu_model="Other CPU", gpu={"name": "GPU X"}))
    db = tmp_path / "h.sqlite"
    assert run_cli("history", "add", "p00", "p01", "q00", "--results-dir", tmp_path, "--db", db).returncode == 0
    out = run_cli("history", "machines", "--db", db, "--output", tmp_path / "m" / "machines.png",
                  "--csv", tmp_path / "m.csv")
    assert out.returncode == 0, out.stderr
    assert "GPU X (Other CPU" in out.stdout and "Test CPU, AVX2+FMA" in out.stdout
    table = pd.read_csv(tmp_path / "m.csv")
    assert len(table) == 4 and set(table["backend"]) == {"a", "b"} and table["machine"].nunique() == 2
    assert set(table.loc[table["machine_label"].str.startswith("Test"), "run_id"]) == {"p01"}  # the newest run
    assert (table["flop_saving"] == 9000 / 4000).all() and table["time_saving_lo"].notna().all()
    assert (tmp_path / "m" / "machines.png").stat().st_size > 10_000
    assert run_cli("history", "plot", "--db", db, "--output", tmp_path / "p").returncode == 0
    drawn = sorted(p.name for p in (tmp_path / "p").glob("*.png"))
    test_cpu = table.loc[table["machine_label"].str.startswith("Test"), "machine"].iloc[0]
    assert drawn == [f"history-{test_cpu}-a.png", f"history-{test_cpu}-b.png", "machines.png"]  # q00: one run


def test_sweep_history_records_the_finished_run(results_dir):
    db = results_dir / "h.sqlite"
    out = run_cli("sweep", "--preset", "smoke", "--backends", "numpy", "--budget-s", "0.02", "--repeats", "1",
                  "--settle-s", "0", "--no-fused", "--in-process", "--no-plots", "--no-report", "--quiet",
                  "--run-id", "s1", "--results-dir", results_dir, "--history", db)
    assert out.returncode == 0, out.stderr
    assert "points of run s1 recorded" in out.stdout
    table = read_history(db)
    assert set(table["run_id"]) == {"s1"} and (table.loc[table["backend"] == "numpy", "status"] == "ok").all()
    bad = results_dir / "bad.sqlite"
    bad.write_text("not a database")
    refused = run_cli("sweep", "--preset", "smoke", "--backends", "numpy", "--run-id", "s2", "--results-dir",
                      results_dir, "--history", bad, "--quiet")
    assert refused.returncode == 2 and "--history" in refused.stderr
    assert not RunFiles(results_dir, "s2").existing()
