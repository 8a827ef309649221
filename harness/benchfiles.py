"""Several pytest-benchmark files on each side of ``harness compare``: each file one process, read as one pass.

One run of the suite times each backend's benchmarks back to back in one process, so two things move a whole
backend between two files and look exactly like a change of its code: a slow stretch of the machine, and the
runtime's own per-process state (two files of unchanged code on the Intel Xeon VM had torch 1.15-1.24x slower
throughout while the machine's pace did not move). One file per side cannot tell those from the code, so a
comparison of two files counts a backend's common shift as noise (:mod:`harness.benchpace`), and sees a slowdown of
a whole backend only where the machine's pace held steady through its block, and only beyond what one process's
shift can be (:mod:`harness.benchblocks`). Several files per side
see smaller ones: the suite run three times per build gives every
benchmark three independent processes on each side, which is what a sweep's passes are (:mod:`harness.passgroups`).

:func:`read_benchmark_files` reads them that way: the rounds of each file are one pass of its benchmark, so compare
judges the rounds of each benchmark's median file, widens a point's interval by the spread of its own files
(:func:`harness.compare_rule.passes_half`), asks whether the fastest file moved with the median and lets a backend
whose points all moved share that move (:mod:`harness.backendmove`) - the sweep's rules, not the single-file block
rule; the machine's pace is divided out within each side and never between them (:mod:`harness.filepace`,
:mod:`harness.benchsides`). Name the files as a comma-separated list (``a-1.json,a-2.json,a-3.json``) or a quoted
glob (``'base-*.json'``); :func:`expand_files` turns either into paths, a file of that very name first. Measured
numbers: docs/regression-gates.md.
"""
from __future__ import annotations

import glob
import hashlib
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from .abhalves import is_ab, split_ref
from .benchpace import PACE_COLUMN
from .filepace import FILE_PACES_ATTR, WITHIN_SLOPES_ATTR, full_file_paces, paced_within, side_paces
from .pace import reading
from .passgroups import MIN_PASS_ROUNDS, PASSES_ATTR, PROBE_ATTR, THREADS_ATTR, derive
from .probe import FIRST_PROBE
from .layers import key_text
from .results import KEY_COLUMNS
from .runfiles import check_name_lengths

#: Where the metadata of a side read from benchmark files says how many files it holds.
FILES_KEY = "benchmark_files"
#: Where it names the benchmarks left out for being in fewer than two of its files (``[(case, files found)]``).
LEFT_OUT_KEY = "left_out"
#: Where it lists its files (resolved paths), so that a file named on both sides can be told.
PATHS_KEY = "benchmark_paths"
GLOB_CHARS = "*?["


@dataclass(frozen=True)
class BenchFiles:
    """Several pytest-benchmark files of one build, named together on one side of a comparison."""

    paths: tuple


def is_file_list(ref: str) -> bool:
    """Whether a run reference names several benchmark files: a comma-separated list or a glob of ``.json`` files
    (a file of that very name is itself, commas and brackets included). ValueError for a name no file system takes."""
    text = str(ref)
    if check_name_lengths(text).is_file():
        return False
    return "," in text or (any(c in text for c in GLOB_CHARS) and text.lower().endswith(".json"))


def expand_files(ref: str) -> list[Path]:
    """The benchmark files a reference names (:func:`is_file_list`), in order: each item of a comma-separated list,
    each an existing file or a glob, globs sorted (:func:`expand_items`)."""
    if Path(str(ref)).is_file():
        return [Path(str(ref))]
    return expand_items([part.strip() for part in str(ref).split(",")], str(ref))


def expand_items(items: list, ref: str) -> list[Path]:
    """The files ``items`` name, each an existing file (taken as it is, commas and brackets included) or a glob.
    ValueError for an item that is not a ``.json`` path, a folder, a path or glob that names no file, or a file
    named twice or copied (the same process counted twice would fake agreement)."""
    paths: list[Path] = []
    for item in map(str, items):
        if not item:
            raise ValueError(f"{ref!r}: an empty name in the list of benchmark files")
        if Path(item).is_dir():
            raise ValueError(f"{item} is a folder: name the pytest-benchmark files in it ('{item}/*.json')")
        if not item.lower().endswith(".json"):
            raise ValueError(f"{item!r} in {ref!r}: several files on one side must be pytest-benchmark .json files")
        if Path(item).is_file():
            paths.append(Path(item))
        elif any(c in item for c in GLOB_CHARS):
            found = sorted(Path(p) for p in glob.glob(item) if Path(p).is_file())
            if not found:
                raise ValueError(f"no pytest-benchmark file matches {item!r}")
            paths += found
        else:
            raise ValueError(f"no such pytest-benchmark file: {item}")
    distinct(paths, ref)
    return paths


