"""Figures of a run, drawn from its table alone (plots never re-run anything).

Every figure: labelled axes with units, a legend, a title naming the preset and
machine; one colour per backend, the same in every figure (registry order).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .plotting import backend_colors, ok_rows, pyplot, save_figure, title

def plot_gflops(table, meta: dict, path: Path) -> Path | None:
    """Horizontal grouped bars: GFLOP/s per case (rows) and backend (colours), log scale."""
    ok = ok_rows(table)
    if ok.empty:
        return None
    plt = pyplot()
    cases = list(dict.fromkeys(table["case"]))
    backends = list(dict.fromkeys(ok["backend"]))
    colors = backend_colors(backends)
    height = 0.8 / len(backends)
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.22 * len(cases) * max(2, len(backends)) / 2))
    for i, backend in enumerate(backends):
        part = ok[ok["backend"] == backend].set_index("case")["gflops"]
        ys = [j + i * height for j, c in enumerate(cases) if c in part.index]
        ax.barh(ys, [part[c] for c in cases if c in part.index], height=height, color=colors[backend],
                label=backend)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(cases))], cases, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("GFLOP/s (higher is better; log scale)")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_title(title("Throughput per layer and backend", meta), fontsize=10)
    return save_figure(fig, path)


def plot_speedup(table, meta: dict, path: Path, baseline: str = "numpy") -> Path | None:
    """Speed of every backend relative to ``baseline`` per case (>1: faster than the baseline)."""
    ok = ok_rows(table)
    base = ok[ok["backend"] == baseline].set_index(["case"])["time_s"]
    others = [b for b in dict.fromkeys(ok["backend"]) if b != baseline]
    if base.empty or not others:
        return None
    plt = pyplot()
    cases = [c for c in dict.fromkeys(table["case"]) if c in base.index]
    colors = backend_colors(others + [baseline])
    height = 0.8 / len(others)
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.22 * len(cases) * max(2, len(others)) / 2))
    for i, backend in enumerate(others):
        part = ok[ok["backend"] == backend].set_index("case")["time_s"]
        pairs = [(j, base[c] / part[c]) for j, c in enumerate(cases) if c in part.index]
        if pairs:
            ax.barh([j + i * height for j, _ in pairs], [s for _, s in pairs], height=height,
                    color=colors[backend], label=backend)
    ax.axvline(1.0, color="black", lw=1)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(cases))], cases, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"speedup vs {baseline} (time_{baseline} / time; >1 is faster; log scale)")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_title(title(f"Speedup relative to {baseline}", meta), fontsize=10)
    return save_figure(fig, path)


def plot_time_vs_work(table, meta: dict, path: Path) -> Path | None:
    """Log-log time per call against FLOPs, one line per backend and kernel size."""
    ok = ok_rows(table)
    if ok["flops"].nunique() < 3:
        return None
    plt = pyplot()
    colors = backend_colors(ok["backend"].unique())
    markers = {1: "o", 3: "s", 5: "^", 7: "D"}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for (backend, k), part in ok.groupby(["backend", "k"], sort=False):
        part = part.groupby("flops", as_index=False)["time_s"].median().sort_values("flops")
        ax.plot(part["flops"], part["time_s"], marker=markers.get(k, "x"), color=colors[backend], lw=1,
                label=f"{backend} k={k}")
    lo, hi = ok["flops"].min(), ok["flops"].max()
    ax.plot([lo, hi], [lo / 1e11, hi / 1e11], ls=":", color="black", lw=1, label="100 GFLOP/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("work per call (FLOPs, log scale)")
    ax.set_ylabel("time per call (s, log scale; lower is better)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title("Time vs work", meta), fontsize=10)
    return save_figure(fig, path)


def plot_threads(table, meta: dict, path: Path) -> Path | None:
    """Speedup over one thread against threads, per backend (geometric mean over layers), with ideal."""
    ok = ok_rows(table)
    if ok["threads"].nunique() < 2 or 1 not in set(ok["threads"]):
        return None
    plt = pyplot()
    colors = backend_colors(ok["backend"].unique())
    fig, ax = plt.subplots(figsize=(7, 5))
    for backend, part in ok.groupby("backend", sort=False):
        t1 = part[part["threads"] == 1].set_index("layer")["time_s"]
        points = []
        for threads, sub in part.groupby("threads"):
            ratios = [t1[r.layer] / r.time_s for r in sub.itertuples() if r.layer in t1.index]
            if ratios:
                points.append((threads, float(np.exp(np.mean(np.log(ratios))))))
        if points:
            ax.plot(*zip(*points), marker="o", color=colors[backend], label=backend)
    top = int(ok["threads"].max())
    ax.plot([1, top], [1, top], ls="--", color="black", lw=1, label="ideal")
    ax.set_xlabel("threads")
    ax.set_ylabel("speedup over 1 thread (geomean over layers)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title("Thread scaling", meta), fontsize=10)
    return save_figure(fig, path)


def plot_roofline(table, meta: dict, path: Path) -> Path | None:
    """GFLOP/s against FLOP/byte (log-log) with the measured compute and bandwidth roofs."""
    ok = ok_rows(table)
    peak = meta.get("peak") or {}
    if ok.empty or not peak.get("gemm_gflops") or not peak.get("copy_gbytes_per_s"):
        return None
    plt = pyplot()
    dtype = ok["dtype"].mode().iloc[0]
    ok = ok[ok["dtype"] == dtype]
    peak_gflops = float(peak["gemm_gflops"].get(dtype, max(peak["gemm_gflops"].values())))
    bandwidth = float(peak["copy_gbytes_per_s"])
    intensity = ok["flops"] / ok["bytes"]
    xs = np.logspace(np.log10(max(intensity.min() / 3, 1e-2)), np.log10(intensity.max() * 3), 200)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.plot(xs, np.minimum(peak_gflops, bandwidth * xs), color="black", lw=2,
            label=f"roof: {peak_gflops:.0f} GFLOP/s ({dtype} GEMM), {bandwidth:.0f} GB/s (copy)")
    colors = backend_colors(ok["backend"].unique())
    markers = {1: "o", 3: "s", 5: "^", 7: "D"}
    for (backend, k), part in ok.groupby(["backend", "k"], sort=False):
        ax.scatter(part["flops"] / part["bytes"], part["gflops"], color=colors[backend],
                   marker=markers.get(k, "x"), s=28, alpha=0.85, label=f"{backend} k={k}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per minimal byte moved, log scale)")
    ax.set_ylabel("GFLOP/s (log scale)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    ax.set_title(title(f"Roofline ({dtype}; threads={peak.get('threads', '?')} for the roofs)", meta), fontsize=10)
    return save_figure(fig, path)


from .reduction_figure import plot_reduction  # noqa: E402


def draw_all(table, meta: dict, out_dir: Path, *, baseline: str = "numpy", reduction=None) -> list[Path]:
    """Draw every figure that applies to this run into ``out_dir``; return the written paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if "host" in table.columns and table["host"].nunique() > 1:  # a run across machines: one series per host
        table = table.assign(backend=table["backend"] + "@" + table["host"].astype(str))
    drawn = [
        plot_gflops(table, meta, out_dir / "gflops.png"),
        plot_speedup(table, meta, out_dir / "speedup.png", baseline=baseline),
        plot_time_vs_work(table, meta, out_dir / "time_vs_work.png"),
        plot_roofline(table, meta, out_dir / "roofline.png"),
        plot_threads(table, meta, out_dir / "threads.png"),
        plot_reduction(reduction, meta, out_dir / "reduction.png") if reduction is not None else None,
    ]
    return [p for p in drawn if p is not None]
