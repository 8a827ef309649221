"""Run tables on disk: the column contract, appending rows as points finish, reading runs back.

``results/RUN_ID.csv`` holds one row per backend x case, ``RUN_ID.samples.csv``
one row per timed round, ``RUN_ID.json`` the run's metadata. Rows are appended
(and flushed) as each point finishes, so an interrupted sweep keeps what it
measured and ``--resume RUN_ID`` continues it.
"""
from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path

from .durable import append_line, atomic_write_text, split_torn_tail, write_status
from .layers import INT_SHAPE_FIELDS, POINT_KEY, SHAPE_FIELDS
# the names of a run's files (harness.runfiles, which the stores of the folder's other files import too), re-exported
from .runfiles import RESERVED_RUN_IDS, RUN_FILE_SUFFIXES, RUN_ID_PATTERN, RunFiles, check_run_id  # noqa: F401

#: The contract: these names, in this order, start every run table (the shape fields are N C H W F k stride padding).
COLUMNS = [
    "run_id", "backend", "device", "case", *SHAPE_FIELDS, "dtype", "Ho", "Wo", "flops", "bytes", "threads",
    "status", "reason", "first_call_s", "time_s", "time_min_s", "time_iqr_s", "rounds", "calls_per_round", "gflops", "gbytes_per_s", "max_abs_err",
]
#: Extra columns after the contract ones ("point": the point's index in the sweep's order, harness.plan;
#: "passes_disagree": which passes of the point disagreed beyond re-measuring, harness.passes;
#: "peak_fraction" and "bound": the row under this machine's roof, harness.roof; "others_share": the share of its
#: cores' CPU time other processes held during the point's median pass, harness.contention).
EXTRA_COLUMNS = ["rel_ci", "flags", "trusted", "count", "desc", "point", "layer", "branch", "role", "prepare_s",
                 "h2d_s", "d2h_s", "passes", "warmup_s", "steady", "tolerance", "error_margin",
                 "arithmetic_intensity", "host", "gpu", "t_start", "t_end", "passes_disagree", "peak_fraction", "bound",
                 "others_share"]
ALL_COLUMNS = COLUMNS + EXTRA_COLUMNS
#: The last columns of ALL_COLUMNS that a table of an older version of the same schema lacks (resumed all the same).
LATER_COLUMNS = ("others_share",)
SAMPLE_COLUMNS = ["run_id", "backend", "case", "round", "time_s"]
#: Seconds a timed call can take at all: none of a picosecond (a 5 GHz cycle is 200 ps), none of a million seconds
#: (a round is capped far below); a time beyond is a damaged file whose ratios overflow a float.
TIME_RANGE_S = (1e-12, 1e6)
STATUSES = ("ok", "skipped", "unavailable", "failed", "wrong")
#: Contract columns that hold numbers (a table where they do not is damaged).
NUMERIC_COLUMNS = [*INT_SHAPE_FIELDS, "Ho", "Wo", "flops", "bytes", "threads", "first_call_s",
                   "time_s", "time_min_s", "time_iqr_s", "rounds", "calls_per_round", "gflops", "gbytes_per_s",
                   "max_abs_err"]
#: Version of a run's files (its JSON's ``schema_version``): 2 added it, ``passes_disagree`` and every pass in
#: RUN_ID.passes.jsonl. A run of a newer version is not resumed.
RUN_SCHEMA_VERSION = 2
#: Columns that identify a point within a run (with the backend).
KEY_COLUMNS = list(POINT_KEY)

