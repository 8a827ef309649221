"""A stored noise floor from an A/A pair (``harness calibrate``, ``compare A B --save-floor``): a quiet machine's.

A stored floor widens every later gate on its CPU model (:func:`harness.noisefloor.with_stored`: the wider of
it and a comparison's own), until the next calibration. So it holds only what two runs of unchanged code on
a quiet machine differ by, process to process:

* points a burst hit in one run (median and fastest pass more than ``BURST_FACTOR`` apart,
  :func:`harness.compare_rule.burst_hit`) are left out, counted in ``bursts_left_out``;
* points that met other busy processes in either run (``contended``: ``others_share`` at or above
  ``CONTENDED_SHARE``) are left out, counted in ``contended_left_out`` - a comparison of two busy runs has
  their scatter in its own floor already; stored, one busy neighbour caught while calibrating (x/ 1.5 where
  the quiet floor is x/ 1.07 on the Intel VM) would silence every later gate;
* a backend left with fewer than ``MIN_STORED_ROWS`` points gets no new floor (its earlier one, if any, stays),
  named in ``too_few_rows``: two points replaced a floor of six; when no backend is left, nothing is stored
  and ValueError says why.
"""
from __future__ import annotations

from pathlib import Path

from .benchfiles import files_of
from .benchpace import bench_paced
from .compare_rule import BURST_FACTOR
from .comparemerge import matched_samples, merge_points
from .comparison import point_moves, read_run
from .contention import is_contended
from .noisefloor import calibration_floors, noise_path, save_floors
from .pace import pace_adjusted
from .pacetrust import probe_mismatch, probe_version
from .results import RunFiles
from .settings import CONTENDED_SHARE

#: A backend needs this many points kept in an A/A pair for a stored floor (three: the benchmark files of a
#: small pytest-benchmark suite; fewer say next to nothing of a spread).
MIN_STORED_ROWS = 3


def calibration_entry(base: RunFiles | Path, new: RunFiles | Path) -> dict:
    """The entry :func:`store_calibrated_floor` stores for an A/A pair: ``backends`` (``{name: {"floor_sd",
    "rows"}}``, only those with ``MIN_STORED_ROWS`` points kept; a backend whose passes had the machine's pace
    divided out, :mod:`harness.pace`, also gets ``paced_floor_sd`` and ``pace_slope``: compare uses the floor that
    fits the rows it judges), ``probe`` (the pair's pace probe version), ``runs``, ``bursts_left_out``,
    ``contended_left_out``, ``too_few_rows`` (``{name: points kept}``) and ``cpu_model``. ValueError for two CPU
    models, two probes that are not the same work (another probe version or Python release: their pace cannot be
    divided out between the runs) or no point in common."""
    (base_id, bt, bs, meta), (new_id, nt, ns, new_meta) = read_run(base), read_run(new)
    if files_of(meta) > 1 or files_of(new_meta) > 1:
        raise ValueError("a stored floor is one benchmark file's against another's, as compare judges single files: "
                         "name one file a side (several files a side are judged against their own spread)")
    if meta.get("cpu_model") != new_meta.get("cpu_model"):
        raise ValueError(f"an A/A pair must come from one CPU model, got {meta.get('cpu_model')!r} and "
                         f"{new_meta.get('cpu_model')!r}")
    other_loops = probe_mismatch(meta, new_meta)
    if other_loops:
        raise ValueError(f"an A/A pair for a stored floor must read one pace probe: {other_loops}; measure both "
                         "with one Python and this convbench")
    merged = merge_points(bt, nt)
    if "pytest-benchmark" in (meta.get("source"), new_meta.get("source")):
        bs, ns, _ = bench_paced(bs, ns)  # as compare judges benchmark files: at a common pace (harness.benchpace)
    floors, ratios, bursts, contended = kept_floors(merged, bs, ns)
    paced_bs, paced_ns, slopes = pace_adjusted(bs, ns)
    paced = kept_floors(merged, paced_bs, paced_ns)[0] if slopes else {}
    for backend, slope in slopes.items():
        if backend in floors and backend in paced:
            floors[backend].update(paced_floor_sd=paced[backend]["floor_sd"], pace_slope=round(slope, 3))
    return {"runs": [base_id, new_id], "cpu_model": meta.get("cpu_model") or "unknown CPU", "probe": probe_version(meta),
            "backends": {b: f for b, f in floors.items() if f["rows"] >= MIN_STORED_ROWS},
            "bursts_left_out": len(bursts), "contended_left_out": len(contended),
            "too_few_rows": {b: f["rows"] for b, f in floors.items() if f["rows"] < MIN_STORED_ROWS} | {
                b: 0 for b, _, _ in ratios if b not in floors}}


