"""Run tables on disk: the column contract, appending rows as points finish, reading runs back.

``results/RUN_ID.csv`` holds one row per backend x case, ``RUN_ID.samples.csv``
one row per timed round, ``RUN_ID.json`` the run's metadata. Rows are appended
(and flushed) as each point finishes, so an interrupted sweep keeps what it
measured and ``--resume RUN_ID`` continues it.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from .layers import POINT_KEY

#: The contract: these names, in this order, start every run table.
COLUMNS = [
    "run_id", "backend", "device", "case", "N", "C", "H", "W", "F", "k", "stride", "padding", "dtype",
    "Ho", "Wo", "flops", "bytes", "threads", "status", "reason", "first_call_s", "time_s", "time_min_s",
    "time_iqr_s", "rounds", "calls_per_round", "gflops", "gbytes_per_s", "max_abs_err",
]
#: Extra columns after the contract ones ("point": the point's position in the sweep's case x backend order).
EXTRA_COLUMNS = ["rel_ci", "flags", "trusted", "count", "desc", "point", "layer", "branch", "role", "prepare_s",
                 "h2d_s", "d2h_s", "passes", "warmup_s", "steady", "tolerance", "arithmetic_intensity", "host", "gpu",
                 "t_start", "t_end"]
ALL_COLUMNS = COLUMNS + EXTRA_COLUMNS
SAMPLE_COLUMNS = ["run_id", "backend", "case", "round", "time_s"]
STATUSES = ("ok", "skipped", "unavailable", "failed", "wrong")
#: Columns that identify a point within a run (with the backend).
KEY_COLUMNS = list(POINT_KEY)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a safe file stem (letters, digits, . _ -), else raise ValueError."""
    if not _RUN_ID.match(run_id or "") or run_id in (".", ".."):
        raise ValueError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' or '-' (no path separators)")
    return run_id


class RunFiles:
    """The paths of one run's files under a results directory and a plots directory."""

    def __init__(self, results_dir: str | Path, run_id: str, plots_dir: str | Path = "plots"):
        self.run_id = check_run_id(run_id)
        self.results_dir = Path(results_dir)
        self.table = self.results_dir / f"{run_id}.csv"
        self.samples = self.results_dir / f"{run_id}.samples.csv"
        self.metadata = self.results_dir / f"{run_id}.json"
        self.reduction = self.results_dir / f"{run_id}.reduction.csv"
        self.plots = Path(plots_dir) / run_id

    @classmethod
    def from_table(cls, table: str | Path, plots_dir: str | Path = "plots") -> RunFiles:
        """The run whose table is ``table`` (``results/RUN_ID.csv``)."""
        table = Path(table)
        return cls(table.parent, table.name.removesuffix(".csv"), plots_dir)


class ResultsWriter:
    """Appends finished points (samples first, then the row) to a run's CSV files."""

    def __init__(self, files: RunFiles):
        self.files = files
        files.results_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _append(path: Path, columns: list[str], rows: list[dict]) -> None:
        new = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="raise")
            if new:
                writer.writeheader()
            writer.writerows(rows)
            fh.flush()

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
        tmp = self.files.metadata.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(metadata, indent=2, default=str))
        tmp.replace(self.files.metadata)


def read_table(path: str | Path):
    """Read a run table into a DataFrame; raise ValueError if the file is missing or lacks contract columns."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such results table: {path}")
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except Exception as exc:
        raise ValueError(f"cannot read results table {path}: {exc}") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a convbench run table: missing columns {', '.join(missing)}")
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
    if not path.is_file():
        return pd.DataFrame(columns=SAMPLE_COLUMNS)
    df = pd.read_csv(path)
    missing = [c for c in SAMPLE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a convbench samples file: missing columns {', '.join(missing)}")
    return df


def read_metadata(path: str | Path) -> dict:
    """Read a run's metadata JSON ({} when absent)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def drop_orphan_samples(files: RunFiles) -> set[tuple]:
    """Before resuming: keep only samples whose point has a row; return the done (backend, case) keys."""
    if not files.table.is_file():
        return set()
    table = read_table(files.table)
    done = {tuple(r) for r in table[KEY_COLUMNS].astype(str).itertuples(index=False)}
    pairs = set(zip(table["backend"].astype(str), table["case"].astype(str)))
    samples = read_samples(files.samples)
    if len(samples):
        keep = [(b, c) in pairs for b, c in zip(samples["backend"].astype(str), samples["case"].astype(str))]
        if not all(keep):
            samples[keep].to_csv(files.samples, index=False)
    return done


class MemoryWriter:
    """A writer that keeps rows in memory (``check`` measures without writing files)."""

    def __init__(self):
        self.rows: list[dict] = []
        self.samples: list[tuple] = []

    def append(self, row: dict, samples_s) -> None:
        """Keep the row and its samples."""
        self.rows.append(row)
        self.samples.append(tuple(samples_s))
