"""pytest-benchmark JSON files as convbench runs, so ``harness compare`` judges them like sweeps.

``pytest tests/bench --benchmark-only --benchmark-json new.json --benchmark-save-data``
(or ``--benchmark-autosave --benchmark-save-data``, which writes
``.benchmarks/<machine>/0001_<commit>_<date>.json``) holds, per benchmark, its
name, ``extra_info`` and ``stats``. With ``--benchmark-save-data``,
``stats.data`` is the list of raw round times, one entry per timed round, and each
entry is already *per call*: pytest-benchmark times a round of ``stats.iterations``
calls and stores the round's duration divided by ``iterations``
(``Metadata.update`` in pytest_benchmark/stats.py). So ``len(data) == stats.rounds``
and ``median(data) == stats.median``; warm-up rounds are not in ``data``.

:func:`load_benchmark_json` turns such a file into the two DataFrames that
:func:`harness.compare.compare_tables` consumes: a run table with the contract
columns of :data:`harness.results.COLUMNS` (one row per benchmark; ``case`` is the
benchmark's name with its parameter id after a colon, ``test_conv2d[numpy-3a-1x1]``
-> ``test_conv2d:numpy-3a-1x1`` (the console tables read ``[...]`` as markup), so
two files match by name) and a samples table (one row per round, ``time_s`` per call,
and ``pace_s``: the machine's pace read after the round where the benchmark recorded
one, :mod:`harness.benchpace`).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from .benchpace import PACE_COLUMN
from .layers import SHAPE_FIELDS
from .metadata import isa_of_flags
from .results import COLUMNS, SAMPLE_COLUMNS, TIME_RANGE_S

#: Shape columns copied from a benchmark's ``extra_info`` when it records them.
SHAPE_COLUMNS = [*SHAPE_FIELDS, "Ho", "Wo", "flops", "bytes", "threads"]
NO_DATA = "saved without --benchmark-save-data: {verb} needs per-round times; re-run with --benchmark-save-data"
#: Whole numbers from this magnitude on do not fit int64 (the history database's integers).
INT64_LIMIT = 2**63


def read_benchmark_json(path: str | Path, verb: str = "compare") -> dict:
    """The parsed document of a pytest-benchmark JSON file; ValueError (one line, naming the file and the field) if
    it is not one or a field the reader uses has the wrong type. ``verb`` is the command the messages name."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such pytest-benchmark file: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # ValueError: JSONDecodeError, or an int of 4300+ digits
        raise ValueError(f"{path} is not JSON ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ValueError(f"{path} is not a pytest-benchmark JSON file (nested too deeply to read)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list) or "machine_info" not in doc:
        raise ValueError(f"{path} is not a pytest-benchmark JSON file (no 'benchmarks' list and 'machine_info')")
    for key in ("machine_info", "commit_info"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise ValueError(f"{path} is not a pytest-benchmark JSON file ({key!r} is not an object)")
    check_document_fields(path, doc)
    names = set()
    for bench in doc["benchmarks"]:
        if not isinstance(bench, dict) or not isinstance(bench.get("name"), str) \
                or not isinstance(bench.get("stats"), dict):
            raise ValueError(f"{path} is not a pytest-benchmark JSON file (a benchmark without name or stats)")
        if bench["name"] in names:
            raise ValueError(f"{path}: benchmark {bench['name']} appears twice; {verb} matches benchmarks by name")
        names.add(bench["name"])
        check_benchmark_fields(path, bench)
        data = bench["stats"].get("data")
        if not data:
            raise ValueError(f"{path}: benchmark {bench['name']} {NO_DATA.format(verb=verb)}")
        low, high = TIME_RANGE_S
        if not isinstance(data, list) or not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                                                 and low <= t <= high for t in data):
            raise ValueError(f"{path}: benchmark {bench['name']}: stats.data must be a list of positive, finite "
                             f"times in seconds ({low:g} to {high:g})")
        if len(data) < 2:
            raise ValueError(f"{path}: benchmark {bench['name']} has {len(data)} round; {verb} needs at least 2 "
                             "per-round times to judge a change (run pytest-benchmark with --benchmark-min-rounds=5 "
                             "or more)")
    return doc


