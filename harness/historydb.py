"""The history database: every recorded run's points, keyed by machine fingerprint, commit, date and point.

One SQLite file (stdlib, no server; default ``results/history.sqlite``) with four tables:

- ``meta``: ``app`` = ``convbench-history`` and ``schema_version`` (a file without them is foreign, one with a
  newer version was written by a newer convbench: both are refused, nothing is written);
- ``machines``: fingerprint -> label, CPU model, ISA, cores, memory, GPU, threading layer;
- ``runs``: one row per recorded run (identity hash ``run``, run id, machine, git commit, start time, source,
  preset, status, the metadata JSON);
- ``results``: one row per run and point (the run table's contract and trust columns) with its per-round
  samples as ``samples_s``, little-endian float64 bytes.

Why SQLite and not DuckDB: writers in two processes queue on SQLite's lock (``timeout``), while DuckDB refuses a
second process outright; SQLite ships with Python, and recording a run is a few hundred rows, where both are
fast (see docs/history.md for the measurement). Every ``add`` is one ``BEGIN IMMEDIATE`` transaction of
``INSERT OR IGNORE``s: two processes adding at once lose nothing, and adding a run twice adds nothing.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .benchfiles import expand_files, is_file_list
from .historycells import check_cells, check_machine_cells, check_record, samples_of
from .historyrecord import (INTEGER_COLUMNS, MACHINE_FIELDS, STORED_COLUMNS, TEXT_COLUMNS, VERB, Record,
                            machine_label, record_of)
from .runfiles import HISTORY_FILE

APP = "convbench-history"
SCHEMA_VERSION = 1
#: The default database's name in a results folder (harness.runfiles: no run may take it).
DEFAULT_NAME = HISTORY_FILE
#: How long a writer waits for another process's transaction before giving up (seconds).
LOCK_TIMEOUT_S = 120.0
RUN_COLUMNS = ("run", "run_id", "machine", "git_commit", "started_at", "source", "preset", "status", "added_at",
               "metadata")


def default_db(results_dir: str | Path = "results") -> Path:
    """The default database of a results folder: ``RESULTS_DIR/history.sqlite``."""
    return Path(results_dir) / DEFAULT_NAME


def sql_type(column: str) -> str:
    """The declared SQLite type of a stored results column."""
    if column in INTEGER_COLUMNS:
        return "INTEGER"
    return "TEXT" if column in TEXT_COLUMNS else "REAL"


def quoted(name: str) -> str:
    """An SQL identifier in double quotes (``case`` is a keyword)."""
    return '"' + name.replace('"', '""') + '"'


SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS machines (machine TEXT PRIMARY KEY, label TEXT, "
    + ", ".join(f"{f} {'INTEGER' if f in ('cpu_count', 'memory_gib') else 'TEXT'}" for f in MACHINE_FIELDS) + ")",
    "CREATE TABLE IF NOT EXISTS runs (run TEXT PRIMARY KEY, run_id TEXT NOT NULL, machine TEXT NOT NULL "
    "REFERENCES machines(machine), git_commit TEXT, started_at TEXT, source TEXT, preset TEXT, status TEXT, "
    "added_at TEXT, metadata TEXT)",
    "CREATE TABLE IF NOT EXISTS results (run TEXT NOT NULL REFERENCES runs(run), point TEXT NOT NULL, "
    + ", ".join(f"{quoted(c)} {sql_type(c)}" for c in STORED_COLUMNS)
    + ", samples_s BLOB, PRIMARY KEY (run, point))",
    "CREATE INDEX IF NOT EXISTS results_point ON results (point)",
]


def connect(path: str | Path, *, write: bool = False) -> sqlite3.Connection:
    """An open connection to the history database at ``path``, its schema checked.

    Reading needs an existing database; writing creates one where none is. ValueError (one line) for a path
    that is a folder, a file that is not an SQLite database, another program's database, or a newer schema -
    before anything is written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"history database {path} is a directory")
    if not path.exists():
        if not write:
            raise ValueError(f"no history database {path}: record runs with `harness history add RUN...` first")
        if not path.parent.is_dir():
            raise ValueError(f"history database {path}: folder {path.parent} does not exist")
    mode = ("rw" if path.exists() else "rwc") if write else "ro"
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=LOCK_TIMEOUT_S,
                              isolation_level=None)
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open history database {path}: {exc}") from None
    try:
        check_schema(con, path, empty_ok=write)
    except sqlite3.DatabaseError as exc:
        con.close()
        raise ValueError(f"{path} is not a convbench history database ({exc})") from None
    except ValueError:
        con.close()
        raise
    return con


