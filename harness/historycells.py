"""The cells of a history database, checked where they are read into a DataFrame, once, for every reader - and
the points of a run before ``history add`` stores them, by the same rules, so that it never stores what they refuse.

SQLite keeps whatever a cell is given, whatever its column's declared type: a text ``'abc'`` stays text in a
REAL column, a negative or infinite time is stored as it is, and a samples blob can be any bytes. A database
edited by hand, by another tool or by a broken disk would otherwise reach the analysis and fail there with a
traceback (``'>' not supported between 'str' and 'int'``) or, worse, give an answer: a time of -1 s gives a
point estimate outside its own interval. :func:`check_cells` refuses such a table with one line naming the
database, the column, the value and the run and point that hold it (ValueError); nothing is written.

What a cell may hold (NULL is allowed unless said otherwise):

- whole-number columns (shape, flops, bytes, threads, rounds, ...): a whole number from 0 to 2**53;
- times (``*_s``): a finite number of seconds from 0 to 1e6 (:data:`harness.results.TIME_RANGE_S`);
- other numbers (``gflops``, ``rel_ci``, ``max_abs_err``, ...): a number >= 0 (``inf`` allowed);
- an ``ok`` row: ``time_s`` within TIME_RANGE_S, never NULL; ``time_min_s``, ``gflops``, ``flops`` finite and
  > 0 where present (a run table's rule, :data:`harness.results.MEASURED_COLUMNS`); ``flops`` and ``bytes`` > 0
  in a point of a reduce/conv/direct branch (the reduction study divides them);
- ``trusted``: 0 or 1; text columns: text, never a blob;
- ``samples_s``: float64 values (a multiple of 8 bytes), each a time within TIME_RANGE_S.
"""
from __future__ import annotations

import math

from .historyrecord import INTEGER_COLUMNS, STORED_COLUMNS, TEXT_COLUMNS, is_number
from .results import MEASURED_COLUMNS, TIME_RANGE_S

#: Columns of times in seconds.
TIME_COLUMNS = ("first_call_s", "time_s", "time_min_s", "time_iqr_s")
#: Text columns of the run and machine a point belongs to (besides the results table's TEXT_COLUMNS).
KEY_TEXT_COLUMNS = ("machine", "machine_label", "run_id", "git_commit", "started_at", "run", "source", "point")
#: The roles of a branch's layers, whose ok points the reduction study divides (their flops and bytes).
BRANCH_ROLES = ("reduce", "conv", "direct")
#: The largest whole number a cell may hold: float64 holds every whole number up to it exactly (pandas reads an
#: INTEGER column with a NULL as floats), and sums of a few of them (a branch's flops) stay within int64.
INTEGER_MAX = 2 ** 53
LOW_S, HIGH_S = TIME_RANGE_S
RULES = {"whole": "must be a whole number from 0 to 2**53", "time": f"a time must be a number from 0 to {HIGH_S:g} s",
         "number": "must be a number >= 0"}


def rule_of(name: str) -> str:
    """What a numeric column may hold: ``whole``, ``time`` or ``number`` (see the module)."""
    if name in INTEGER_COLUMNS or name in ("cpu_count", "memory_gib"):
        return "whole"
    return "time" if name in TIME_COLUMNS else "number"


def numbers_of(column):
    """``(numeric, values)``: which cells of a column hold a number or NULL, and the column as floats (NaN for
    NULL and for a cell that is no number)."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return np.ones(len(column), dtype=bool), column.to_numpy(dtype=float)
    numeric = np.fromiter((v is None or is_number(v) for v in column), dtype=bool, count=len(column))
    values = np.fromiter((float(v) if is_number(v) else math.nan for v in column), dtype=float, count=len(column))
    return numeric, values


def number_problem(column, rule: str):
    """``(bad, why)``: a mask of the cells of a numeric column that break ``rule`` and, for the first of them,
    what is wrong; ``bad`` is all False when every cell is fine."""
    import numpy as np

    numeric, values = numbers_of(column)
    with np.errstate(invalid="ignore"):
        if rule == "whole":
            fine = (values >= 0) & (values <= INTEGER_MAX) & (np.mod(values, 1) == 0)
        elif rule == "time":
            fine = (values >= 0) & (values <= HIGH_S)
        else:
            fine = values >= 0
    bad = ~numeric | (~np.isnan(values) & ~fine)
    if not bad.any():
        return bad, ""
    return bad, RULES[rule] if numeric[int(bad.argmax())] else "not a number"


def shown(value) -> str:
    """A cell as the error shows it: NULL, or its Python repr (of a plain number for a NumPy one)."""
    value = value.item() if hasattr(value, "item") and not isinstance(value, bytes) else value
    return "NULL" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(value)


def refuse(where: str, table, name: str, bad, why: str, value=None) -> None:
    """ValueError ``WHERE column NAME holds VALUE, WHY (run, point; how many)`` for the first bad cell of ``name``."""
    at = int(bad.argmax())
    row = table.iloc[at]
    count = int(bad.sum())
    more = f"; {count} such cells" if count > 1 else ""
    raise ValueError(f"{where}column {name} holds {shown(row[name]) if value is None else value}, {why} "
                     f"(run {row.get('run_id')}, point {row.get('point')}{more})")


def damaged(path) -> str:
    """The start of the errors about a database's cells."""
    return f"{path}: the database is damaged: "