def check_document_fields(path: Path, doc: dict) -> None:
    """ValueError (one line, naming the file and the field) for a field of ``machine_info``/``commit_info`` or of the
    document that the reader uses and that is not what pytest-benchmark writes: ``machine_info.cpu`` an object,
    ``cpu.count`` an int >= 1, ``cpu.flags`` a list of strings, the rest strings (any of them may be null or absent)."""
    machine = doc.get("machine_info") or {}
    cpu = machine.get("cpu")
    if cpu is not None and not isinstance(cpu, dict):
        raise ValueError(f"{path}: machine_info.cpu is a {type(cpu).__name__}, not an object")
    cpu, commit = cpu or {}, doc.get("commit_info") or {}
    texts = {"machine_info.node": machine.get("node"), "machine_info.python_version": machine.get("python_version"),
             "machine_info.cpu.brand_raw": cpu.get("brand_raw"), "commit_info.id": commit.get("id"),
             "datetime": doc.get("datetime"), "version": doc.get("version")}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{path}: {name} must be a string, got {value!r}"[:300])
    count, flags = cpu.get("count"), cpu.get("flags")
    if count is not None:
        check_count(f"{path}: machine_info.cpu.count", count)
    if flags is not None and (not isinstance(flags, list) or not all(isinstance(f, str) for f in flags)):
        raise ValueError(f"{path}: machine_info.cpu.flags must be a list of strings, got {flags!r}"[:300])


def check_count(what: str, value) -> None:
    """ValueError ``WHAT must be an int >= 1`` unless ``value`` is one that fits int64."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an int >= 1, got {value!r}"[:300])
    if value >= INT64_LIMIT:
        raise ValueError(f"{what} = {value} is beyond int64"[:300])


def beyond_int64(value, whole: bool) -> bool:
    """Whether the number ``value`` cannot be stored as int64: an int beyond it or, when it counts something
    (``whole``), a finite float beyond it (infinity and NaN are read as unknown)."""
    if isinstance(value, int):
        return abs(value) >= INT64_LIMIT
    return whole and math.isfinite(value) and abs(value) >= INT64_LIMIT


def check_benchmark_fields(path: Path, bench: dict) -> None:
    """ValueError (one line) for a benchmark whose ``extra_info``, ``params``, ``group`` or ``stats.iterations`` is
    not what pytest-benchmark writes: objects (or null), numbers >= 0 within int64 for the shape fields and
    ``max_abs_err``, strings for the names, a positive int."""
    where = f"{path}: benchmark {bench['name']}"
    for key in ("extra_info", "params"):
        if bench.get(key) is not None and not isinstance(bench[key], dict):
            raise ValueError(f"{where}: {key!r} is a {type(bench[key]).__name__}, not an object")
    info = bench.get("extra_info") or {}
    for name in (*SHAPE_COLUMNS, "max_abs_err"):
        value = info.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"{where}: extra_info[{name!r}] must be a number, got {value!r}"[:300])
        if value is not None and beyond_int64(value, whole=name != "max_abs_err"):
            raise ValueError(f"{where}: extra_info[{name!r}] = {value!r} is beyond int64"[:300])
        if value is not None and value < 0:  # a size, a count or an error: a negative one is a damaged file
            raise ValueError(f"{where}: extra_info[{name!r}] = {value!r} is negative"[:300])
    names = {f"extra_info[{n!r}]": info.get(n) for n in ("backend", "device", "dtype")}
    names.update({"group": bench.get("group"), "params.backend": (bench.get("params") or {}).get("backend")})
    for name, value in names.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{where}: {name} must be a string, got {value!r}"[:300])
    check_count(f"{where}: stats.iterations", bench["stats"].get("iterations", 1))


def case_of(name: str) -> str:
    """The ``case`` of a benchmark name: ``test_conv2d[numpy-3a-1x1]`` -> ``test_conv2d:numpy-3a-1x1``."""
    return re.sub(r"\[(.*)\]$", r":\1", name)


def run_id_of(path: str | Path) -> str:
    """A run id for a benchmark file: its stem with characters outside [A-Za-z0-9._-] replaced by '_'."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).stem).lstrip("._-")
    return stem[:100] or "benchmark"


