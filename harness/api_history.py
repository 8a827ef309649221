"""``harness.history()``: every recorded run's points as one DataFrame (the Python face of ``harness history``)."""
from __future__ import annotations

import os
from pathlib import Path

from .historydb import default_db, read_history


def history(db: str | os.PathLike | None = None, *, samples: bool = False):
    """The history database's points as a pandas DataFrame, oldest run first.

    Args:
        db: the database (a str or any os.PathLike; default ``results/history.sqlite``), as ``harness history add
            --db`` wrote it.
        samples: also return each point's per-round times (seconds per call) as a ``samples_s`` array column.

    Columns: ``machine`` (fingerprint), ``machine_label``, ``run_id``, ``git_commit``, ``started_at`` (ISO 8601
    UTC), ``run`` (the run's key in the database), ``source``, ``point`` (backend|case|shape|dtype|threads), and
    the run table's columns (backend, case, shape, dtype, threads, status, time_s, ..., rel_ci, flags, trusted).

    Raises:
        TypeError: ``db`` is not a path, or ``samples`` not a bool.
        ValueError: an empty ``db``, no database there, a file that is not a convbench history, one of a newer
            schema, or a damaged one (a cell that does not hold what its column may).
    """
    if isinstance(samples, str) or samples not in (True, False):  # bool("no") is True; numpy's bools are fine
        raise TypeError(f"harness.history(): samples must be True or False, got {samples!r:.40}")
    if db is None:
        return read_history(default_db(), samples=bool(samples))
    try:
        path = os.fsdecode(os.fspath(db)) if isinstance(db, (str, os.PathLike)) else None
    except TypeError:  # an os.PathLike whose __fspath__ returns neither str nor bytes
        path = None
    if path is None:
        raise TypeError(f"harness.history(): db must be a path (str or os.PathLike), got {type(db).__name__}")
    if not path:
        raise ValueError("harness.history(): db is an empty path; name the database file (or leave db out)")
    return read_history(Path(path), samples=bool(samples))