def csv_lines(columns: list[str], rows: list[dict]) -> str:
    """``rows`` as CSV text under ``columns`` (no header); a key outside ``columns`` raises ValueError."""
    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=columns, extrasaction="raise", lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def read_pass_records(path: str | Path) -> list[tuple[int, tuple | None]]:
    """Every line of a passes file (written by :meth:`ResultsWriter.append_pass`) as ``(line number, record)``:
    ``record`` is ``(key as strings, pass number, row, samples_s)``, or None for a line that is not a pass record
    (a torn last line, a damaged one): no key, no int pass number, a row without a status, or a sample that is
    not a number of seconds within ``TIME_RANGE_S``."""
    out: list[tuple[int, tuple | None]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            record = json.loads(line)
            key = tuple(str(v) for v in record["key"])
            row, samples_s = dict(record["row"]), tuple(float(t) for t in record["samples_s"])
            row["status"]  # noqa: B018 - a row without a status is not a pass
            n_pass = int(record["pass"])
            if not all(TIME_RANGE_S[0] <= t <= TIME_RANGE_S[1] for t in samples_s):  # NaN fails too
                raise ValueError(f"samples must be seconds from {TIME_RANGE_S[0]:g} to {TIME_RANGE_S[1]:g}")
        except (ValueError, KeyError, TypeError):
            out.append((number, None))
            continue
        out.append((number, (key, n_pass, row, samples_s)))
    return out


class ResultsWriter:
    """Appends finished passes and points to a run's files, each as whole lines, fsynced."""

    def __init__(self, files: RunFiles):
        self.files = files
        files.results_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _append(path: Path, columns: list[str], rows: list[dict]) -> None:
        append_line(path, csv_lines(columns, rows), header=",".join(columns))

    def append_pass(self, key: tuple, n_pass: int, result) -> None:
        """Record one finished pass of point ``key`` (a PointResult) in ``RUN_ID.passes.jsonl``."""
        record = {"key": list(key), "pass": n_pass, "row": result.row, "samples_s": list(result.samples_s)}
        append_line(self.files.passes, json.dumps(record, default=_json_value))

    def append(self, row: dict, samples_s) -> None:
        """Write one point: its per-round samples, then its row (so a row always has its samples)."""
        samples = [
            {"run_id": row["run_id"], "backend": row["backend"], "case": row["case"], "round": i, "time_s": t}
            for i, t in enumerate(samples_s)
        ]
        if samples:
            self._append(self.files.samples, SAMPLE_COLUMNS, samples)
        self._append(self.files.table, ALL_COLUMNS, [row])

    def write_metadata(self, metadata: dict) -> None:
        """Write (replace) the run's metadata JSON atomically."""
        atomic_write_text(self.files.metadata, json.dumps(metadata, indent=2, default=str))

    def write_metadata_after_failure(self, metadata: dict) -> bool:
        """After a write failed (disk full, folder made read-only): record ``metadata`` if at all possible
        (:func:`harness.durable.write_status`); whether it was."""
        files = self.files
        return write_status(files.metadata, json.dumps(metadata, indent=2, default=str),
                            (files.samples, files.table, files.passes))


def _json_value(value):
    """JSON for numpy scalars and anything else a row may hold."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


#: Columns an ``ok`` row holds as a finite number above zero: what plots, breakdowns and verdicts divide by.
#: ``time_s`` always; the others may be left empty (tables written by hand, for compare), but never 0, negative
#: or infinite - and the figures need ``DRAWN_COLUMNS`` (:func:`check_measured`).
MEASURED_COLUMNS = ("time_s", "time_min_s", "gflops", "flops")
DRAWN_COLUMNS = ("time_s", "gflops", "flops")


def unmeasured_ok_rows(df, required=("time_s",)) -> str | None:
    """Why the ``ok`` rows of table ``df`` are not measurements (a time of 0, NaN or inf; an empty ``required``
    column), or None when they are."""
    import numpy as np

    ok = df[df["status"] == "ok"]
    for column in (c for c in MEASURED_COLUMNS if c in ok.columns):
        values = ok[column].astype(float)
        bad = ~(np.isfinite(values) & (values > 0))
        if column not in required:
            bad &= values.notna()
        if bad.any():
            row = ok[bad].iloc[0]
            return (f"{int(bad.sum())} ok row(s) hold no measurement in column {column} (a finite number above 0), "
                    f"e.g. {row['backend']} | {row['case']}: {row[column].item()!r}")
    return None


def check_measured(table, path, required=("time_s",)) -> None:
    """ValueError naming ``path`` when an ``ok`` row of ``table`` holds no measurement (:func:`unmeasured_ok_rows`;
    ``required=DRAWN_COLUMNS`` before drawing: the figures, breakdowns and the reduction study divide by them)."""
    problem = unmeasured_ok_rows(table, required=required)
    if problem:
        raise ValueError(f"{path}: {problem}; the table is damaged")


def read_table(path: str | Path):
    """Read a run table into a DataFrame; raise ValueError if the file is missing or lacks contract columns."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such results table: {path}")
    try:
        data, torn = split_torn_tail(path.read_bytes())
        if torn:  # a row cut short by a kill: not a measurement
            warnings.warn(f"{path}: its last line is incomplete (a sweep killed while writing?) and was left out; "
                          "--resume measures that point again", stacklevel=2)
        df = pd.read_csv(io.BytesIO(data), keep_default_na=True)
    except Exception as exc:
        raise ValueError(f"cannot read results table {path}: {exc}") from None
    twice = [c for c in df.columns if re.fullmatch(r"(.+)\.\d+", c) and c.rsplit(".", 1)[0] in df.columns]
    if twice:  # pandas renames a repeated header NAME.1: say so, not "missing columns" of the one it replaced
        raise ValueError(f"{path}: column {twice[0].rsplit('.', 1)[0]} appears more than once in the header; the table "
                         "is damaged")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a convbench run table: missing columns {', '.join(missing)}")
    bad = [c for c in NUMERIC_COLUMNS + ["count"] if c in df.columns and df[c].notna().any()
           and (not pd.api.types.is_numeric_dtype(df[c]) or df[c].dtype.kind == "u")]  # "u": beyond int64
    if bad:
        raise ValueError(f"{path}: column(s) {', '.join(bad)} hold non-numbers or numbers beyond int64; the table "
                         "is damaged")
    check_measured(df, path)
    known = df["others_share"].dropna() if "others_share" in df.columns else pd.Series(dtype=float)
    wrong = known if known.dtype.kind not in "fi" else known[~known.between(0, 1)]
    if len(wrong):
        example = wrong.iloc[0].item() if hasattr(wrong.iloc[0], "item") else wrong.iloc[0]  # 41.0, not np.float64
        raise ValueError(f"{path}: column others_share holds values that are not shares in [0, 1] (e.g. "
                         f"{example!r}); the table is damaged")
    unknown = sorted(set(df["status"].dropna().astype(str)) - set(STATUSES))
    if unknown or df["status"].isna().any():
        raise ValueError(f"{path}: status {unknown[0] if unknown else '(empty)'!r} is not one of "
                         f"{', '.join(STATUSES)}; the table is damaged")
    duplicated = df.duplicated([c for c in KEY_COLUMNS if c in df.columns])
    if duplicated.any():
        first = df[duplicated].iloc[0]
        raise ValueError(f"{path}: {int(duplicated.sum())} duplicate row(s), e.g. {first['backend']} | "
                         f"{first['case']}; the table was written twice (two sweeps on one run id?)")
    df["reason"] = ["" if pd.isna(v) else str(v) for v in df["reason"]]
    if "point" in df.columns and df["point"].notna().all():
        # rows are appended as points finish; "point" is each point's place in the sweep's order
        df = df.sort_values("point", kind="stable").reset_index(drop=True)
    for col in ("branch", "role", "layer"):
        if col in df.columns:
            df[col] = df[col].astype("object").where(df[col].notna(), None)
    return df


