"""``harness history {add,check,plot,machines}``: the database of every run, change points, the seed question per machine.

The storage lives in :mod:`harness.historydb`, the change-point analysis in
:mod:`harness.changepoints`, the reduction study across machines in
:mod:`harness.crossmachine`; this module turns arguments into calls of them and
of the views, and bad requests into :class:`UsageError` (one line, exit 2).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from ..changepoints import check_history, exit_code
from ..crossmachine import reduction_by_machine
from ..durable import atomic_write_text
from ..errors import UsageError, one_line
from ..historydb import connect, default_db, read_history, read_machines, record_sources
from ..historyrecord import utc_iso
from ..render.history_figure import plot_series_grid
from ..render.history_view import print_history_check, print_machines, write_history_page
from ..render.machines_figure import plot_machines
from .common import writable_dir, writable_file, writing


def database(args) -> Path:
    """The ``--db`` of a history command (default RESULTS_DIR/history.sqlite); UsageError for an empty one."""
    if args.db is not None and not str(args.db).strip():
        raise UsageError(f"--db {args.db!r} is empty: name the database file (or leave --db out)")
    return Path(args.db) if args.db else default_db(getattr(args, "results_dir", "results"))


def run(args) -> int:
    """Dispatch ``args.history_command``; the exit code of the subcommand."""
    verbs = {"add": add, "check": check, "plot": plot, "machines": machines}
    if args.history_command not in verbs:
        raise UsageError(f"unknown history command {args.history_command!r}; choose from: {', '.join(verbs)}")
    try:
        return verbs[args.history_command](args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except ImportError as exc:  # ruptures missing (a GPU box without a package index): say what to install
        raise UsageError(f"history {args.history_command} needs {exc.name or 'a library'}: "
                         f"pip install {exc.name or 'ruptures'} ({exc})") from None


def add(args) -> int:
    """Record runs and pytest-benchmark files; say what each added."""
    db = database(args)
    with writing(f"history database {db}"):
        added = record_sources(db, list(args.runs), args.results_dir)
    for record, n in added:
        note = f"{n} of {len(record.rows)} points added" if n else f"already recorded ({len(record.rows)} points)"
        print(one_line(f"{record.run_id}: {note} (machine {record.machine_id}, commit {record.git_commit or '?'}, "
                       f"{record.started_at or 'no date'})"))
    print(f"history: {db}")
    return 0


def record_run(files, db: str) -> None:
    """``sweep --history [DB]``: record the finished run ``files`` (default database: its results folder's)."""
    target = Path(db) if db else default_db(files.results_dir)
    try:
        with writing(f"history database {target}"):
            (record, n), = record_sources(target, [str(files.table)], files.results_dir)
    except ValueError as exc:
        raise UsageError(f"--history: {exc}") from None
    print(f"history: {n} points of run {record.run_id} recorded in {target}")


def check_history_target(db: str | None, results_dir: str) -> None:
    """Before a ``sweep --history`` measures: refuse a database it could not record into."""
    target = Path(db) if db else default_db(results_dir)
    if target.exists():
        try:
            connect(target, write=True).close()
        except ValueError as exc:
            raise UsageError(f"--history: {exc}") from None
    elif not target.parent.is_dir() and db:
        raise UsageError(f"--history {db}: folder {target.parent} does not exist")
    elif target.parent.is_dir() and not os.access(target.parent, os.W_OK):  # a new database there: refuse it now
        raise UsageError(f"--history {target}: folder {target.parent} is not writable")


def check(args) -> int:
    """Print the series whose newest change point is a slowdown; exit as ``compare`` does."""
    out = writable_file(args.csv, "--csv", (".csv",))
    recorded = read_history(database(args))
    history = filtered(recorded, args)  # --since names any run of the database, also one --backend/--machine leave out
    result = check_history(history, args.threshold, args.min_runs, since_date(args.since, recorded))
    if result.empty:
        raise UsageError(f"{database(args)}: no timed point to judge" + (" (after --backend/--machine)"
                                                                         if args.backend or args.machine else ""))
    print_history_check(result, args.threshold)
    if out:
        with writing(f"--csv {out}"):
            atomic_write_text(out, result.assign(change_points=result["change_points"].map("; ".join)).to_csv(index=False),
                              follow_symlink=True)
        print(f"wrote {out}")
    return exit_code(result, allow_inconclusive=args.allow_inconclusive)


def since_date(since: str | None, history) -> str | None:
    """``--since``: a run id of the database (its start) or a date, as an ISO 8601 UTC timestamp; None when not
    given. UsageError for an empty one, one that is neither, and a date that accepts every change point: a moving
    one (``now``, ``today``: pandas reads them as this moment) or one in the future."""
    if since is None:
        return None
    if not since.strip():
        raise UsageError(f"--since {since!r} is empty: name a run id in the history or a date (e.g. 2026-01-31)")
    starts = history.loc[history["run_id"] == since, "started_at"].dropna()
    if len(starts):
        return str(starts.min())
    if since.strip().lower() in ("now", "today"):
        raise UsageError(f"--since {since!r} moves with the clock and would accept every change point: name a run id "
                         "in the history or a fixed date (e.g. 2026-01-31)")
    try:
        when = utc_iso(since)
    except ValueError:
        raise UsageError(f"--since {since!r}: neither a run id in the history nor a date (e.g. 2026-01-31)") from None
    if when > utc_iso(datetime.now(timezone.utc).isoformat()):
        raise UsageError(f"--since {since!r} is in the future and would accept every change point: name a run id in "
                         "the history or a date up to today")
    return when


def filtered(history, args):
    """``history`` restricted to ``--backend`` and ``--machine`` (a fingerprint prefix or part of the label)."""
    if getattr(args, "backend", None):
        history = history[history["backend"] == args.backend]
    if getattr(args, "machine", None):
        text = args.machine.lower()
        history = history[history["machine"].str.startswith(text)
                          | history["machine_label"].str.lower().str.contains(text, regex=False)]
    return history


#: Panels per history figure (a backend with more series gets several figures).
PANELS = 24


def plot(args) -> int:
    """Small multiples per machine and backend (time per call over runs, change points marked), the reduction
    study of every machine side by side, and a page showing them all."""
    history = filtered(read_history(database(args), samples=True), args)
    timed = history[history["status"] == "ok"]
    if timed.empty:
        raise UsageError(f"{database(args)}: no timed point to draw")
    result = check_history(timed, args.threshold, args.min_runs)
    drawn = set(zip(*result.loc[result["runs"] > 1, ["machine", "point"]].to_numpy().T)) if len(result) else set()
    series = timed[[key in drawn for key in zip(timed["machine"], timed["point"])]]  # one run is not a history
    folder = writable_dir(args.output, "--output")  # only now: a bad database leaves no folder behind
    paths = []
    with writing(f"the history figures in {folder}"):
        for (machine, backend), rows in series.groupby(["machine", "backend"], sort=True):
            points = list(dict.fromkeys(rows.sort_values("case", kind="stable")["point"]))
            for part, start in enumerate(range(0, len(points), PANELS)):  # at most PANELS panels a figure
                name = f"history-{machine}-{safe_name(backend)}" + (f"-{part + 1}" if start else "") + ".png"
                chunk = rows[rows["point"].isin(points[start:start + PANELS])]
                paths.append(plot_series_grid(chunk, result[(result["machine"] == machine)
                                                            & (result["backend"] == backend)], folder / name))
        reduction = reduction_by_machine(history)
        machines_png = plot_machines(reduction, folder / "machines.png") if not reduction.empty else None
        page = write_history_page(folder / "index.html", result, paths, args.threshold, machines_png)
    for path in [*paths, *([machines_png] if machines_png else []), page]:
        print(f"wrote {path}")
    return 0


def safe_name(text: str) -> str:
    """``text`` as a file-name part (letters, digits, ``-`` and ``_``)."""
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def machines(args) -> int:
    """The reduction study of every machine side by side: a table, optionally a CSV, and one figure."""
    out = writable_file(args.csv, "--csv", (".csv",))
    if Path(args.output).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--output {args.output}: the file name must end in .png, .svg or .pdf")
    table = reduction_by_machine(read_history(database(args), samples=True))
    print_machines(read_machines(database(args)), table)
    if table.empty:
        return 0
    writable_dir(str(Path(args.output).parent), "--output")
    figure = writable_file(args.output, "--output")
    with writing("the reduction study per machine"):
        if out:
            atomic_write_text(out, table.to_csv(index=False), follow_symlink=True)
            print(f"wrote {out}")
        if figure:
            print(f"wrote {plot_machines(table, figure)}")
    return 0
