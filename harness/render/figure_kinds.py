"""The one registry of a run's figures: name, page title, caption and drawing function, in page order.

Adding a figure kind is one entry in :data:`FIGURES`: the plots folder (:func:`draw_all`), the
notebook API (``Run.plot``, ``harness.api.FIGURE_KINDS``), the HTML page (title and caption) and
the figure tests all read it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .breakdown_figure import plot_breakdown
from .figures import per_host, plot_gflops, plot_roofline, plot_speedup, plot_threads, plot_time_vs_work
from .reduction_figure import plot_reduction


@dataclass(frozen=True)
class FigureKind:
    """One figure a run may have: ``name`` (its PNG stem), the page's ``title`` and ``caption``, and ``plot``,
    called as ``plot(table, meta, path, baseline, reduction)``: the written path, the open figure when ``path``
    is None, or None when the run has nothing to draw."""

    name: str
    title: str
    caption: str
    plot: Callable


def of_reduction(plot: Callable) -> Callable:
    """A ``plot(reduction, meta, path)`` of the reduction table as a registry entry (nothing without one)."""
    return lambda table, meta, path, baseline, reduction: None if reduction is None else plot(reduction, meta, path)


def of_table(plot: Callable) -> Callable:
    """A ``plot(table, meta, path)`` of the run table as a registry entry."""
    return lambda table, meta, path, baseline, reduction: plot(table, meta, path)


#: Every figure kind, in the order of the HTML page.
FIGURES = (
    FigureKind(
        "reduction",
        "1x1 reduction: how much of the FLOP saving became time saving",
        "Per branch (labelled with its FLOP saving), the share of it each backend realised as time saving, "
        "with the 95% bootstrap interval; 100% (dashed) = fully realised. Labels: the time saving. Hollow: "
        "untrusted rows; triangles: beyond the capped axis, value written; an arrow at the top: the interval "
        "runs beyond the axis.",
        of_reduction(plot_reduction)),
    FigureKind(
        "gflops",
        "Throughput per layer and backend",
        "GFLOP/s of every backend on every layer (a dot per backend, log scale, 95% CI): further right is "
        "faster. Hollow dots are untrusted rows; an arrow at the edge marks an interval that runs beyond the "
        "axis (the axis follows the dots, not one absurd interval). A backend missing from a row did not run "
        "there; the table below says why.",
        of_table(plot_gflops)),
    FigureKind(
        "breakdown",
        "Where the FLOP saving goes",
        "Per branch and backend: the 1x1 reduce + kxk pair (stacked) as a percentage of that backend's direct"
        " kxk layer (direct = 100%), with the pair's 95% interval, and the ideal (dashed) - the pair at the "
        "direct layer's GFLOP/s. The gap between the stacked bar and the ideal is the lost part of the "
        "saving; the verdict splits it into the reduce, the small-C conv and per-call cost. Hatched bars: "
        "untrusted rows.",
        of_reduction(plot_breakdown)),
    FigureKind(
        "speedup",
        "Speedup relative to the baseline",
        "Each backend's time divided into the baseline's, per layer, log scale, 95% CI. Right of the black "
        "line at 1 is faster than the baseline. Hollow: untrusted; arrows: clipped intervals.",
        lambda table, meta, path, baseline, reduction: plot_speedup(table, meta, path, baseline=baseline)),
    FigureKind(
        "roofline",
        "Roofline",
        "Each point at its arithmetic intensity (FLOPs per minimal byte) under this machine's measured roofs."
        " Near the slope: memory-bound; near the flat roof: compute-bound; far below both: room to improve.",
        of_table(plot_roofline)),
    FigureKind(
        "time_vs_work",
        "Time vs work",
        "Time per call against FLOPs, log-log, one line per backend and kernel size; hollow markers are "
        "untrusted rows. Parallel to the dotted line is constant throughput; flat at the left means fixed "
        "overheads.",
        of_table(plot_time_vs_work)),
    FigureKind(
        "threads",
        "Thread scaling",
        "Speedup over one thread (geometric mean over layers) against threads; hollow where a row behind the "
        "point is untrusted. The dashed line is perfect scaling.",
        of_table(plot_threads)),
)
#: The names of :data:`FIGURES`, in page order.
KINDS = tuple(f.name for f in FIGURES)


def draw(kind: str, table, meta: dict, path: Path | None, *, baseline: str = "numpy", reduction=None):
    """Draw figure ``kind`` (a name of :data:`KINDS`) to ``path``, or return it open (no path); None when the run
    has nothing to draw as ``kind``. ValueError for an unknown kind."""
    for figure in FIGURES:
        if figure.name == kind:
            return figure.plot(per_host(table), meta, path, baseline, reduction)
    raise ValueError(f"unknown figure {kind!r}; choose from: {', '.join(KINDS)}")


def draw_all(table, meta: dict, out_dir: Path, *, baseline: str = "numpy", reduction=None) -> list[Path]:
    """Draw every figure that applies to this run into ``out_dir``; return the written paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = [draw(kind, table, meta, out_dir / f"{kind}.png", baseline=baseline, reduction=reduction)
             for kind in KINDS]
    return [p for p in drawn if p is not None]


def figure_of(kind: str, view):
    """Figure ``kind`` of a :class:`harness.outputs.RunView`, open (for a notebook), or None if it does not apply."""
    baseline = (view.meta.get("settings") or {}).get("baseline", "numpy")
    return draw(kind, view.table, view.meta, None, baseline=baseline, reduction=view.reduction)
