"""Why the history database is SQLite: record the same runs in SQLite and in DuckDB, read them back, and let two
processes write at once.

Usage: PYTHONPATH=. python scripts/history_db_choice.py RESULTS_DIR RUN_ID... [--duckdb-path DIR]
(DuckDB is not a dependency: install it anywhere, e.g. ``pip install --target /tmp/duck duckdb``, and pass that
folder as --duckdb-path.) Prints, per engine: import time, time to record the runs (one transaction), time to
read every point back as a DataFrame, file size, and whether a second process writing at the same time waits
(SQLite) or fails (DuckDB holds an exclusive file lock per process).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness.historydb import add_records, read_history
from harness.historyrecord import STORED_COLUMNS, record_of

HOLD = """
import sys, time
sys.path.insert(0, {path!r})
import duckdb
con = duckdb.connect({db!r})
con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
con.execute("BEGIN TRANSACTION"); con.execute("INSERT INTO t VALUES (1)")
time.sleep(3); con.execute("COMMIT")
"""


def duck_frame(records) -> pd.DataFrame:
    """The records as one DataFrame of results rows (what DuckDB ingests fastest)."""
    rows = [{"run": r.key, **{c: row[c] for c in ("point", *STORED_COLUMNS)},
             "samples_s": np.asarray(row["samples_s"], dtype="<f8").tobytes()} for r in records for row in r.rows]
    return pd.DataFrame(rows)


def measure_duckdb(records, folder: Path, path: str) -> dict:
    """Time DuckDB on the same rows; and whether a second writer process can get in."""
    sys.path.insert(0, path)
    t0 = time.perf_counter()
    import duckdb
    out = {"import_s": time.perf_counter() - t0}
    db = folder / "history.duckdb"
    frame = duck_frame(records)
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE results AS SELECT * FROM frame")
    con.close()
    out["record_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    con = duckdb.connect(str(db), read_only=True)
    back = con.execute("SELECT * FROM results").df()
    con.close()
    out.update(read_s=time.perf_counter() - t0, rows=len(back), size_kib=db.stat().st_size / 1024)
    lock_db = folder / "lock.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD.format(path=path, db=str(lock_db))])
    time.sleep(1.5)
    second = subprocess.run([sys.executable, "-c", HOLD.format(path=path, db=str(lock_db)).replace("sleep(3)",
                             "sleep(0)")], capture_output=True, text=True)
    holder.wait()
    out["second_writer"] = "ok" if second.returncode == 0 else second.stderr.strip().splitlines()[-1][:120]
    return out


def measure_sqlite(records, folder: Path) -> dict:
    """Time SQLite (the harness's own code path) on the records; two writers at once."""
    t0 = time.perf_counter()
    import sqlite3  # noqa: F401
    out = {"import_s": time.perf_counter() - t0}
    db = folder / "history.sqlite"
    t0 = time.perf_counter()
    add_records(db, records)
    out["record_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    back = read_history(db, samples=True)
    out.update(read_s=time.perf_counter() - t0, rows=len(back), size_kib=db.stat().st_size / 1024)
    code = ("import sqlite3, time; c = sqlite3.connect({db!r}, timeout=30, isolation_level=None); "
            "c.execute('CREATE TABLE IF NOT EXISTS t (x INTEGER)'); c.execute('BEGIN IMMEDIATE'); "
            "c.execute('INSERT INTO t VALUES (1)'); time.sleep({s}); c.execute('COMMIT')")
    holder = subprocess.Popen([sys.executable, "-c", code.format(db=str(folder / "lock.sqlite"), s=3)])
    time.sleep(1.5)
    second = subprocess.run([sys.executable, "-c", code.format(db=str(folder / "lock.sqlite"), s=0)],
                            capture_output=True, text=True)
    holder.wait()
    out["second_writer"] = "waited, then ok" if second.returncode == 0 else second.stderr.strip()[-120:]
    return out


def main() -> None:
    """Print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results_dir")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--duckdb-path", default=None)
    args = ap.parse_args()
    records = [record_of(r, args.results_dir) for r in args.runs]
    print(f"{len(records)} runs, {sum(len(r.rows) for r in records)} points, "
          f"{sum(len(row['samples_s']) for r in records for row in r.rows)} samples")
    with tempfile.TemporaryDirectory() as tmp:
        results = {"sqlite": measure_sqlite(records, Path(tmp))}
        if args.duckdb_path:
            results["duckdb"] = measure_duckdb(records, Path(tmp), args.duckdb_path)
    for engine, r in results.items():
        print(f"{engine}: import {r['import_s'] * 1e3:.0f} ms, record {r['record_s'] * 1e3:.0f} ms, read back "
              f"{r['rows']} points {r['read_s'] * 1e3:.0f} ms, file {r['size_kib']:.0f} KiB; a second writer "
              f"process: {r['second_writer']}")


if __name__ == "__main__":
    main()
