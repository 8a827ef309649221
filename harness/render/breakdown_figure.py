"""Where the saving goes, drawn: per branch and backend, reduce + conv as a share of the direct layer's time.

One panel per branch (and batch): for each backend the reduced pair stacked as 1x1 reduce (light) + kxk
conv (dark), each as a percentage of that backend's direct kxk layer's time (direct = 100%, drawn as a line
where it lies within the axis), with the pair's 95% interval, and a dashed line at the FLOP-proportional
ideal (100% / FLOP saving: the pair at the direct layer's GFLOP/s). Normalising makes a 3 ms and a 25 ms
branch read alike, and the axis ends near the tallest bar, so the reduce/conv split is visible in every
panel (a 5x5 pair at 10% of its direct layer fills the panel). The gap between the stacked bar and the
ideal is the part of the FLOP saving that did not become time; the verdict sentence splits it. The axis
comes from the data (:mod:`.axes`): a bar beyond ``CAP_PERCENT`` is cut with its value written, a whisker
beyond the top ends in an arrow. Hatched bars: untrusted rows.
"""
from __future__ import annotations

import math

import numpy as np

from ..trust import is_trusted
from .axes import clip_interval, linear_top, mark_clipped, whisker_lengths
from .plotting import backend_colors, plain, pyplot, save_figure, title
from .verdicts import backend_order

#: The y axis never runs past this share of the direct layer's time; a taller pair bar is cut, value written.
CAP_PERCENT = 300.0


def panel_title(r: dict, varying: list[str]) -> str:
    """"3a 5x5 (N=1): 9.7x fewer FLOPs"."""
    where = ", ".join(f"{c}={r[c]}" for c in varying)
    return plain(f"{r['branch']}" + (f" ({where})" if where else "") + f": {r['flop_saving']:.1f}x fewer FLOPs")


def plot_breakdown(reduction, meta: dict, path):
    """The stacked-bar figure of :mod:`harness.breakdown`'s parts; None without a reduction study."""
    if reduction is None or reduction.empty or "ideal_s" not in reduction.columns:
        return None
    plt = pyplot()
    varying = [c for c in ("N", "dtype", "threads") if reduction[c].nunique() > 1]
    groups = list(dict.fromkeys(tuple(r[c] for c in ["branch"] + varying) for r in reduction.to_dict("records")))
    backends = backend_order(reduction["backend"])
    colors = backend_colors(backends)
    ncols = min(4, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    width_in = max(4.2 * ncols, 7.5)  # one panel still leaves room for the title and legend
    legend_cols = 4 if width_in >= 12 else 2
    legend_in = 0.45 if legend_cols == 4 else 0.7  # the legend's band at the bottom
    height_in = 3.4 * nrows + 0.35 + legend_in
    fig, axes = plt.subplots(nrows, ncols, figsize=(width_in, height_in), squeeze=False)
    for ax, key in zip(axes.flat, groups):
        part = reduction[np.logical_and.reduce([reduction[c] == v for c, v in zip(["branch"] + varying, key)])]
        rows = sorted(part.to_dict("records"), key=lambda r: backends.index(r["backend"]))
        draw_panel(ax, rows, colors)
        ax.set_title(panel_title(rows[0], varying), fontsize=8)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.45), plt.Rectangle((0, 0), 1, 1, color="grey"),
               plt.Line2D([], [], color="black", ls="--", lw=1.2),
               plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="grey", hatch="xxx")]
    fig.legend(handles, ["1x1 reduce", "kxk after the reduce (stacked; whisker: 95% CI of the pair)",
                         "ideal: the pair at the direct layer's GFLOP/s", "hatched: untrusted rows"],
               loc="lower center", ncol=legend_cols, fontsize=8)
    fig.suptitle(title("Where the FLOP saving goes: time as % of the direct layer's (labels: time saving)", meta),
                 fontsize=10)
    fig.set_layout_engine("tight", rect=(0, legend_in / height_in, 1, 0.95))  # kept by save_figure
    return save_figure(fig, path)


def draw_panel(ax, rows: list[dict], colors: dict) -> None:
    """One branch: per backend the pair's stacked bar and the ideal, as percentages of the direct layer's time;
    the axis from the data, with the direct layer's 100% drawn where it lies within reach."""
    pct = [{"reduce": 100 * r["time_reduce_s"] / r["time_direct_s"],
            "conv": 100 * r["time_conv_s"] / r["time_direct_s"], "ideal": 100 / r["flop_saving"],
            "lo": 100 / r["time_saving_hi"], "hi": 100 / r["time_saving_lo"]} for r in rows]
    pairs = [p["reduce"] + p["conv"] for p in pct]
    shown = np.minimum(pairs + [p["ideal"] for p in pct], CAP_PERCENT)
    top = min(linear_top(shown, [p["hi"] for p in pct], refs=[100.0]) or 110.0, CAP_PERCENT * 1.08)
    xs = np.arange(len(rows))
    for x, r, p, pair in zip(xs, rows, pct, pairs):
        color = colors[r["backend"]]
        hatch = None if is_trusted(r) else "xxx"
        ax.bar(x, min(p["reduce"], top), 0.55, color=color, alpha=0.45, edgecolor="black", lw=0.5, hatch=hatch)
        ax.bar(x, max(min(pair, top) - p["reduce"], 0), 0.55, bottom=min(p["reduce"], top), color=color,
               edgecolor="black", lw=0.5, hatch=hatch)
        ax.hlines(p["ideal"], x - 0.36, x + 0.36, colors="black", linestyles="--", lw=1.2)
        if math.isfinite(p["lo"]) and pair <= top:
            lo, hi, below, above = clip_interval([p["lo"]], [p["hi"]], (0.0, top))
            ax.errorbar(x, pair, yerr=whisker_lengths([pair], lo, hi), fmt="none", ecolor="black", capsize=2, lw=0.8)
            mark_clipped(ax, [x], (0.0, top), below, above, horizontal=False, color="black")
        label = f"{r['time_saving']:.1f}x" + ("" if pair <= top else f" ({pair:.0f}%: cut)")
        ax.annotate(label, (x + 0.3, min(pair, top)), fontsize=7, ha="left", va="top" if pair > top else "center",
                    xytext=(2, 0), textcoords="offset points", annotation_clip=False)
    if top > 100:
        ax.axhline(100.0, color="black", lw=1.2)
        ax.text(-0.55, 100.0, "direct = 100%", fontsize=6, va="bottom")
    ax.set_xticks(xs, [plain(r["backend"]) + ("" if is_trusted(r) else " (!)") for r in rows], fontsize=7)
    ax.set_ylim(0, top)
    ax.set_xlim(-0.6, len(rows) - 0.15)
    ax.set_ylabel("% of the direct layer's time", fontsize=8)
    ax.yaxis.set_major_formatter(pyplot().FuncFormatter(lambda v, _: f"{v:.0f}%"))
    ax.grid(axis="y", alpha=0.3)
