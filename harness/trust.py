"""How far to trust a row: the ``flags`` and ``trusted`` columns, computed once when a point is final.

Flags (``;``-separated in the table, empty when clean):

- ``noisy``: the 95% CI of the median is wider than the run's target (exactly ``rel_ci > target``);
- ``above-peak``: faster than this machine's physical roof (the FMA loop's GFLOP/s for the dtype and
  threads; the STREAM triad's GB/s for a layer too big for the cache) by more than
  :data:`harness.roof.PEAK_MARGIN` - a timing error or a kernel skipping work (:mod:`harness.roof`);
- ``unsettled``: the point's warm-up never became steady within ``--settle-s`` (the machine was still
  changing speed when timing began);
- ``passes-disagree``: the point's passes disagreed beyond their spread even after re-measuring
  (``passes_disagree`` names the pass and the ratio; the row pools the consistent passes);
- ``disturbed``: every pass of the point ran while its core was slowed - the probe around each pass
  (:mod:`harness.probe`) ran more than ``PROBE_SLACK`` times slower than the host's usual reading in the
  run (the lower quartile of its probes) - so no pass shows the kernel's undisturbed speed;
- ``contended``: other processes used ``CONTENDED_SHARE`` (a quarter) or more of its cores' CPU time
  during the point's median pass (its ``others_share``, :mod:`harness.contention`) - its time may be theirs
  as much as the kernel's;
- ``not-timed``: the row has no time (skipped, unavailable, failed, wrong, or a check-only run).

``trusted`` is True exactly when ``flags`` is empty.
"""
from __future__ import annotations

import math

from .roof import above_peak, roof_columns

FLAGS = ("noisy", "above-peak", "unsettled", "passes-disagree", "disturbed", "contended", "not-timed")
#: The flags that say a row was measured under interference, not merely with a wide interval (compare uses them;
#: ``contended`` it judges by both rows' ``others_share`` instead, :mod:`harness.interference`).
INTERFERENCE_FLAGS = ("unsettled", "passes-disagree", "disturbed")


def row_flags(row: dict, target_rel_ci: float, peak: dict | None = None, disturbed: bool = False,
              contended: bool = False) -> list[str]:
    """The trust flags of one finished row (see the module docstring); ``disturbed``: the sweep found every pass
    of the point on a slowed core (the table has no column for it: it lives in the flag alone); ``contended``:
    its median pass beside busy processes (``others_share``)."""
    time_s = row.get("time_s")
    if row.get("status") != "ok" or time_s is None or not math.isfinite(time_s):
        return ["not-timed"]
    flags = []
    rel_ci = row.get("rel_ci")
    if rel_ci is None or not rel_ci <= target_rel_ci:
        flags.append("noisy")
    if above_peak(row, peak):
        flags.append("above-peak")
    if row.get("steady") is False:
        flags.append("unsettled")
    if isinstance(row.get("passes_disagree"), str) and row["passes_disagree"]:
        flags.append("passes-disagree")
    if disturbed:
        flags.append("disturbed")
    if contended:
        flags.append("contended")
    return flags


def with_trust(row: dict, target_rel_ci: float, peak: dict | None = None, disturbed: bool = False,
               contended: bool = False) -> dict:
    """``row`` with its ``flags`` and ``trusted`` columns, and its place under the roof (``peak_fraction``,
    ``bound``: :func:`harness.roof.roof_columns`), filled in (``disturbed``, ``contended``: see :func:`row_flags`)."""
    flags = row_flags(row, target_rel_ci, peak, disturbed, contended)
    return dict(row, **roof_columns(row, peak), flags=";".join(flags), trusted=not flags)


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


def threaded_contended(table) -> bool:
    """True when a timed row flagged ``contended`` ran on more than one thread (``--threads 1`` would help it)."""
    if "threads" not in table or "flags" not in table:
        return False
    contended = table["flags"].fillna("").astype(str).str.split(";").map(lambda flags: "contended" in flags)
    return bool((contended & (table["threads"] > 1)).any())


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
        parts.append(f"{counts['above-peak']} ran faster than this machine's physical FMA roof: suspect the "
                     "timing or a kernel that skips work (`harness peak --fresh` re-measures the roof)")
    if counts.get("unsettled"):
        parts.append(f"{counts['unsettled']} never ran at a steady speed during warm-up: raise --settle-s")
    if counts.get("disturbed"):
        parts.append(f"{counts['disturbed']} ran every pass on a slowed core (another tenant of the host?): run again")
    if counts.get("contended"):
        advice = "run again on a quiet machine"
        if threaded_contended(table):
            advice += " or with --threads 1 (a kernel on more threads waits for the busy cores)"
        parts.append(f"{counts['contended']} met other busy processes in their median pass: {advice}")
    text = "; ".join(parts)
    if load and any(v is not None for v in load):
        text += f" (load average {load[0]} before, {load[1]} after)"
    return text
