"""Figures of a run, drawn from its table alone (plots never re-run anything).

Every figure: labelled axes with units, a legend, a title naming the preset and
machine; one colour per backend, the same in every figure (registry order).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..roof import drawn_roofs
from ..trust import is_trusted
from .axes import (clip_interval, clipped_legend_entry, linear_top, log_limits, mark_clipped, plain_log_ticks,
                   whisker_lengths)
from .plotting import backend_colors, ok_rows, plain, pyplot, save_figure, title


def dot_rows(ax, table, cases, value_of, backends, colors) -> None:
    """One row per case, one marker per backend (offset a little), log x from the values (:mod:`.axes`); error
    bars from ``rel_ci`` cut at the axis edge with an arrow; hollow markers for untrusted rows.
    ``value_of(row) -> (value, lo, hi)`` or None to skip a row."""
    offsets = np.linspace(-0.25, 0.25, len(backends)) if len(backends) > 1 else [0.0]
    points = []  # (backend, y, value, lo, hi, trusted)
    for backend, dy in zip(backends, offsets):
        rows = {r["case"]: r for r in table[table["backend"] == backend].to_dict("records")}
        for j, case in enumerate(cases):
            got = value_of(rows[case]) if case in rows else None
            if got is not None:
                points.append((backend, j + dy, *got, is_trusted(rows[case])))
    limits = log_limits([p[2] for p in points], [p[3] for p in points] + [p[4] for p in points])
    clipped = 0
    for backend in backends:
        mine = [p for p in points if p[0] == backend]
        for trusted in (True, False):
            pts = [p[1:5] for p in mine if p[5] == trusted]
            if not pts:
                continue
            ys, xs, lo, hi = (np.array(v, dtype=float) for v in zip(*pts))
            lo, hi, below, above = clip_interval(lo, hi, limits)
            ax.errorbar(xs, ys, xerr=whisker_lengths(xs, lo, hi), fmt="o", ms=5, color=colors[backend],
                        mfc=colors[backend] if trusted else "white", capsize=2, lw=0.8,
                        label=plain(backend) if trusted or not any(p[5] for p in mine) else None)
            clipped += mark_clipped(ax, ys, limits, below, above, horizontal=True, color=colors[backend])
    ax.plot([], [], "o", color="grey", mfc="white", label="hollow: untrusted (see flags)")
    if clipped:
        clipped_legend_entry(ax)
    ax.set_yticks(range(len(cases)), [plain(c) for c in cases], fontsize=8)
    ax.set_ylim(len(cases) - 0.5, -0.5)
    ax.set_xscale("log")
    if limits:
        ax.set_xlim(*limits)
        plain_log_ticks(ax.xaxis)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)


def with_ci(value: float, rel_ci) -> tuple[float, float, float]:
    """(value, lo, hi) of a rate whose time has a relative CI half-width ``rel_ci``."""
    r = float(rel_ci) if rel_ci == rel_ci and rel_ci is not None else 0.0
    return value, value / (1 + r), value / max(1 - r, 1e-3)


def plot_gflops(table, meta: dict, path: Path) -> Path | None:
    """Dot plot: GFLOP/s per case (rows) and backend (colours), log scale, 95% CI bars, hollow = untrusted."""
    ok = ok_rows(table)
    if ok.empty:
        return None
    plt = pyplot()
    cases = list(dict.fromkeys(table["case"]))
    backends = list(dict.fromkeys(ok["backend"]))
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.3 * len(cases)))
    dot_rows(ax, ok, cases, lambda r: with_ci(r["gflops"], r.get("rel_ci")), backends, backend_colors(backends))
    ax.set_xlabel("GFLOP/s with 95% CI (further right is faster; log scale)")
    ax.set_title(title("Throughput per layer and backend", meta), fontsize=10)
    return save_figure(fig, path)


def plot_speedup(table, meta: dict, path: Path, baseline: str = "numpy") -> Path | None:
    """Dot plot: every backend's speed relative to ``baseline`` per case (>1: faster), log scale."""
    ok = ok_rows(table)
    base = {r["case"]: r for r in ok[ok["backend"] == baseline].to_dict("records")}
    others = [b for b in dict.fromkeys(ok["backend"]) if b != baseline]
    if not base or not others:
        return None
    plt = pyplot()
    cases = [c for c in dict.fromkeys(table["case"]) if c in base]

    def speedup(r):
        b = base.get(r["case"])
        if b is None:
            return None
        rel = (r.get("rel_ci") or 0.0) + (b.get("rel_ci") or 0.0)
        return with_ci(b["time_s"] / r["time_s"], rel)

    rows = ok[ok["backend"].isin(others)].copy()
    rows["trusted"] = [is_trusted(r) and is_trusted(base.get(r["case"], {})) for r in rows.to_dict("records")]
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.3 * len(cases)))
    dot_rows(ax, rows, cases, speedup, others, backend_colors(others + [baseline]))
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xlabel(f"speedup vs {baseline} (time_{baseline} / time, 95% CI; right of 1 is faster; log scale)")
    ax.set_title(title(f"Speedup relative to {baseline}", meta), fontsize=10)
    return save_figure(fig, path)


