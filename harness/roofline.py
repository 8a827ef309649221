"""The roofline figure: every measured point at its arithmetic intensity under the machine's roofs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .plots import _ok, _plt, _save, backend_colors, title


def plot_roofline(table, meta: dict, path: Path) -> Path | None:
    """GFLOP/s against FLOP/byte (log-log) with the measured compute and bandwidth roofs."""
    ok = _ok(table)
    peak = meta.get("peak") or {}
    if ok.empty or not peak.get("gemm_gflops") or not peak.get("copy_gbytes_per_s"):
        return None
    plt = _plt()
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
    return _save(fig, path)
