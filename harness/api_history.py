"""``harness.history()``: every recorded run's points as one DataFrame (the Python face of ``harness history``)."""
from __future__ import annotations

from pathlib import Path

from .historydb import default_db, read_history


def history(db: str | Path | None = None, *, samples: bool = False):
    """The history database's points as a pandas DataFrame, oldest run first.

    Args:
        db: the database (default ``results/history.sqlite``), as ``harness history add --db`` wrote it.
        samples: also return each point's per-round times (seconds per call) as a ``samples_s`` array column.

    Columns: ``machine`` (fingerprint), ``machine_label``, ``run_id``, ``git_commit``, ``started_at`` (ISO 8601
    UTC), ``run`` (the run's key in the database), ``source``, ``point`` (backend|case|shape|dtype|threads), and
    the run table's columns (backend, case, shape, dtype, threads, status, time_s, ..., rel_ci, flags, trusted).

    Raises:
        ValueError: no database there, a file that is not a convbench history, or one of a newer schema.
    """
    if db is not None and not isinstance(db, (str, Path)):
        raise TypeError(f"harness.history(): db must be a path (str or Path), got {type(db).__name__}")
    return read_history(default_db() if db is None else Path(db), samples=bool(samples))
