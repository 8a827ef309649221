"""The median of every pass of every point of a run, read back from ``RUN_ID.passes.jsonl``.

A point is timed in several passes spread over the sweep (:mod:`harness.passes`). Rounds within one
pass share its circumstances (a competing process on a core, the clock of the moment), so the passes,
not the rounds, are the independent repetitions of a point within a run. ``harness compare`` asks
whether the *fastest pass* moved with the median (:func:`harness.compare_rule.fastest_pass_followed`),
which tells a slowdown of the code (every pass slower) from interference in some passes of one run -
including passes the row left out, since a pass that ran fast shows what the code could do in that
process.

The medians travel with the samples table in ``attrs["pass_medians_s"]`` (:func:`with_pass_medians`), so
every reader of a run - the CLI, the Python API - hands them to compare the same way. A run without a
passes file (older runs, pytest-benchmark JSON, tables written by other tools) has none, and compare
judges it without the check.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from .results import read_pass_records

#: A pass needs this many rounds for its median to count as a repetition of its point.
MIN_PASS_ROUNDS = 3
#: Where :func:`with_pass_medians` puts the medians on a samples table.
ATTR = "pass_medians_s"


def read_pass_medians(passes_path: str | Path) -> dict:
    """``{(backend, case): [median seconds per call of each timed pass, in file order]}`` ({} when the file is
    absent or unreadable: the check is an extra, never a reason to refuse a comparison). Passes with fewer than
    ``MIN_PASS_ROUNDS`` rounds and lines that are not a pass record (a torn last line) are skipped."""
    out: dict = {}
    path = Path(passes_path)
    try:
        records = read_pass_records(path) if path.is_file() else []
    except OSError:
        return out
    for _, record in records:
        if record is None or record[2].get("case") is None:
            continue
        key, _, row, samples_s = record
        if len(samples_s) >= MIN_PASS_ROUNDS:
            out.setdefault((key[0], str(row["case"])), []).append(statistics.median(samples_s))
    return out


def with_pass_medians(samples, passes_path: str | Path):
    """``samples`` (a samples table) with the run's pass medians in ``attrs["pass_medians_s"]`` (set in place,
    returned for chaining; nothing is set when the run has no passes file or the table is None)."""
    if samples is not None:
        medians = read_pass_medians(passes_path)
        if medians:
            samples.attrs[ATTR] = medians
    return samples


def pass_medians_by_point(samples) -> dict:
    """``{(backend, case): [median seconds of each pass]}`` carried by a samples table ({} when none)."""
    attrs = getattr(samples, "attrs", None) or {}
    medians = attrs.get(ATTR)
    return medians if isinstance(medians, dict) else {}
