"""One run (or pytest-benchmark file) as the history database stores it: machine, identity, rows, samples.

A run is recorded under its **machine fingerprint**: a short hash of what decides
how fast a kernel can run there (CPU model, vector ISA, core count, memory in whole
GiB, GPU name, Numba threading layer), taken from the run's metadata JSON, so runs
of one machine form one series whatever the host is called. A run's identity is its
machine, run id and start time: recording it again adds nothing, and a resumed run
adds only the points it did not have.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .layers import INT_SHAPE_FIELDS, POINT_KEY, key_text
from .results import COLUMNS, samples_by_point
from .trust import with_trust

#: What identifies a machine (the fingerprint hashes these, in this order).
MACHINE_FIELDS = ("cpu_model", "cpu_isa", "cpu_count", "memory_gib", "gpu", "threading_layer")
#: Columns of a run table kept per point (besides the run's identity): the contract, trust, layer structure.
STORED_COLUMNS = [c for c in COLUMNS if c != "run_id"] + ["rel_ci", "flags", "trusted", "count", "desc", "layer",
                                                          "branch", "role"]
#: Stored columns that hold whole numbers.
INTEGER_COLUMNS = (*INT_SHAPE_FIELDS, "padding", "Ho", "Wo", "flops", "bytes", "threads", "rounds", "calls_per_round", "count")
TEXT_COLUMNS = ("backend", "device", "case", "dtype", "status", "reason", "flags", "desc", "layer", "branch", "role")
#: The command that records runs, as the errors of reading them name it.
VERB = "history add"


def machine_of(meta: dict) -> dict:
    """The fingerprint fields of run metadata (a sweep's RUN_ID.json or a pytest-benchmark file's)."""
    gpu = meta.get("gpu")
    memory = meta.get("memory_gib")
    count = meta.get("cpu_count")
    return {"cpu_model": meta.get("cpu_model") or None, "cpu_isa": meta.get("cpu_isa") or None,
            "cpu_count": int(count) if isinstance(count, (int, float)) else None,
            "memory_gib": int(round(memory)) if isinstance(memory, (int, float)) else None,
            "gpu": (gpu.get("name") if isinstance(gpu, dict) else gpu) or None,
            "threading_layer": meta.get("numba_threading_layer") or None}


def fingerprint(machine: dict) -> str:
    """A 12-hex-digit hash of a machine's fields (:data:`MACHINE_FIELDS`)."""
    text = json.dumps([machine.get(k) for k in MACHINE_FIELDS], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def machine_label(machine: dict) -> str:
    """A short human name: ``AMD EPYC, AVX-512, 2 cores, 24 GiB`` (GPU first when there is one)."""
    parts = [machine.get("cpu_model") or "unknown CPU", machine.get("cpu_isa"),
             f"{machine['cpu_count']} cores" if machine.get("cpu_count") else None,
             f"{machine['memory_gib']} GiB" if machine.get("memory_gib") else None]
    label = ", ".join(str(p) for p in parts if p)
    return f"{machine['gpu']} ({label})" if machine.get("gpu") else label


def point_key(row: dict) -> str:
    """The point a row measured, as one string: backend|case|N|C|H|W|F|k|stride|padding|dtype|threads."""
    return "|".join(key_text(row.get(c)) for c in POINT_KEY)


@dataclass
class Record:
    """A run ready to store: its identity, machine, metadata and one dict per point (samples as float lists)."""

    run_id: str
    source: str
    machine: dict
    started_at: str | None
    git_commit: str | None
    preset: str | None
    status: str | None
    metadata: dict
    rows: list[dict] = field(default_factory=list)

    @property
    def machine_id(self) -> str:
        """The machine fingerprint."""
        return fingerprint(self.machine)

    @property
    def key(self) -> str:
        """The run's identity in the database: a hash of machine, run id and start time."""
        text = f"{self.machine_id}|{self.run_id}|{self.started_at or ''}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def utc_iso(value) -> str | None:
    """An ISO 8601 UTC timestamp (``2026-01-02T03:04:05+00:00``) of a date string; naive ones are UTC; None for
    None or "". ValueError for anything else that is not a date string (a number, ``NaT``)."""
    import pandas as pd

    if value is None or value == "":
        return None
    try:
        stamp = pd.Timestamp(value) if isinstance(value, str) else pd.NaT
    except (ValueError, TypeError, OverflowError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ValueError(f"cannot read the date {value!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat(timespec="seconds")


def stored_value(column: str, value):
    """A table cell as SQLite stores it: None for missing, int/float/str/bool plain Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if column == "trusted":
        return bool(value) if not isinstance(value, str) else value.strip().lower() == "true"
    if column in INTEGER_COLUMNS and isinstance(value, float) and value.is_integer():
        return int(value)
    if column in INTEGER_COLUMNS and isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value)  # a table column that also holds text ('same' padding of a failed point) reads as text
    if column in TEXT_COLUMNS:
        return str(value)
    return value


def record_of(ref: str, results_dir: str | Path = "results") -> Record:
    """The record of a run given as ``results/RUN_ID.csv``, its ``RUN_ID.json``, a run id under ``results_dir``,
    or a pytest-benchmark JSON file saved with ``--benchmark-save-data``. ValueError (one line) when it is no
    such thing, has no per-round samples or no points, names a base build alone, or its files are damaged."""
    from .benchjson import read_benchmark_run  # lazy: keeps numba out of harness.history() (via metadata)
    from .comparison import BaseBuild, read_run, resolve_run

    path = Path(ref)
    if path.suffix == ".json" and path.with_suffix(".csv").is_file():
        ref = str(path.with_suffix(".csv"))  # a sweep's metadata JSON (RUN_ID.json) stands for its run
    run = resolve_run(ref, results_dir, VERB)
    if isinstance(run, BaseBuild):
        raise ValueError(f"{ref!r}: a base build is recorded with its run (as its NAME@base rows); "
                         "name the run without @base")
    bench = isinstance(run, Path)
    label, table, samples, meta = read_benchmark_run(run, VERB) if bench else read_run(run)
    if not bench and not meta:
        raise ValueError(f"run {label!r} has no metadata {run.metadata}: its machine, commit and date are unknown")
    source = run if bench else run.metadata  # the file the errors about its metadata name
    target = checked_metadata(meta, source)
    if "trusted" not in table.columns or table["trusted"].isna().all():  # a run from before the trust columns
        table = table.assign(**{c: None for c in ("flags", "trusted")})
        try:
            rows = [with_trust(r, target, meta.get("peak")) for r in table.to_dict("records")]
        except (AttributeError, TypeError, ValueError) as exc:
            if not meta.get("peak"):
                raise
            raise ValueError(f"{source}: peak: the rows cannot be judged against this "
                             f"roof ({type(exc).__name__}: {exc})") from None
    else:
        rows = table.to_dict("records")
    by_point = samples_by_point(samples)
    records = []
    for row in rows:
        stored = {c: stored_value(c, row.get(c)) for c in STORED_COLUMNS}
        stored["point"] = point_key(row)
        stored["samples_s"] = [float(t) for t in by_point.get((row["backend"], row["case"]), ())]
        records.append(stored)
    if not records:
        raise ValueError(f"{run} holds no benchmarks: nothing to record" if bench else
                         f"run {label!r} holds no points: nothing to record")
    run_id = run_id_of_bench(run) if bench else run.run_id
    when = "datetime" if bench else "started_at"
    try:
        started_at = utc_iso(meta.get(when))
    except ValueError as exc:
        raise ValueError(f"{source}: {when}: {exc}") from None
    return Record(run_id=run_id, source=str(run if bench else run.table), machine=machine_of(meta),
                  started_at=started_at, git_commit=meta.get("git_commit") or None, preset=meta.get("preset") or None,
                  status="complete" if bench else meta.get("status"), metadata=meta, rows=records)


#: Metadata fields a record stores as text (its commit, preset, status, machine fields).
TEXT_FIELDS = ("git_commit", "preset", "status", "cpu_model", "cpu_isa", "numba_threading_layer")


def checked_metadata(meta: dict, where) -> float:
    """The run's target relative CI (``settings.target_rel_ci``, default 0.02) once the metadata fields a record
    reads are of their type; ValueError (one line) naming the file ``where`` and the field otherwise."""
    settings = meta.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise ValueError(f"{where}: settings must be a JSON object, got {type(settings).__name__} {settings!r:.40}")
    target = (settings or {}).get("target_rel_ci", 0.02)
    if not is_number(target) or not 0 < target < math.inf:
        raise ValueError(f"{where}: settings.target_rel_ci must be a finite number > 0, got {target!r:.40}")
    for name in TEXT_FIELDS:
        if meta.get(name) is not None and not isinstance(meta[name], str):
            raise ValueError(f"{where}: {name} must be a string, got {type(meta[name]).__name__} {meta[name]!r:.40}")
    gpu = meta.get("gpu")
    name = gpu.get("name") if isinstance(gpu, dict) else gpu
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{where}: gpu must be a name or an object with a name, got {gpu!r:.40}")
    for name in ("cpu_count", "memory_gib"):
        value = meta.get(name)
        if value is not None and not (is_number(value) and 0 <= value < math.inf):
            raise ValueError(f"{where}: {name} must be a finite number >= 0, got {value!r:.40}")
    return float(target)


def is_number(value) -> bool:
    """Whether ``value`` is an int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_id_of_bench(path: Path) -> str:
    """The run id of a pytest-benchmark file (its stem, as ``compare`` names it)."""
    from .benchjson import run_id_of  # lazy: keeps numba out of harness.history() (via metadata)

    return run_id_of(path)
