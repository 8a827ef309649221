"""The seed question across machines: one panel per machine, side by side, on one shared axis.

Each panel is a machine of the history database (its newest run of each branch):
one column per branch and batch (labelled with its FLOP saving), one dot per
backend at the share of the FLOP saving it realised as time (time saving / FLOP
saving) with the bootstrap 95% CI, its time saving written beside it. 100% (the
dashed line) means the 1x1 reduction's FLOP saving fully became time on that
machine. The y axis is shared and capped as in the single-run figure; hollow dots
are untrusted.
"""
from __future__ import annotations

import math

import numpy as np

from ..trust import is_trusted
from .plotting import backend_colors, plain, pyplot, save_figure
from .reduction_figure import Y_CAP
from .verdicts import backend_order


def group_label(row: dict, dtypes: int) -> str:
    """``3a 5x5 N=8`` (and the dtype when the table has several) with its FLOP saving below."""
    dtype = f" {row['dtype']}" if dtypes > 1 else ""
    return plain(f"{row['branch']} N={row['N']}{dtype}\n{row['flop_saving']:.1f}x fewer FLOPs")


def draw_machine(ax, part, colors: dict, backends: list[str], dtypes: int) -> None:
    """One machine's panel: efficiency with CI per backend and branch."""
    part = part.sort_values(["branch", "N", "dtype"], kind="stable")
    groups = list(dict.fromkeys(group_label(r, dtypes) for r in part.to_dict("records")))
    here = [b for b in backends if b in set(part["backend"])]
    offsets = np.linspace(-0.25, 0.25, len(here)) if len(here) > 1 else [0.0]
    for backend, dx in zip(here, offsets):
        for r in part[part["backend"] == backend].to_dict("records"):
            x = groups.index(group_label(r, dtypes)) + dx
            eff, lo, hi = r["efficiency"], r["efficiency_lo"], r["efficiency_hi"]
            face = colors[backend] if is_trusted(r) else "white"
            if eff > Y_CAP:
                ax.plot(x, Y_CAP, marker="^", ms=7, color=colors[backend], mfc=face)
                ax.annotate(f"{eff:.0%}", (x, Y_CAP), fontsize=6, ha="center", xytext=(0, -12),
                            textcoords="offset points", color=colors[backend])
                continue
            yerr = [[max(eff - lo, 0)], [max(min(hi, Y_CAP) - eff, 0)]] if math.isfinite(lo) else None
            ax.errorbar(x, eff, yerr=yerr, fmt="o", ms=5, color=colors[backend], mfc=face, capsize=2, lw=1)
            ax.annotate(f"{r['time_saving']:.1f}x", (x, eff), fontsize=5.5, xytext=(3, 0), textcoords="offset points",
                        va="center", color=colors[backend])
    ax.axhline(1.0, color="black", lw=1, ls="--")
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_xticks(range(len(groups)), groups, fontsize=6, rotation=45, ha="right")
    ax.grid(axis="y", alpha=0.3)


def plot_machines(table, path=None):
    """The per-machine reduction table (:func:`harness.crossmachine.reduction_by_machine`) as one figure of
    side-by-side panels; saved to ``path`` (returned), or the open Figure when ``path`` is None."""
    plt = pyplot()
    table, note = comparable(table)
    machines = list(dict.fromkeys(table.sort_values("machine_label")["machine_label"]))
    backends = backend_order(table["backend"])
    colors = backend_colors(backends)
    dtypes = table["dtype"].nunique()
    widths = [max(table[table["machine_label"] == m][["branch", "N", "dtype"]].drop_duplicates().shape[0], 1)
              for m in machines]
    fig, axes = plt.subplots(1, len(machines), figsize=(max(8, 0.75 * sum(widths) + 2.5 * len(machines) + 2), 5.6),
                             sharey=True, squeeze=False, gridspec_kw={"width_ratios": widths})
    for ax, machine in zip(axes[0], machines):
        part = table[table["machine_label"] == machine]
        draw_machine(ax, part, colors, backends, dtypes)
        runs = list(dict.fromkeys(part.sort_values("started_at")["run_id"]))
        dates = sorted({str(d)[:10] for d in part["started_at"]})
        threads = ", ".join(str(int(t)) for t in sorted(part["threads"].dropna().unique()))
        ax.set_title(plain(f"{wrap(machine)}\nrun{'s' if len(runs) > 1 else ''} {', '.join(runs)} "
                           f"({', '.join(dates)}), threads {threads}"), fontsize=7)
    axes[0][0].set_ylim(0, Y_CAP * 1.05)
    axes[0][0].set_ylabel("share of the FLOP saving realised as time\n(time saving / FLOP saving, 95% CI)")
    axes[0][0].yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    for backend in backends:
        axes[0][-1].plot([], [], "o", color=colors[backend], label=plain(backend))
    axes[0][-1].plot([], [], "o", color="grey", mfc="white", label="hollow: untrusted")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("1x1 reduction on every machine in the history: how much of the FLOP saving became time "
                 f"(labels: time saving){note}", fontsize=10)
    return save_figure(fig, path)


def comparable(table) -> tuple[object, str]:
    """The rows of branches that more than one machine measured (when there are any: those are the ones to
    compare), and a note on what was left out."""
    machines_per_branch = table.groupby("branch")["machine"].nunique()
    shared = machines_per_branch[machines_per_branch > 1].index
    if len(shared) == 0 or len(shared) == len(machines_per_branch):
        return table, ""
    left = len(machines_per_branch) - len(shared)
    return table[table["branch"].isin(shared)], (f"\nbranches measured on more than one machine; {left} more "
                                                 "branch(es) of one machine each are in the table")


def wrap(text: str, width: int = 38) -> str:
    """``text`` broken at ', ' or ' (' so a long machine label fits above a narrow panel."""
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width)) or str(text)