def distinct(paths: list[Path], ref: str) -> None:
    """ValueError when two of ``paths`` are one file (two names, a link) or hold the same bytes (a copy)."""
    seen: dict = {}
    for path in paths:
        try:
            key = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        if key in seen:
            same = "is named twice" if seen[key].resolve() == path.resolve() else f"holds the same bytes as {seen[key]}"
            raise ValueError(f"{path} {same} in {ref!r}: each file must be a separate run of the suite")
        seen[key] = path


def listed_files(items) -> tuple:
    """``(files, base)`` of a list of benchmark files (the Python API's, or a reference split at its commas):
    several as :class:`BenchFiles`, one as its path; ``base`` when every item carries ``@base``, or only the last
    (``a.json,b.json@base``: the base builds of A/B files). ValueError for an empty list, ``@base`` on some items
    only, and what :func:`expand_items` refuses."""
    names = [str(item).strip() for item in items]
    if not names:
        raise ValueError("an empty list of benchmark files: name two or more")
    based = [split_ref(name)[1] for name in names]
    if any(based[:-1]) and not all(based):
        raise ValueError(f"@base on some of {names} only: name the base build of A/B files on every file, or once at "
                         "the end")
    paths = expand_items([split_ref(name)[0] for name in names], ",".join(names))
    return (BenchFiles(tuple(paths)) if len(paths) > 1 else paths[0]), based[-1]


def read_files(files: BenchFiles, both_builds: bool = False) -> tuple:
    """:func:`read_benchmark_files` of a :class:`BenchFiles`."""
    return read_benchmark_files(list(files.paths), both_builds)


def read_benchmark_files(paths: list[Path], both_builds: bool = False) -> tuple:
    """``(label, table, samples, metadata)`` of several pytest-benchmark files of one build, each file one pass of
    every benchmark it holds. The table holds, per benchmark, the row of its median file (the pass whose median is
    the middle one) with ``rounds`` over every file; the samples every round of every file, with the passes in
    their attributes as a sweep's (:func:`harness.passgroups.derive`), each pass's pace (the median of the
    readings after its rounds, None where a round has none) and the median pace of them all as the run's probe
    reading (:func:`harness.passgroups.machine_ratio`: a machine slower through every file of one side holds
    verdicts in its direction back). A benchmark in fewer than two of the files (with ``MIN_PASS_ROUNDS``
    rounds) is left out, named in ``metadata["left_out"]``: one process against several is neither rule's.
    ``metadata`` is the first file's, with the number of files under ``benchmark_files``. ValueError for a file
    that is not a benchmark file saved with ``--benchmark-save-data`` or holds no benchmark of that many rounds,
    for files of different CPU models, hosts or commits, for a benchmark whose shape, dtype or threads differ
    between the files, and, with ``both_builds`` (the side is ``FILES@base``), for a file without a base build."""
    import pandas as pd

    # lazy: benchjson imports metadata, which imports numba; resolving names needs neither
    from .benchjson import benchmark_metadata, benchmark_tables, read_benchmark_json, run_id_of

    if len(paths) < 2:
        raise ValueError("several benchmark files per side need two or more files")
    tables, samples, metas = [], [], []
    for path in paths:
        doc = read_benchmark_json(path)
        table, rounds = benchmark_tables(doc, run_id_of(paths[0]))
        if not (rounds.groupby(["backend", "case"]).size() >= MIN_PASS_ROUNDS).any():
            raise ValueError(f"{path} holds no benchmark with {MIN_PASS_ROUNDS} or more rounds")
        if both_builds and not is_ab(table):
            raise ValueError(f"{path} holds no base build (no NAME@base benchmarks): FILES@base names the base "
                             "build of A/B files, every one of them made with CONVBENCH_BENCH_AGAINST")
        tables.append(table)
        samples.append(rounds)
        metas.append(benchmark_metadata(doc))
    one_build(paths, metas)
    passes, paces, threads, rows = {}, {}, {}, {}
    for path, table, rounds in zip(paths, tables, samples):
        by_point = {key: g for key, g in rounds.groupby(["backend", "case"], sort=False)}
        for _, row in table.iterrows():
            point = (row["backend"], str(row["case"]))
            times = by_point.get((row["backend"], row["case"]))
            if times is None or len(times) < MIN_PASS_ROUNDS:
                continue
            same_point(point, rows.get(point, [row])[0], row, path)
            passes.setdefault(point, []).append(tuple(float(t) for t in times["time_s"]))
            paces.setdefault(point, []).append(pass_pace(times[PACE_COLUMN].tolist()))
            threads[point] = whole_number(row.get("threads"))
            rows.setdefault(point, []).append(row)
    sparse = [point for point, found in passes.items() if len(found) < 2]
    left_out = sorted((*point, len(passes[point])) for point in sparse)
    for point in sparse:
        for attr in (passes, paces, threads, rows):
            attr.pop(point, None)
    if not rows:
        raise ValueError(f"no benchmark is in two or more of the files {', '.join(p.name for p in paths)} with "
                         f"{MIN_PASS_ROUNDS} or more rounds: nothing to judge on this side")
    table = pd.DataFrame([median_row(rows[point]) for point in rows], columns=tables[0].columns)
    every = pd.concat(samples, ignore_index=True)
    every = every[[(b, str(c)) in rows for b, c in zip(every["backend"], every["case"])]].copy()
    every["round"] = every.groupby(["backend", "case"]).cumcount()
    known = [p for ps in paces.values() for p in ps if p is not None]
    full = full_file_paces(paces)
    paced, slopes = paced_within(passes, full)  # the pace within this side; between the sides: harness.filepace
    every.attrs.update({PASSES_ATTR: paced, THREADS_ATTR: threads, FILE_PACES_ATTR: side_paces(full),
                        WITHIN_SLOPES_ATTR: slopes})
    if known:
        every.attrs[PROBE_ATTR] = statistics.median(known)
    derive(every.attrs, paced)
    names = [p.name for p in paths] if len({p.name for p in paths}) == len(paths) else [str(p) for p in paths]
    label = ",".join(names) if len(paths) <= 3 else f"{names[0]} and {len(paths) - 1} more"
    return label, table, every, {**metas[0], FILES_KEY: len(paths), LEFT_OUT_KEY: left_out,
                                 PATHS_KEY: [str(p.resolve()) for p in paths]}