def kept_floors(merged, base_samples, new_samples) -> tuple:
    """``(floors, ratios, bursts, contended)`` of an A/A pair's samples: each backend's floor over the points kept
    (:func:`harness.noisefloor.calibration_floors`), every matched point's log ratio, and the positions among
    them of the points a burst hit and of those contended in either run."""
    matched = matched_samples(merged, base_samples, new_samples)
    ratios, _, _, _, bursts = point_moves(merged, matched, base_samples, new_samples)
    contended = {k for k, i in enumerate(matched) if k not in bursts and any(
        is_contended(merged.at[i, column]) for column in ("others_share_base", "others_share_new"))}
    return calibration_floors([r for k, r in enumerate(ratios) if k not in bursts | contended]), ratios, bursts, \
        contended


def store_calibrated_floor(base: RunFiles | Path, new: RunFiles | Path, results_dir: str | Path) -> tuple[Path, dict]:
    """Measure each backend's process-to-process floor from two runs of unchanged code (sweeps or pytest-benchmark
    files; :func:`calibration_entry`) and store it for their CPU model in ``RESULTS_DIR/noise.json``; returns the
    path and the entry. ValueError, with nothing written, when no backend kept ``MIN_STORED_ROWS`` points."""
    from .metadata import now_iso  # lazy: metadata imports numba

    entry = calibration_entry(base, new)
    if not entry["backends"]:
        kept = ", ".join(f"{b} {n}" for b, n in sorted(entry["too_few_rows"].items())) or "none"
        left = entry["bursts_left_out"] + entry["contended_left_out"]
        raise ValueError(f"no noise floor stored ({noise_path(results_dir)} unchanged): no backend kept "
                         f"{MIN_STORED_ROWS} points of the A/A pair (points kept: {kept}; {left} left out: "
                         f"{entry['contended_left_out']} contended in either run, {entry['bursts_left_out']} hit by a "
                         "burst); calibrate again on a quiet machine")
    cpu_model = entry.pop("cpu_model")
    entry = {"measured_at": now_iso(), **entry}
    return save_floors(results_dir, cpu_model, entry), entry


def left_out_lines(entry: dict) -> list[str]:
    """What a stored entry left out, one line each (none when nothing was): points a burst hit, contended points,
    backends with too few points left for a floor of their own."""
    lines = []
    if entry.get("bursts_left_out"):
        lines.append(f"left out: {entry['bursts_left_out']} point(s) a burst of another process hit in one run "
                     f"(median and fastest pass more than {BURST_FACTOR:g}x apart)")
    if entry.get("contended_left_out"):
        lines.append(f"left out: {entry['contended_left_out']} point(s) that met other busy processes in either run "
                     f"(they held {CONTENDED_SHARE:.0%} or more of its cores: contended) - a stored floor is a quiet "
                     "machine's")
    for backend, rows in sorted((entry.get("too_few_rows") or {}).items()):
        lines.append(f"no new floor for {backend}: {rows} point(s) left, {MIN_STORED_ROWS} needed (an earlier "
                     "floor of it, if stored, stays)")
    return lines