def check_cells(table, path, where: str | None = None) -> None:
    """ValueError (one line) unless every cell of ``table`` (:func:`harness.historydb.read_history`'s query, before
    its ``trusted`` and ``samples_s`` columns are converted) holds what its column may hold (see the module). The
    error starts ``PATH: the database is damaged:``, or ``where`` when given."""
    import numpy as np

    where = damaged(path) if where is None else where
    for name in [c for c in (*KEY_TEXT_COLUMNS, *TEXT_COLUMNS) if c in table.columns]:
        if table[name].dtype != object:
            continue  # pandas' string dtype: text and missing values only
        bad = np.fromiter((not (isinstance(v, str) or shown(v) == "NULL") for v in table[name]), dtype=bool,
                          count=len(table))
        if bad.any():
            refuse(where, table, name, bad, "not text")
    for name in [c for c in STORED_COLUMNS if c not in TEXT_COLUMNS and c != "trusted" and c in table.columns]:
        column = table[name]
        if name == "padding":  # 'same': the padding a point keeps when its shape could not be built (failed)
            column = column.where(column.astype(str) != "same", None)
        bad, why = number_problem(column, rule_of(name))
        if bad.any():
            refuse(where, table, name, bad, why)
    if "trusted" in table.columns:
        bad = np.fromiter((not is_flag(v) for v in table["trusted"]), dtype=bool, count=len(table))
        if bad.any():
            refuse(where, table, "trusted", bad, "must be 0 or 1")
    check_ok_rows(table, where)


def is_flag(value) -> bool:
    """Whether a ``trusted`` cell holds 0, 1, a bool or NULL."""
    value = value.item() if hasattr(value, "item") and not isinstance(value, bytes) else value
    return shown(value) == "NULL" or (isinstance(value, (bool, int, float)) and value in (0, 1))


def check_ok_rows(table, where: str) -> None:
    """ValueError (one line) for an ``ok`` row that holds no measurement (see the module)."""
    import numpy as np

    ok = (table["status"] == "ok").to_numpy(dtype=bool)
    branch = ok & (table["role"].isin(BRANCH_ROLES).to_numpy(dtype=bool) if "role" in table.columns else False)
    with np.errstate(invalid="ignore"):
        time_s = numbers_of(table["time_s"])[1]
        bad = ok & ~((time_s >= LOW_S) & (time_s <= HIGH_S))
        if bad.any():
            refuse(where, table, "time_s", bad, f"the time per call of an ok row must be from {LOW_S:g} to {HIGH_S:g} s")
        for name in (c for c in MEASURED_COLUMNS if c != "time_s" and c in table.columns):
            values = numbers_of(table[name])[1]
            bad = ok & ~np.isnan(values) & ~(np.isfinite(values) & (values > 0))
            if bad.any():
                refuse(where, table, name, bad, "in an ok row it must be a finite number > 0")
        for name in ("flops", "bytes"):
            bad = branch & ~(numbers_of(table[name])[1] > 0)
            if bad.any():
                refuse(where, table, name, bad, "an ok point of a reduce/conv/direct branch needs it > 0")


def sample_problem(samples) -> str | None:
    """What is wrong with an array of per-round times (``a sample of -1.0``), or None: each must be a time within
    TIME_RANGE_S."""
    import numpy as np

    with np.errstate(invalid="ignore"):
        wrong = ~((samples >= LOW_S) & (samples <= HIGH_S))
    return f"a sample of {float(samples[wrong][0])!r}" if wrong.any() else None


def samples_of(table, path, where: str | None = None) -> list:
    """The ``samples_s`` cells of ``table`` as float64 arrays (empty for NULL; blobs of little-endian float64, or
    already lists of floats); ValueError (one line) for a blob that is not a whole number of float64 values, or a
    sample that is not a time within TIME_RANGE_S."""
    import numpy as np

    where = damaged(path) if where is None else where
    arrays = []
    for blob in table["samples_s"]:
        why = value = None
        if shown(blob) == "NULL":
            samples = np.empty(0)
        elif isinstance(blob, (list, tuple)):
            samples = np.asarray(blob, dtype=float)
        elif not isinstance(blob, bytes) or len(blob) % 8:
            why = "not a whole number of float64 samples"
            value = f"{len(blob)} bytes" if isinstance(blob, bytes) else shown(blob)
        else:
            samples = np.frombuffer(blob, dtype="<f8")
        if why is None and sample_problem(samples):
            why, value = f"a sample must be a time from {LOW_S:g} to {HIGH_S:g} s", sample_problem(samples)
        if why:
            bad = np.zeros(len(table), dtype=bool)
            bad[len(arrays)] = True
            refuse(where, table, "samples_s", bad, why, value)
        arrays.append(samples)
    return arrays


def check_record(record) -> None:
    """ValueError (one line, naming the run's file) unless every point of ``record`` (a
    :class:`harness.historyrecord.Record`) holds what :func:`check_cells` and :func:`samples_of` take: ``history
    add`` stores nothing that the readers of the database would refuse."""
    import pandas as pd

    table = pd.DataFrame(record.rows, columns=["point", *STORED_COLUMNS, "samples_s"]).assign(run_id=record.run_id)
    where = f"{record.source}: "
    check_cells(table, record.source, where)
    samples_of(table, record.source, where)


def check_machine_cells(machines, path) -> None:
    """ValueError (one line) unless the machines table's ``cpu_count`` and ``memory_gib`` hold whole numbers
    >= 0 (or NULL)."""
    for name in ("cpu_count", "memory_gib"):
        bad, why = number_problem(machines[name], "whole")
        if bad.any():
            at = int(bad.argmax())
            raise ValueError(f"{damaged(path)}column {name} of the machines table holds "
                             f"{shown(machines[name].iloc[at])}, {why} (machine {machines['machine'].iloc[at]})")