def plot_time_vs_work(table, meta: dict, path: Path) -> Path | None:
    """Log-log time per call against FLOPs, one line per backend and kernel size; hollow = untrusted; axes from
    the data, with a constant-throughput guide at the run's typical GFLOP/s."""
    ok = ok_rows(table)
    if ok["flops"].nunique() < 3:
        return None
    plt = pyplot()
    colors = backend_colors(ok["backend"].unique())
    markers = {1: "o", 3: "s", 5: "^", 7: "D"}
    ok = ok.assign(trusted=[is_trusted(r) for r in ok.to_dict("records")])
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for (backend, k), part in ok.groupby(["backend", "k"], sort=False):
        part = part.groupby("flops", as_index=False).agg(time_s=("time_s", "median"), trusted=("trusted", "all"))
        part = part.sort_values("flops")
        marker, color = markers.get(k, "x"), colors[backend]
        ax.plot(part["flops"], part["time_s"], marker=marker, color=color, lw=1, label=plain(f"{backend} k={k}"))
        bad = part[~part["trusted"]]
        ax.plot(bad["flops"], bad["time_s"], ls="none", marker=marker, color=color, mfc="white", zorder=3)
    xlim, ylim = log_limits(ok["flops"]), log_limits(ok["time_s"])
    rate = 10 ** round(float(np.log10(np.median(ok["flops"] / ok["time_s"]))))
    ax.plot(xlim, [xlim[0] / rate, xlim[1] / rate], ls=":", color="black", lw=1,
            label=f"{rate / 1e9:g} GFLOP/s (constant throughput)")
    ax.plot([], [], "o", color="grey", mfc="white", ls="none", label="hollow: untrusted (see flags)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("work per call (FLOPs, log scale)")
    ax.set_ylabel("time per call (s, log scale; lower is better)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title("Time vs work", meta), fontsize=10)
    return save_figure(fig, path)


def plot_threads(table, meta: dict, path: Path) -> Path | None:
    """Speedup over one thread against threads, per backend (geometric mean over layers), with ideal; hollow
    where a row behind the point is untrusted."""
    ok = ok_rows(table)
    if ok["threads"].nunique() < 2 or 1 not in set(ok["threads"]):
        return None
    plt = pyplot()
    colors = backend_colors(ok["backend"].unique())
    fig, ax = plt.subplots(figsize=(7, 5))
    speedups = []
    for backend, part in ok.groupby("backend", sort=False):
        one = {r["layer"]: r for r in part[part["threads"] == 1].to_dict("records")}
        points = []
        for threads, sub in part.groupby("threads"):
            pairs = [(one[r["layer"]], r) for r in sub.to_dict("records") if r["layer"] in one]
            if pairs:
                mean = float(np.exp(np.mean([np.log(a["time_s"] / b["time_s"]) for a, b in pairs])))
                points.append((threads, mean, all(is_trusted(a) and is_trusted(b) for a, b in pairs)))
        if points:
            xs, ys, trusted = zip(*points)
            ax.plot(xs, ys, marker="o", color=colors[backend], label=plain(backend))
            bad = [(x, y) for x, y, t in points if not t]
            if bad:
                ax.plot(*zip(*bad), ls="none", marker="o", color=colors[backend], mfc="white", zorder=3)
            speedups += ys
    top = int(ok["threads"].max())
    ax.plot([1, top], [1, top], ls="--", color="black", lw=1, label="ideal")
    ax.plot([], [], "o", color="grey", mfc="white", ls="none", label="hollow: untrusted (see flags)")
    ax.set_xlim(0.8, top + 0.2)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_ylim(0, linear_top(speedups, refs=[top]) or top)
    ax.set_xlabel("threads")
    ax.set_ylabel("speedup over 1 thread (geomean over layers)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title("Thread scaling", meta), fontsize=10)
    return save_figure(fig, path)


def plot_roofline(table, meta: dict, path: Path) -> Path | None:
    """GFLOP/s against FLOP/byte (log-log) under this machine's roofs: the CPU rows under the CPU's roofs, or in
    a run without CPU rows, the GPU rows under the GPU's (``peak["gpu"]``).

    Both roofs are drawn and labelled (the FMA compute roof and the STREAM memory roof, with their ridge
    point), BLAS GEMM as a dashed line beside them; points are labelled when few, else only those far
    from the roof (under a quarter of it) or above it; hollow markers are untrusted rows.
    """
    ok = ok_rows(table)
    device = "cpu"
    if "device" in ok.columns:
        device = "cpu" if (ok["device"] == "cpu").any() or ok.empty else "cuda"
        ok = ok[ok["device"] == device]
    peak = meta.get("peak") or {}
    if ok.empty:
        return None
    dtype = ok["dtype"].mode().iloc[0]
    threads = int(ok["threads"].max()) if "threads" in ok.columns and ok["threads"].notna().any() else 1
    peak_gflops, bandwidth, label = drawn_roofs(peak, dtype, threads, device)
    if not peak_gflops:
        return None
    plt = pyplot()
    ok = ok[ok["dtype"] == dtype]
    intensity = ok["flops"] / ok["bytes"]
    ridge = peak_gflops / bandwidth
    xs = np.logspace(np.log10(max(min(intensity.min(), ridge) / 3, 1e-2)), np.log10(max(intensity.max(), ridge) * 3), 200)
    fig, ax = plt.subplots(figsize=(9, 6.6))
    ax.plot(xs, np.minimum(peak_gflops, bandwidth * xs), color="black", lw=2, label=f"roof: {label}")
    ax.axvline(ridge, color="#999", lw=0.8, ls=":")
    ax.text(ridge, peak_gflops * 1.04, f" ridge {ridge:.1f} FLOP/B", fontsize=7, color="#555", va="bottom")
    ax.text(xs[0], bandwidth * xs[0] * 1.15, f"memory roof {bandwidth:.0f} GB/s", fontsize=7, rotation=0, color="#333")
    ax.text(xs[-1], peak_gflops * 1.04, f"compute roof {peak_gflops:.0f} GFLOP/s", fontsize=7, ha="right",
            va="bottom", color="#333")
    gemm = (peak.get("gemm_gflops") or {}).get(dtype) if device == "cpu" else None  # the CPU's BLAS
    if gemm and peak.get("fma_gflops"):
        ax.axhline(gemm, color="#777", lw=1, ls="--", label=f"BLAS GEMM {gemm:.0f} GFLOP/s (what a library reaches)")
    colors = backend_colors(ok["backend"].unique())
    markers = {1: "o", 3: "s", 5: "^", 7: "D"}
    for (backend, k), part in ok.groupby(["backend", "k"], sort=False):
        trusted = np.array([is_trusted(r) for r in part.to_dict("records")], dtype=bool)
        ax.scatter(part["flops"] / part["bytes"], part["gflops"], marker=markers.get(k, "x"), s=30,
                   facecolors=[colors[backend] if t else "white" for t in trusted], edgecolors=colors[backend],
                   label=plain(f"{backend} k={k}"))
    roof = np.minimum(peak_gflops, bandwidth * intensity)
    above, far = ok["gflops"] > roof, ok["gflops"] < roof / 4
    label_these = ok if len(ok) <= 12 else ok[above | far]
    for r in label_these.itertuples():
        ax.annotate(plain(r.case), (r.flops / r.bytes, r.gflops), fontsize=6, xytext=(3, 3), textcoords="offset points",
                    color="#b00" if r.gflops > peak_gflops else "#333")
    ax.text(0.0, -0.11, "Roofs measured on this machine (harness peak). Above the compute roof (red) = a timing error\n"
            "or a kernel skipping work (flag above-peak); above the memory roof = data read from cache.\n"
            "Labelled: points under a quarter of their roof, or above it. Hollow: untrusted rows.",
            transform=ax.transAxes, fontsize=7, va="top")  # under the axes: it covers no point
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per minimal byte moved, log scale)")
    ax.set_ylabel("GFLOP/s (log scale)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right", framealpha=0.85)
    ax.set_ylim(top=max(peak_gflops, ok["gflops"].max()) * 1.6)
    whose = f"roofs for {threads} threads" if device == "cpu" else "the GPU's roofs"
    ax.set_title(title(f"Roofline ({dtype}; {whose})", meta), fontsize=10)
    return save_figure(fig, path)


def per_host(table):
    """A run across machines draws one series per backend and host."""
    if "host" in table.columns and table["host"].nunique() > 1:
        return table.assign(backend=table["backend"] + "@" + table["host"].astype(str))
    return table