def benchmark_row(bench: dict, run_id: str) -> dict:
    """One run-table row (contract columns) for one benchmark of a pytest-benchmark document."""
    import numpy as np

    info = bench.get("extra_info") or {}
    stats = bench["stats"]
    data = np.asarray(stats["data"], dtype=float)
    q1, q3 = np.percentile(data, [25, 75])
    row = {c: math.nan for c in COLUMNS}
    row.update({c: info[c] for c in SHAPE_COLUMNS if c in info})
    params = bench.get("params") or {}
    backend = info.get("backend", params.get("backend", bench.get("group") or ""))
    time_s = float(np.median(data))
    row.update(run_id=run_id, backend=str(backend), device=info.get("device", "cpu"), case=case_of(bench["name"]),
               dtype=info.get("dtype", ""), status="ok", reason="", time_s=time_s,
               time_min_s=float(data.min()), time_iqr_s=float(q3 - q1), rounds=len(data),
               calls_per_round=int(stats.get("iterations", 1)), max_abs_err=info.get("max_abs_err", math.nan))
    if isinstance(row["flops"], (int, float)) and time_s > 0:
        row["gflops"] = row["flops"] / time_s / 1e9
    if isinstance(row["bytes"], (int, float)) and time_s > 0:
        row["gbytes_per_s"] = row["bytes"] / time_s / 1e9
    return row


def benchmark_tables(doc: dict, run_id: str):
    """(table, samples) DataFrames of a parsed pytest-benchmark document (see the module docstring)."""
    import pandas as pd

    rows, samples = [], []
    for bench in doc["benchmarks"]:
        row = benchmark_row(bench, run_id)
        rows.append(row)
        paces = round_paces_of(bench)
        samples += [{"run_id": run_id, "backend": row["backend"], "case": row["case"], "round": i, "time_s": float(t),
                     PACE_COLUMN: pace} for i, (t, pace) in enumerate(zip(bench["stats"]["data"], paces))]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table, pd.DataFrame(samples, columns=[*SAMPLE_COLUMNS, PACE_COLUMN])


def round_paces_of(bench: dict) -> list:
    """The pace read after each round (``extra_info["paces_s"]``, :mod:`harness.benchpace`), one per entry of
    ``stats.data``; NaN for every round of a benchmark that recorded none, or not one per round."""
    paces = (bench.get("extra_info") or {}).get("paces_s")
    data = bench["stats"]["data"]
    if not isinstance(paces, list) or len(paces) != len(data):
        return [math.nan] * len(data)
    return [p if isinstance(p, (int, float)) and not isinstance(p, bool) else math.nan for p in paces]


def benchmark_metadata(doc: dict) -> dict:
    """Run metadata (host, cpu_model, versions, commit) from a document's ``machine_info``/``commit_info``."""
    machine = doc.get("machine_info") or {}
    cpu = machine.get("cpu") or {}
    versions = {"python": machine.get("python_version")}
    if doc.get("version"):
        versions["pytest-benchmark"] = doc["version"]
    flags = cpu.get("flags") if isinstance(cpu.get("flags"), list) else []
    ours = machine.get("convbench") if isinstance(machine.get("convbench"), dict) else {}  # tests/conftest.py
    if isinstance(ours.get("probe"), (str, int)) and not isinstance(ours.get("probe"), bool):  # harness.probe
        versions["probe"] = str(ours["probe"])  # the pace probe's version, PROBE_VERSION
    return {"source": "pytest-benchmark", "host": machine.get("node"), "cpu_model": cpu.get("brand_raw"),
            "cpu_count": cpu.get("count"), "cpu_isa": isa_of_flags(flags), "versions": versions,
            "memory_gib": ours.get("memory_gib"), "numba_threading_layer": ours.get("numba_threading_layer"),
            "git_commit": (doc.get("commit_info") or {}).get("id"), "datetime": doc.get("datetime")}


def load_benchmark_json(path: str | Path):
    """``(table, samples)`` of a pytest-benchmark JSON file saved with ``--benchmark-save-data``.

    Raises ValueError with a one-line message for a missing file, a file that is
    not JSON, JSON that is not pytest-benchmark's, or benchmarks without raw data.
    """
    return benchmark_tables(read_benchmark_json(path), run_id_of(path))


def read_benchmark_run(path: str | Path, verb: str = "compare") -> tuple:
    """``(label, table, samples, metadata)`` of a pytest-benchmark JSON file, as a run is read: its name, the
    tables of :func:`benchmark_tables` and :func:`benchmark_metadata`; the errors name the command ``verb``."""
    doc = read_benchmark_json(path, verb)
    return (Path(path).name, *benchmark_tables(doc, run_id_of(path)), benchmark_metadata(doc))
