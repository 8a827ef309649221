"""Where the saving goes, drawn: per branch and backend, direct | reduce + conv | ideal, in milliseconds.

One panel per branch (and batch): for each backend three bars - the direct kxk layer, the reduced
pair stacked as 1x1 reduce (light) + kxk conv (dark), and the FLOP-proportional ideal (the pair at
the direct layer's GFLOP/s, hatched). The gap between the stacked bar and the ideal is the part of
the FLOP saving that did not become time; the caption under each panel splits it.
"""
from __future__ import annotations

import math

import numpy as np

from .plotting import backend_colors, plain, pyplot, save_figure, title
from .verdicts import backend_order


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
        xs = np.arange(len(rows))
        for x, r in zip(xs, rows):
            color = colors[r["backend"]]
            ax.bar(x - 0.27, 1e3 * r["time_direct_s"], 0.25, color=color, alpha=0.35, edgecolor=color)
            ax.bar(x, 1e3 * r["time_reduce_s"], 0.25, color=color, alpha=0.6, edgecolor="black", lw=0.5)
            ax.bar(x, 1e3 * r["time_conv_s"], 0.25, bottom=1e3 * r["time_reduce_s"], color=color,
                   edgecolor="black", lw=0.5)
            ax.bar(x + 0.27, 1e3 * r["ideal_s"], 0.25, color="white", edgecolor=color, hatch="///")
            ax.annotate(f"{r['time_saving']:.1f}x", (x, 1e3 * r["time_reduced_s"]), fontsize=7, ha="center",
                        xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(xs, [plain(r["backend"]) for r in rows], fontsize=7)
        ax.set_ylabel("ms per call", fontsize=8)
        ax.set_title(panel_title(rows[0], varying), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.35), plt.Rectangle((0, 0), 1, 1, color="grey",
               alpha=0.6), plt.Rectangle((0, 0), 1, 1, color="grey"),
               plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="grey", hatch="///")]
    fig.legend(handles, ["direct kxk", "1x1 reduce", "kxk after the reduce (stacked)",
                         "ideal: the pair at the direct layer's GFLOP/s"], loc="lower center", ncol=legend_cols,
               fontsize=8)
    fig.suptitle(title("Where the FLOP saving goes: direct | reduce + conv | ideal (labels: time saving)", meta),
                 fontsize=10)
    fig.set_layout_engine("tight", rect=(0, legend_in / height_in, 1, 0.95))  # kept by save_figure
    return save_figure(fig, path)
