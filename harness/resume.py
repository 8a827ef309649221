"""What an interrupted run already holds: finished points, kept passes, and the repairs a kill may need.

Run before ``--resume`` continues a run (and before a new sweep opens its files):
a torn last line (a write cut short by SIGKILL) is cut off with a warning and its
point measured again; samples whose point has no row are dropped, and a row whose
samples are fewer or more than its ``rounds`` (its samples' last line was cut) is
dropped with them, so that point is measured again; passes of
points not yet finished are read back from ``RUN_ID.passes.jsonl`` so that only
the missing passes are measured. Key columns are read as strings, so ``"2"``
never becomes ``2.0`` and a point is never re-measured for its spelling.
"""
from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field

from .durable import atomic_write_text, drop_torn_tail
from .results import ALL_COLUMNS, KEY_COLUMNS, LATER_COLUMNS, SAMPLE_COLUMNS, RunFiles, csv_lines, read_pass_records
from .rows import PointResult


@dataclass
class Progress:
    """A run's state on disk: finished point keys, kept passes of the others, and what was repaired."""

    done: set = field(default_factory=set)
    kept: dict = field(default_factory=dict)  # point key -> [PointResult of pass 0, 1, ...]
    again: set = field(default_factory=set)  # keys of rows dropped because their samples were cut: re-measure
    probes: list = field(default_factory=list)  # {"host", "threads", "probe_s"} of every pass recorded, finished too
    warnings: list = field(default_factory=list)


def _header(path) -> list[str]:
    """The first line of a CSV file, split (a file read once already by :func:`_header_and_rows`)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])


def _header_and_rows(path, columns: list[str], what: str) -> list[dict]:
    """The rows of a CSV written by this version (or by one that lacked its last columns, left empty); ValueError
    when its header or a row is not ours."""
    with path.open(newline="", encoding="utf-8", errors="strict") as fh:
        try:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = list(reader)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot resume from {path}: {exc}") from None
    if header is None:
        return []
    later = columns[len(header):]
    if later and set(later) <= set(LATER_COLUMNS) and header == columns[:len(header)] \
            and all(len(r) == len(header) for r in rows):
        # written before this version added its last columns (others_share): they are unknown there
        rows, header = [r + [""] * (len(columns) - len(header)) for r in rows], columns
    if header != columns:
        extra = [c for c in header if c not in columns]
        missing = [c for c in columns if c not in header]
        raise ValueError(f"cannot resume from {path}: not a {what} of this version (columns "
                         + "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "",
                                                 f"unexpected {', '.join(extra)}" if extra else "") if p)
                         + ("; order differs" if not extra and not missing else "") + ")")
    bad = [i + 2 for i, r in enumerate(rows) if len(r) != len(columns)]
    if bad:
        raise ValueError(f"cannot resume from {path}: line {bad[0]} has the wrong number of fields")
    return [dict(zip(columns, r)) for r in rows]


def _repair_tail(path, progress: Progress) -> None:
    torn = drop_torn_tail(path)
    if torn is not None:
        progress.warnings.append(f"{path.name}: dropped an incomplete last line ({len(torn)} characters, "
                                 "written when the run was killed); that point is measured again")


def load_progress(files: RunFiles) -> Progress:
    """Read (and repair) run ``files``: finished keys, kept passes; ValueError when a file is not ours."""
    progress = Progress()
    for path in (files.table, files.samples, files.passes):
        _repair_tail(path, progress)
    rows = _header_and_rows(files.table, ALL_COLUMNS, "run table") if files.table.is_file() else []
    for row in rows:
        if row["status"] not in ("ok", "skipped", "unavailable", "failed", "wrong"):
            raise ValueError(f"cannot resume from {files.table}: status {row['status'][:40]!r} is not a status")
    samples = _header_and_rows(files.samples, SAMPLE_COLUMNS, "samples file") if files.samples.is_file() else []
    rows, progress.again = _rows_matching_samples(files, rows, samples, progress)
    if files.table.is_file() and _header(files.table) not in ([], ALL_COLUMNS):  # an older version's: this one's
        atomic_write_text(files.table, ",".join(ALL_COLUMNS) + "\n" + csv_lines(ALL_COLUMNS, rows))
    progress.done = {tuple(row[c] for c in KEY_COLUMNS) for row in rows}
    pairs = {(row["backend"], row["case"]) for row in rows}
    keep = [s for s in samples if (s["backend"], s["case"]) in pairs]
    if len(keep) != len(samples):  # samples written just before a kill, whose row never was
        atomic_write_text(files.samples, ",".join(SAMPLE_COLUMNS) + "\n" + csv_lines(SAMPLE_COLUMNS, keep))
    if files.passes.is_file():
        progress.kept = {key: passes for key, passes in _kept_passes(files, progress).items()
                         if key not in progress.again}
    return progress


def _rounds(row: dict) -> int | None:
    """A row's ``rounds`` as an int (0 when empty), None when it is not a count."""
    try:
        value = float(row["rounds"] or 0)
    except ValueError:
        return None
    return int(value) if value.is_integer() and value >= 0 else None


def _rows_matching_samples(files: RunFiles, rows: list[dict], samples: list[dict], progress: Progress):
    """(rows whose samples number their ``rounds``, keys of the others): a row without all its samples is no
    measurement; it is dropped from the table (rewritten) and its point measured again from scratch."""
    counts = Counter((s["backend"], s["case"]) for s in samples)
    short = [row for row in rows if _rounds(row) != counts.get((row["backend"], row["case"]), 0)]
    if not short:
        return rows, set()
    again = {tuple(row[c] for c in KEY_COLUMNS) for row in short}
    rows = [row for row in rows if tuple(row[c] for c in KEY_COLUMNS) not in again]
    atomic_write_text(files.table, ",".join(ALL_COLUMNS) + "\n" + csv_lines(ALL_COLUMNS, rows))
    first = short[0]
    progress.warnings.append(
        f"{files.samples.name}: {len(short)} row(s) do not have their rounds' samples (e.g. {first['backend']} | "
        f"{first['case']}: {counts.get((first['backend'], first['case']), 0)} samples for {first['rounds'] or 0} "
        "rounds; a cut or damaged samples file); those rows were dropped and their points are measured again")
    return rows, again


def _kept_passes(files: RunFiles, progress: Progress) -> dict:
    """Passes of unfinished points, in pass order, one per pass number (the first one written wins)."""
    kept: dict[tuple, dict[int, PointResult]] = {}
    for number, record in read_pass_records(files.passes):
        if record is None:  # measured again
            progress.warnings.append(f"{files.passes.name}: line {number} is not a pass record; ignored")
            continue
        key, n_pass, row, samples_s = record
        if row.get("probe_s") is not None:  # the run's probe reference (harness.probe) goes on from all of them
            progress.probes.append({k: row.get(k) for k in ("host", "threads", "probe_s")})
        if key not in progress.done:
            kept.setdefault(key, {}).setdefault(n_pass, PointResult(row, samples_s))
    out = {}
    for key, by_pass in kept.items():
        passes = []
        while len(passes) in by_pass:  # only an unbroken run of passes 0, 1, ... counts
            passes.append(by_pass[len(passes)])
        if passes:
            out[key] = passes
    return out