def read_samples(path: str | Path):
    """Read a samples file; a missing file gives an empty table with the sample columns."""
    import pandas as pd

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:  # none yet (a run killed before its first round)
        return pd.DataFrame(columns=SAMPLE_COLUMNS)
    try:
        data, torn = split_torn_tail(path.read_bytes())
        if torn:  # a round cut short (a kill, a full disk): "1.2e-0" would read as 1.2 s
            warnings.warn(f"{path}: its last line is incomplete and was left out; --resume measures that point "
                          "again", stacklevel=2)
        df = pd.read_csv(io.BytesIO(data))
    except Exception as exc:
        raise ValueError(f"cannot read samples file {path}: {' '.join(str(exc).split())[:200]}") from None
    missing = [c for c in SAMPLE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a convbench samples file: missing columns {', '.join(missing)}")
    times = pd.to_numeric(df["time_s"], errors="coerce")
    if len(df) and not times.between(*TIME_RANGE_S).all():
        raise ValueError(f"{path}: column time_s must hold seconds from {TIME_RANGE_S[0]:g} to {TIME_RANGE_S[1]:g}; "
                         "the samples file is damaged")
    return df


def samples_by_point(samples) -> dict:
    """{(backend, case): per-call seconds of each round} from a samples table (empty when None)."""
    if samples is None or len(samples) == 0:
        return {}
    import pandas as pd

    # a bare frame: pandas copies a table's attrs (a run's passes, harness.passgroups) into every group otherwise
    bare = pd.DataFrame({c: samples[c].to_numpy() for c in ("backend", "case", "time_s")})
    return {key: group["time_s"].to_numpy() for key, group in bare.groupby(["backend", "case"])}


def read_metadata(path: str | Path) -> dict:
    """Read a run's metadata JSON ({} when absent); ValueError when it is not readable JSON."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as exc:
        raise ValueError(f"cannot read {path}: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"cannot read {path}: not a JSON object")
    for key, kind in META_TYPES.items():  # what every reader (pages, plots, history) takes each field as
        if meta.get(key) is not None and not isinstance(meta[key], kind):
            raise ValueError(f"cannot read {path}: {key} must be {JSON_NAMES[kind]}, got {type(meta[key]).__name__}")
    if any(not isinstance(entry, dict) for entry in meta.get("blas") or []):
        raise ValueError(f"cannot read {path}: blas must be a list of JSON objects, got an entry that is not one")
    return meta


#: A run's metadata fields and their JSON types (``None``/absent is always allowed).
META_TYPES = {**dict.fromkeys(("peak", "settings", "gpu", "versions", "numba_cpu_vectors"), dict), "blas": list,
              **dict.fromkeys(("preset", "started_at", "finished_at", "status", "git_commit", "host", "platform",
                               "cpu_model", "cpu_isa"), str)}
JSON_NAMES = {dict: "a JSON object", list: "a JSON list", str: "a string"}


class MemoryWriter:
    """A writer that keeps rows in memory (``check`` measures without writing files)."""

    def __init__(self):
        self.rows: list[dict] = []
        self.samples: list[tuple] = []

    def append_pass(self, key: tuple, n_pass: int, result) -> None:
        """Passes are not kept in memory (only finished points are)."""

    def append(self, row: dict, samples_s) -> None:
        """Keep the row and its samples."""
        self.rows.append(row)
        self.samples.append(tuple(samples_s))
