"""The reduction study's figure: the share of the 1x1 reduction's FLOP saving each backend realised as time.

One column per branch (labelled with its FLOP saving), one dot per backend at its
efficiency (time saving / FLOP saving) with the bootstrap 95% CI and the time
saving written beside it; 100% means the FLOP saving fully became time. The axis
is linear, from the data (:mod:`.axes`) and capped, so one absurd point cannot
flatten the rest: a point above the cap is drawn as a triangle on the cap with
its value, a whisker beyond the top ends in an arrow. Hollow: untrusted.
"""
from __future__ import annotations

import math

import numpy as np

from ..trust import is_trusted
from .axes import clip_interval, clipped_legend_entry, linear_top, mark_clipped, whisker_lengths
from .plotting import backend_colors, plain, pyplot, save_figure, title
from .verdicts import backend_order

#: The y axis ends here (as a share of the FLOP saving); points beyond are drawn on it with their value.
Y_CAP = 1.6


def group_labels(reduction) -> list[str]:
    """A label per row: the branch, the varying batch/dtype/threads, and the FLOP saving."""
    varying = [c for c in ("N", "dtype", "threads") if reduction[c].nunique() > 1]
    return [plain(f"{r['branch']}") + "".join(f" {c}={r[c]}" for c in varying) + f"\n{r['flop_saving']:.1f}x fewer FLOPs"
            for r in reduction.to_dict("records")]


def plot_reduction(reduction, meta: dict, path):
    """Dots of realised share of the FLOP saving per backend and branch, with CIs, on a linear axis from the
    data (values capped at ``Y_CAP``, whiskers cut at the top with an arrow)."""
    if reduction is None or reduction.empty:
        return None
    plt = pyplot()
    reduction = reduction.assign(group=group_labels(reduction))
    groups = list(dict.fromkeys(reduction["group"]))
    backends = backend_order(reduction["backend"])
    colors = backend_colors(backends)
    offsets = np.linspace(-0.25, 0.25, len(backends)) if len(backends) > 1 else [0.0]
    shown = np.minimum(list(reduction["efficiency"]) + list(reduction.get("efficiency_fused", [])), Y_CAP)
    top = min(linear_top(shown, reduction["efficiency_hi"], refs=[1.0]) or Y_CAP, Y_CAP * 1.05)
    fig, ax = plt.subplots(figsize=(max(10, 1.9 * len(groups) + 5), 5.5))
    clipped = 0
    for backend, dx in zip(backends, offsets):
        for r in reduction[reduction["backend"] == backend].to_dict("records"):
            x = groups.index(r["group"]) + dx
            clipped += draw_point(ax, x, r, colors[backend], top)
    for backend in backends:
        ax.plot([], [], "o", color=colors[backend], label=plain(backend))
    ax.plot([], [], "o", color="grey", mfc="white", label="hollow: untrusted")
    ax.plot([], [], "^", color="grey", label=f"above {Y_CAP:.0%}: value written")
    if clipped:
        clipped_legend_entry(ax, horizontal=False)
    if "efficiency_fused" in reduction and reduction["efficiency_fused"].notna().any():
        ax.plot([], [], "D", color="grey", label="diamond: the fused kernel (reduce + conv in one pass)")
    if top > 1.0:
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.text(len(groups) - 0.5, 1.0, " all of the FLOP saving", fontsize=7, va="bottom", ha="right")
    else:
        ax.text(len(groups) - 0.5, top, "100% (all of the FLOP saving) lies above this axis", fontsize=7,
                va="top", ha="right")
    ax.set_ylim(0, top)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_xticks(range(len(groups)), groups, fontsize=7)
    ax.set_ylabel("share of the FLOP saving realised as time\n(time saving / FLOP saving, 95% CI)")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title("1x1 reduction: how much of the FLOP saving became time saving (labels: time saving)",
                       meta), fontsize=10)
    return save_figure(fig, path)


def draw_point(ax, x: float, r: dict, color, top: float) -> int:
    """One backend's dot (and fused diamond) for one branch; returns how many whiskers were cut at ``top``."""
    eff, lo, hi = r["efficiency"], r["efficiency_lo"], r["efficiency_hi"]
    face = color if is_trusted(r) else "white"
    if eff > Y_CAP:
        ax.plot(x, min(Y_CAP, top), marker="^", ms=8, color=color, mfc=face)
        ax.annotate(f"{eff:.0%}\n({r['time_saving']:.1f}x)", (x, min(Y_CAP, top)), fontsize=6, ha="center",
                    xytext=(0, -22), textcoords="offset points", color=color)
        return 0
    clipped = 0
    if math.isfinite(lo):
        lo_c, hi_c, below, above = clip_interval([lo], [hi], (0.0, top))
        ax.errorbar(x, eff, yerr=whisker_lengths([eff], lo_c, hi_c), fmt="o", ms=6, color=color, mfc=face,
                    capsize=3, lw=1)
        clipped = mark_clipped(ax, [x], (0.0, top), below, above, horizontal=False, color=color)
    else:
        ax.plot(x, eff, "o", ms=6, color=color, mfc=face)
    ax.annotate(f"{r['time_saving']:.1f}x", (x, eff), fontsize=6, xytext=(4, 0), textcoords="offset points",
                va="center", color=color)
    fused = r.get("efficiency_fused")
    if isinstance(fused, float) and fused == fused:
        ax.plot(x + 0.06, min(fused, top), marker="D", ms=6, color=color,
                mfc=color if is_trusted({"trusted": r.get("fused_trusted")}) else "white")
        ax.annotate(f"{r['time_saving_fused']:.1f}x fused", (x + 0.06, min(fused, top)), fontsize=6,
                    xytext=(4, 0), textcoords="offset points", va="center", color=color)
    return clipped