def check_schema(con: sqlite3.Connection, path: Path, empty_ok: bool) -> None:
    """ValueError unless ``con`` is an empty database (when ``empty_ok``) or a convbench history this code reads."""
    tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        if empty_ok:
            return
        raise ValueError(f"history database {path} is empty: record runs with `harness history add RUN...`")
    meta = dict(con.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
    if meta.get("app") != APP or not {"machines", "runs", "results"} <= tables:
        raise ValueError(f"{path} is an SQLite database of another program (tables: {', '.join(sorted(tables))}), "
                         "not a convbench history database")
    version = meta.get("schema_version", "")
    if not version.isdigit():
        raise ValueError(f"{path}: schema version {version!r} is not a number; the database is damaged")
    if int(version) > SCHEMA_VERSION:
        raise ValueError(f"{path} has history schema version {version}, newer than this convbench reads "
                         f"({SCHEMA_VERSION}): upgrade convbench")


def add_records(path: str | Path, records: list[Record]) -> list[tuple[Record, int]]:
    """Store ``records`` in one transaction; return (record, points newly added) for each (0: already there)."""
    from .metadata import now_iso  # lazy: keeps numba out of harness.history() (metadata imports it)

    con = connect(path, write=True)
    try:
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise ValueError(f"cannot write history database {path}: {exc}") from None  # take the write lock now: a concurrent writer waits here, not mid-way
        try:
            for statement in SCHEMA:
                con.execute(statement)
            con.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)",
                            [("app", APP), ("schema_version", str(SCHEMA_VERSION))])
            added = [(record, insert_record(con, record, now_iso())) for record in records]
            con.execute("COMMIT")
        except BaseException as exc:
            if con.in_transaction:  # a COMMIT that failed on a full disk has rolled back already
                con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):  # disk full, read-only file, lock held past the timeout
                raise ValueError(f"cannot write history database {path}: {exc}") from None
            raise
    finally:
        con.close()
    return added


def insert_record(con: sqlite3.Connection, record: Record, added_at: str) -> int:
    """Insert one run's machine, run and points (each only if new); the number of points added."""
    import numpy as np

    con.execute(f"INSERT OR IGNORE INTO machines VALUES ({', '.join('?' * (2 + len(MACHINE_FIELDS)))})",
                [record.machine_id, machine_label(record.machine), *(record.machine.get(f) for f in MACHINE_FIELDS)])
    con.execute(f"INSERT OR IGNORE INTO runs VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                [record.key, record.run_id, record.machine_id, record.git_commit, record.started_at, record.source,
                 record.preset, record.status, added_at, json.dumps(record.metadata, default=str)])
    # a run recorded while it ran (or when it was cut) and added again once finished: its status follows, only
    # forwards (a stale copy that still says "running" does not undo "complete")
    if record.status == "complete":
        con.execute("UPDATE runs SET status = ?, metadata = ? WHERE run = ? AND status IS NOT ?",
                    [record.status, json.dumps(record.metadata, default=str), record.key, record.status])
    columns = ["run", "point", *STORED_COLUMNS, "samples_s"]
    before = con.total_changes
    con.executemany(f"INSERT OR IGNORE INTO results ({', '.join(map(quoted, columns))}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    [[record.key, row["point"], *(row[c] for c in STORED_COLUMNS),
                      np.asarray(row["samples_s"], dtype="<f8").tobytes()] for row in record.rows])
    return con.total_changes - before


