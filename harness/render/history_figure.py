"""History figures: time per call over the runs of one machine and backend, one small panel per layer.

Each panel is one series (a point: case, dtype, threads) in date order: the run's
median time per call with the 95% CI of that median from its per-round samples.
Change points found by :mod:`harness.changepoints` are dashed lines labelled with
the run, its commit and the step; a panel whose newest change point is a slowdown
has a red title (green: faster, amber: could not be judged). Side by side, a
regression that hits every 3x3 layer of a backend is seen at a glance.
"""
from __future__ import annotations

import math

import numpy as np

from ..timing import median_ci
from .plotting import plain, pyplot, save_figure

TITLE_COLORS = {"slower": "#c00000", "faster": "#007000", "inconclusive": "#b07800", "short": "#777777"}
#: At most this many run labels along the x axis.
MAX_TICKS = 16


def time_unit(values_s) -> tuple[float, str]:
    """(scale, unit) that reads best for these seconds: us below 1 ms, ms below 1 s, else s."""
    top = float(np.nanmax(values_s)) if len(values_s) else 1.0
    if top < 1e-3:
        return 1e6, "us"
    return (1e3, "ms") if top < 1 else (1.0, "s")


def run_intervals(rows) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper 95% CI of each row's median from its samples (its median where it has fewer than 2)."""
    lo, hi = [], []
    for r in rows.to_dict("records"):
        samples = r.get("samples_s")
        if samples is not None and len(samples) >= 2:
            a, b = median_ci(samples)
        else:
            a = b = r["time_s"]
        lo.append(a)
        hi.append(b)
    return np.asarray(lo), np.asarray(hi)


def panel_title(rows, verdict: dict | None, varying: list[str]) -> str:
    """``3x3 float32 threads=2`` plus the verdict when it is not ``same``."""
    first = rows.iloc[0]
    text = str(first["case"]) + "".join(f" {c}={first[c]}" for c in varying if str(first[c]) not in str(first["case"]))
    if verdict and verdict["verdict"] not in ("same",):
        text += f"\n{verdict['verdict']}"
        if isinstance(verdict["ratio"], float) and math.isfinite(verdict["ratio"]):
            text += f" x{verdict['ratio']:.2f} at {verdict['run_id']}"
    return plain(text)


def draw_panel(ax, rows, positions: dict, verdict: dict | None, varying: list[str]) -> None:
    """One series: medians with CIs over run positions, change points dashed and labelled."""
    rows = rows.sort_values(["started_at", "run_id"], kind="stable")
    x = np.array([positions[r] for r in rows["run"]])
    scale, unit = time_unit(rows["time_s"].to_numpy())
    y = rows["time_s"].to_numpy() * scale
    lo, hi = run_intervals(rows)
    ax.errorbar(x, y, yerr=[np.maximum(y - lo * scale, 0), np.maximum(hi * scale - y, 0)], fmt="o-", ms=3, lw=0.8,
                capsize=2, color="#1f77b4")
    untrusted = ~rows["trusted"].fillna(False).astype(bool).to_numpy()
    ax.plot(x[untrusted], y[untrusted], "o", ms=5, mfc="white", color="#1f77b4", zorder=3)
    run_ids = list(rows["run_id"])
    for label in (verdict or {}).get("change_points", []):
        run_id = label.split("@")[0]
        if run_id in run_ids:
            at = x[run_ids.index(run_id)] - 0.5
            ax.axvline(at, color="#c00000", ls="--", lw=1)
            ax.annotate(plain(label), (at, 1.0), xycoords=("data", "axes fraction"), fontsize=6, rotation=90,
                        ha="right", va="top", color="#c00000")
    ax.set_ylabel(f"time per call ({unit})", fontsize=7)
    ax.set_ylim(0, float(np.max(y)) * 1.4)  # a wild CI of one run runs off the top instead of flattening the rest
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3)
    ax.set_title(panel_title(rows, verdict, varying), fontsize=8,
                 color=TITLE_COLORS.get((verdict or {}).get("verdict"), "black"))


def plot_series_grid(rows, result, path=None):
    """Small multiples of one machine and backend: a panel per point (``rows``: its ok history rows with
    samples; ``result``: their check rows). Saves to ``path`` and returns it, or returns the open Figure."""
    plt = pyplot()
    runs = rows.drop_duplicates("run").sort_values(["started_at", "run_id"], kind="stable")
    positions = {run: i for i, run in enumerate(runs["run"])}
    points = list(dict.fromkeys(rows.sort_values("case", kind="stable")["point"]))
    varying = [c for c in ("dtype", "threads") if rows[c].nunique() > 1]
    verdicts = {r["point"]: r for r in result.to_dict("records")}
    ncols = min(4, len(points))
    nrows = math.ceil(len(points) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 1, 2.7 * nrows + 1.2), squeeze=False)
    step = max(1, math.ceil(len(runs) / MAX_TICKS))
    labels = [plain(r) for r in runs["run_id"]]
    for i, ax in enumerate(axes.flat):
        if i >= len(points):
            ax.set_visible(False)
            continue
        draw_panel(ax, rows[rows["point"] == points[i]], positions, verdicts.get(points[i]), varying)
        ax.set_xlim(-0.6, len(runs) - 0.4)
        bottom = i + ncols >= len(points)  # the lowest panel of its column carries the run labels
        ax.set_xticks(range(0, len(runs), step), labels[::step] if bottom else [], rotation=60, ha="right",
                      fontsize=6)
    first = rows.iloc[0]
    fig.suptitle(plain(f"{first['backend']} on {first['machine_label']} (machine {first['machine']}): time per call "
                       "over runs, median and 95% CI; dashed: change points (run@commit xstep); hollow: untrusted"),
                 fontsize=9)
    return save_figure(fig, path)
