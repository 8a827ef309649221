"""The reduction study's figure: the time each backend saved with a 1x1 reduce, beside the FLOPs it saved."""
from __future__ import annotations

from .plotting import backend_colors, pyplot, save_figure, title


def plot_reduction(reduction, meta: dict, path):
    """Bars of realised time saving per backend next to the theoretical FLOP saving, per branch."""
    if reduction is None or reduction.empty:
        return None
    plt = pyplot()
    reduction = reduction.copy()
    varying = [c for c in ("N", "dtype", "threads") if reduction[c].nunique() > 1]
    reduction["group"] = reduction["branch"] + reduction[varying].astype(str).apply(
        lambda r: "".join(f"\n{c}={v}" for c, v in r.items()), axis=1) if varying else reduction["branch"]
    groups = list(dict.fromkeys(reduction["group"]))
    backends = list(dict.fromkeys(reduction["backend"]))
    colors = backend_colors(backends)
    width = 0.8 / (len(backends) + 1)
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(groups) * (len(backends) + 1) / 3), 5))
    flops = reduction.groupby("group", sort=False)["flop_saving"].first()
    bars = ax.bar(list(range(len(groups))), [flops[g] for g in groups], width=width, color="white",
                  edgecolor="black", hatch="//", label="FLOP saving (theory)")
    ax.bar_label(bars, fmt="%.1fx", fontsize=7)
    for j, backend in enumerate(backends, start=1):
        part = reduction[reduction["backend"] == backend].set_index("group")["time_saving"]
        xs = [i + j * width for i, g in enumerate(groups) if g in part.index]
        bars = ax.bar(xs, [part[g] for g in groups if g in part.index], width=width, color=colors[backend],
                      label=f"time saving: {backend}")
        ax.bar_label(bars, fmt="%.1fx", fontsize=7)
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xticks([i + width * len(backends) / 2 for i in range(len(groups))], groups, fontsize=8)
    ax.set_ylabel("saving factor: direct / (1x1 reduce + conv)  (>1: reduction wins)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title("1x1 reduction: FLOPs saved vs time saved", meta), fontsize=10)
    return save_figure(fig, path)