def read_history(path: str | Path, *, samples: bool = False):
    """Every stored point as a DataFrame in date order: machine (fingerprint), machine_label, run_id,
    git_commit, started_at, the run table's columns, and with ``samples`` the per-round ``samples_s`` arrays.
    ValueError (one line) for a damaged cell (:func:`harness.historycells.check_cells`)."""
    import pandas as pd

    con = connect(path)
    try:
        columns = ", ".join(f"r.{quoted(c)}" for c in ["point", *STORED_COLUMNS])
        query = (f"SELECT m.machine, m.label AS machine_label, u.run_id, u.git_commit, u.started_at, u.run, "
                 f"u.source, {columns}{', r.samples_s' if samples else ''} FROM results r "
                 "JOIN runs u ON u.run = r.run JOIN machines m ON m.machine = u.machine "
                 "ORDER BY u.started_at, u.run_id, r.rowid")
        table = pd.read_sql_query(query, con)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise ValueError(f"cannot read history database {path}: {exc}") from None
    finally:
        con.close()
    check_cells(table, path)  # every verb and harness.history() read here: a damaged cell is one line
    table["trusted"] = table["trusted"].map(lambda v: None if v is None or v != v else bool(v)).astype(object)
    if samples:
        table["samples_s"] = samples_of(table, path)
    return table


def read_machines(path: str | Path):
    """The machines table of the database (one row per fingerprint) with each machine's number of runs; ValueError
    (one line) for a damaged cell."""
    import pandas as pd

    con = connect(path)
    try:
        machines = pd.read_sql_query("SELECT m.*, COUNT(u.run) AS runs, MIN(u.started_at) AS first_run, "
                                     "MAX(u.started_at) AS last_run FROM machines m LEFT JOIN runs u "
                                     "ON u.machine = m.machine GROUP BY m.machine ORDER BY m.label", con)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise ValueError(f"cannot read history database {path}: {exc}") from None
    finally:
        con.close()
    check_machine_cells(machines, path)
    return machines


def record_sources(path: str | Path, refs: list[str], results_dir: str | Path = "results"):
    """Read every run in ``refs`` (all must be readable: ValueError before anything is written), check the
    database, then store them; returns (record, points added) per run."""
    if not refs:
        raise ValueError("nothing to add: name runs (RUN_ID, results/RUN_ID.csv) or pytest-benchmark JSON files")
    if Path(path).exists():
        connect(path, write=True).close()  # a damaged or foreign database is refused before the runs are read
    records = [record_of(ref, results_dir) for ref in run_refs(refs)]
    for record in records:
        check_record(record)  # nothing goes in that the readers (check_cells) would refuse
    return add_records(path, records)


def run_refs(refs: list[str]) -> list[str]:
    """The runs ``history add`` is given, a comma-separated list or a glob of pytest-benchmark files taken apart
    (each file a run). ValueError naming ``history add`` for an item of a list that is no ``.json`` file (a base
    build ``NAME@base`` among them: it is recorded with its run)."""
    runs = []
    for ref in map(str, refs):
        if not is_file_list(ref):
            runs.append(ref)
            continue
        for item in (part.strip() for part in ref.split(",")):
            if item.endswith("@base"):
                raise ValueError(f"{VERB} {ref!r}: {item!r} is a base build, recorded with its run (as its "
                                 "NAME@base rows); name the file without @base")
            if item and not item.lower().endswith(".json"):
                raise ValueError(f"{VERB} {ref!r}: {item!r} is not a pytest-benchmark .json file; each name in a "
                                 "list of files must be one")
        runs += [str(p) for p in expand_files(ref)]
    return runs