def whole_number(value) -> int | None:
    """``value`` as an int where it is a finite whole number (a thread count), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else None


def same_point(point: tuple, first, row, path: Path) -> None:
    """ValueError when a benchmark's shape, dtype or threads in ``path`` (``row``) differ from its first file's."""
    differ = [c for c in KEY_COLUMNS if c in row.index and key_text(row[c]) != key_text(first[c])]
    if differ:
        raise ValueError(f"{point[1]} differs in {', '.join(differ)} between the files of one side ({path} has "
                         f"{', '.join(f'{c}={row[c]}' for c in differ)}): each side must be runs of one suite")


def median_row(rows: list):
    """The row (of one benchmark, one per file) whose ``time_s`` is the middle one (the lower middle of an even
    count), with ``rounds`` summed over every file and ``time_min_s`` the least."""
    ordered = sorted(rows, key=lambda r: r["time_s"])
    row = ordered[(len(ordered) - 1) // 2].copy()
    row["rounds"] = int(sum(r["rounds"] for r in rows))
    row["time_min_s"] = min(r["time_min_s"] for r in rows)
    return row


def one_build(paths: list[Path], metas: list[dict]) -> None:
    """ValueError unless every file comes from one CPU model and, where the files record them, one host and one
    commit; and from one pace probe (``versions["probe"]``, none recorded: version 1), whose readings a side's
    pace within it compares file to file."""
    versions = [m.get("versions") if isinstance(m.get("versions"), dict) else {} for m in metas]
    for what, values in (("CPU models", [m.get("cpu_model") for m in metas]), ("hosts", [m.get("host") for m in metas]),
                         ("commits", [m.get("git_commit") for m in metas]),
                         ("pace probe versions", [str(v["probe"]) if "probe" in v else f"none recorded ({FIRST_PROBE})"
                                                  for v in versions])):
        if len({v for v in values if v}) > 1:
            listed = ", ".join(f"{p.name}: {v}" for p, v in zip(paths, values))
            raise ValueError(f"the files of one side come from different {what} ({listed}): each side must be "
                             "runs of one build on one machine, by one convbench")


def files_of(metadata: dict) -> int:
    """How many benchmark files a side was read from (1 for a single file or a sweep)."""
    value = metadata.get(FILES_KEY)
    return value if isinstance(value, int) and value > 1 else 1


def pass_pace(values) -> float | None:
    """The median of a pass's pace readings, None unless every one is readable (:func:`harness.pace.reading`)."""
    known = [reading(v) for v in values]
    return statistics.median(known) if known and None not in known else None
