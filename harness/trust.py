"""How far to trust a row: the ``flags`` and ``trusted`` columns, computed once when a point is final.

Flags (``;``-separated in the table, empty when clean):

- ``noisy``: the 95% CI of the median is wider than the run's target (exactly ``rel_ci > target``);
- ``above-peak``: faster than this machine's measured peak (GEMM GFLOP/s for the dtype, or copy GB/s)
  by more than ``PEAK_MARGIN`` - a timing error, a kernel skipping work, or a stale peak;
- ``unsettled``: the point's warm-up never became steady within ``--settle-s`` (the machine was still
  changing speed when timing began);
- ``passes-disagree``: the point's passes disagreed beyond their spread even after re-measuring
  (``passes_disagree`` names the pass and the ratio; the row pools the consistent passes);
- ``not-timed``: the row has no time (skipped, unavailable, failed, wrong, or a check-only run).

``trusted`` is True exactly when ``flags`` is empty.
"""
from __future__ import annotations

import math

#: A point faster than PEAK_MARGIN x the measured peak is flagged above-peak.
PEAK_MARGIN = 1.1
FLAGS = ("noisy", "above-peak", "unsettled", "passes-disagree", "not-timed")


def peak_limits(peak: dict | None, dtype: str, threads: int) -> tuple[float | None, float | None]:
    """(GFLOP/s, GB/s) no CPU row of ``dtype`` on ``threads`` threads can honestly exceed, or None each.

    A peak measured with at least ``threads`` threads bounds a row on ``threads`` threads.
    """
    if not peak or threads > int(peak.get("threads") or 0):
        return None, None
    gflops = (peak.get("gemm_gflops") or {}).get(dtype)
    return (float(gflops) if gflops else None), (float(peak["copy_gbytes_per_s"])
                                                 if peak.get("copy_gbytes_per_s") else None)


def row_flags(row: dict, target_rel_ci: float, peak: dict | None = None) -> list[str]:
    """The trust flags of one finished row (see the module docstring)."""
    time_s = row.get("time_s")
    if row.get("status") != "ok" or time_s is None or not math.isfinite(time_s):
        return ["not-timed"]
    flags = []
    rel_ci = row.get("rel_ci")
    if rel_ci is None or not rel_ci <= target_rel_ci:
        flags.append("noisy")
    threads = row.get("threads")
    if row.get("device") == "cpu" and isinstance(threads, (int, float)) and math.isfinite(threads):
        max_gflops, max_gbytes = peak_limits(peak, row.get("dtype"), int(threads))
        if (max_gflops and row["gflops"] > PEAK_MARGIN * max_gflops) or \
                (max_gbytes and row["gbytes_per_s"] > PEAK_MARGIN * max_gbytes):
            flags.append("above-peak")
    if row.get("steady") is False:
        flags.append("unsettled")
    if isinstance(row.get("passes_disagree"), str) and row["passes_disagree"]:
        flags.append("passes-disagree")
    return flags


def with_trust(row: dict, target_rel_ci: float, peak: dict | None = None) -> dict:
    """``row`` with its ``flags`` and ``trusted`` columns filled in."""
    flags = row_flags(row, target_rel_ci, peak)
    return dict(row, flags=";".join(flags), trusted=not flags)


def is_trusted(row) -> bool:
    """A row's ``trusted`` column as a bool, whether read as a bool, a number or text; missing (a run from
    before the trust columns, or no row) counts as untrusted: nobody checked it."""
    value = row.get("trusted") if row is not None and hasattr(row, "get") else None
    if isinstance(value, str):
        return value.strip().lower() == "true"
    try:  # bool, numpy bool, number; NaN (an empty cell) is untrusted
        return value is not None and value == value and bool(value)
    except (TypeError, ValueError):
        return False


def flag_counts(table) -> dict[str, int]:
    """How many rows carry each flag (flags of timed rows; ``not-timed`` left out)."""
    counts: dict[str, int] = {}
    for text in table.get("flags", []):
        for flag in str(text).split(";") if isinstance(text, str) and text else []:
            if flag != "not-timed":
                counts[flag] = counts.get(flag, 0) + 1
    return counts


def trust_banner(table, target_rel_ci: float, load: tuple | None = None) -> str | None:
    """One sentence counting untrusted timed rows and what to do about them, or None when all are trusted."""
    timed = int((table["status"] == "ok").sum()) if "status" in table else 0
    counts = flag_counts(table)
    if not counts or not timed:
        return None
    parts = []
    if counts.get("noisy"):
        parts.append(f"{counts['noisy']} of {timed} points are noisy (CI > {target_rel_ci:.0%}): close other "
                     "programs or raise --budget-s")
    if counts.get("above-peak"):
        parts.append(f"{counts['above-peak']} ran faster than this machine's measured peak: re-measure it "
                     "with --fresh-peak, or suspect the timing")
    if counts.get("unsettled"):
        parts.append(f"{counts['unsettled']} never ran at a steady speed during warm-up: raise --settle-s")
    text = "; ".join(parts)
    if load and any(v is not None for v in load):
        text += f" (load average {load[0]} before, {load[1]} after)"
    return text
