"""Axes from the data: limits set by the plotted values, intervals clipped at them with an arrow.

One bad point must not flatten a figure: a confidence interval whose upper end is
1000x its median (passes that disagreed, a stalled round) would otherwise stretch
a log axis over six decades and squash every other point into a corner. So an
axis spans the plotted values (medians, savings) with a margin; an interval may
widen it, but by at most ``REACH`` beyond the values' range; a whisker that runs
further is cut at the axis edge and ends in an arrow head pointing on (the
figure's legend says so). The values themselves are never clipped here: a value
that far off is data the reader must see.
"""
from __future__ import annotations

import math

import numpy as np

#: An interval may widen an axis to at most REACH x beyond the range of the plotted values (log axes), or to
#: REACH x the largest value (linear axes from 0).
REACH = 3.0
#: Room around the outermost point, as a factor on a log axis (a fraction of the top on a linear one).
MARGIN = 1.25


def finite(values, positive: bool = False) -> np.ndarray:
    """The finite (and, for a log axis, positive) entries of ``values`` as a float array."""
    xs = np.asarray([v for v in values if v is not None], dtype=float).ravel()
    xs = xs[np.isfinite(xs)]
    return xs[xs > 0] if positive else xs


def log_limits(values, ends=(), reach: float = REACH, margin: float = MARGIN) -> tuple[float, float] | None:
    """Limits of a log axis showing every value in ``values`` and the interval ``ends`` up to ``reach`` beyond
    the values' range, with ``margin``; None when there is no positive value."""
    vs = finite(values, positive=True)
    if not len(vs):
        return None
    vmin, vmax = float(vs.min()), float(vs.max())
    lo, hi = vmin, vmax
    es = finite(ends, positive=True)
    if len(es):
        lo, hi = max(min(lo, float(es.min())), vmin / reach), min(max(hi, float(es.max())), vmax * reach)
    if hi / lo < 1.5:  # one value, or a tight cluster: still show a readable stretch around it
        mid = math.sqrt(lo * hi)
        lo, hi = mid / math.sqrt(1.5), mid * math.sqrt(1.5)
    return lo / margin, hi * margin


def linear_top(values, ends=(), refs=(), reach: float = REACH, margin: float = 0.08) -> float | None:
    """Top of a linear axis that starts at 0: the largest value, interval ends up to ``reach`` x that, and
    reference lines (``refs``, e.g. 100%) that lie within the same reach; None without a positive value."""
    vs = finite(values, positive=True)
    if not len(vs):
        return None
    vmax = float(vs.max())
    cap = vmax * reach
    top = max([vmax, *(min(float(e), cap) for e in finite(ends)), *(float(r) for r in refs if r <= cap)])
    return top * (1 + margin)


def clip_interval(lo, hi, limits: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi) cut at ``limits``, and masks of the ends that were cut (below, above). NaN ends stay NaN."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    below, above = lo < limits[0], hi > limits[1]
    return np.where(below, limits[0], lo), np.where(above, limits[1], hi), below, above


def whisker_lengths(values, lo, hi) -> np.ndarray:
    """The (2, n) ``xerr``/``yerr`` of matplotlib's errorbar for intervals [lo, hi] around ``values``; 0 where
    an end is missing."""
    values = np.asarray(values, dtype=float)
    down = np.nan_to_num(values - np.asarray(lo, dtype=float), nan=0.0)
    up = np.nan_to_num(np.asarray(hi, dtype=float) - values, nan=0.0)
    return np.array([np.maximum(down, 0), np.maximum(up, 0)])


def mark_clipped(ax, positions, limits, below, above, *, horizontal: bool, color) -> int:
    """Arrow heads at the axis edge for every cut whisker (pointing on, off the axis); the number drawn."""
    positions = np.asarray(positions, dtype=float)
    below, above = np.asarray(below, dtype=bool), np.asarray(above, dtype=bool)
    for mask, edge, marker in ((below, limits[0], "<" if horizontal else "v"),
                               (above, limits[1], ">" if horizontal else "^")):
        if mask.any():
            at = np.full(int(mask.sum()), edge)
            xs, ys = (at, positions[mask]) if horizontal else (positions[mask], at)
            ax.plot(xs, ys, ls="none", marker=marker, ms=7, color=color, clip_on=False, zorder=5)
    return int(below.sum() + above.sum())


def clipped_legend_entry(ax, horizontal: bool = True) -> None:
    """The legend key of :func:`mark_clipped`'s arrow heads."""
    ax.plot([], [], ls="none", marker=">" if horizontal else "^", color="grey",
            label="arrow at the edge: interval runs beyond the axis")


def plain_log_ticks(axis) -> None:
    """Label a log ``axis`` (``ax.xaxis``) in plain numbers ("2", "0.5", "300"). Minor ticks are labelled too
    when fewer than three decades are in view: all of them on an axis spanning under 3x, else those starting
    with 2, 3 or 5 (so 90 never crowds 100). Call after the limits are set."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    lo, hi = sorted(axis.get_view_interval())
    span = hi / lo if lo > 0 else math.inf
    decades = math.floor(math.log10(hi)) - math.ceil(math.log10(lo)) + 1 if lo > 0 else 3

    def minor(value, _):
        lead = round(value / 10 ** math.floor(math.log10(value) + 1e-9)) if value > 0 else 0
        return f"{value:g}" if span < 3 or lead in (2, 3, 5) else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor) if decades < 3 else NullFormatter())
