"""Every row against the machine's roof: ``peak_fraction``, ``bound`` and the ``above-peak`` judgement.

The roof is physical (:mod:`harness.peak`): the FMA loop's GFLOP/s for the row's dtype and thread count,
and the STREAM triad's GB/s. A row's ``peak_fraction`` is its GFLOP/s over that compute roof; its
``bound`` is the roof its arithmetic intensity hits first: ``memory`` when ``flops / bytes`` is below the
ridge point ``roof GFLOP/s / triad GB/s``, else ``compute``. ``above-peak`` is judged against the compute
roof only, and against the memory roof only when the layer's bytes cannot sit in the last-level cache
(a layer that fits is read from cache, legitimately faster than memory). GPU rows (``device == "cuda"``)
are judged the same way against the GPU's roof (``peak["gpu"]``, :mod:`harness.gpu_peak`) where one was
measured. Roofs stored before the physical
roof existed (BLAS GEMM only) judge nothing: a library's speed is no limit.
"""
from __future__ import annotations

import math

#: A row faster than PEAK_MARGIN x the roof is flagged above-peak (timing error, skipped work).
PEAK_MARGIN = 1.1
ROOF_COLUMNS = ("peak_fraction", "bound")


def compute_roof_gflops(peak: dict | None, dtype: str, threads: int, device: str = "cpu") -> float | None:
    """The FMA roof for ``threads`` threads of ``dtype``: the all-thread figure, or ``threads x`` the
    one-thread figure when fewer threads run (FMA units are per core); on ``device="cuda"`` the GPU's FMA
    roof (:mod:`harness.gpu_peak`); None without a physical roof."""
    if device == "cuda":
        value = (((peak or {}).get("gpu") or {}).get("fma_gflops") or {}).get(dtype)
        return float(value) if value else None
    every = ((peak or {}).get("fma_gflops") or {}).get(dtype)
    if not every or not threads or threads < 1:
        return None
    one = ((peak or {}).get("fma_gflops_1t") or {}).get(dtype) or every / max(int(peak.get("threads") or 1), 1)
    return float(min(every, threads * one)) if threads < int(peak.get("threads") or 1) else float(every)


def memory_roof_gbytes_per_s(peak: dict | None, device: str = "cpu") -> float | None:
    """The memory roof: the STREAM triad's GB/s, on ``device="cuda"`` the GPU's device-to-device copy
    (None without a physical roof)."""
    if device == "cuda":
        value = ((peak or {}).get("gpu") or {}).get("copy_gbytes_per_s")
        return float(value) if value else None
    value = ((peak or {}).get("bandwidth_gbytes_per_s") or {}).get("triad")
    return float(value) if value else None


def drawn_roofs(peak: dict | None, dtype: str, threads: int,
                device: str = "cpu") -> tuple[float | None, float | None, str]:
    """(GFLOP/s, GB/s, what they are) to draw and predict with: the physical roof, or for a run recorded before
    it existed, the BLAS GEMM and copy figures it stored, labelled as such; on ``device="cuda"`` the GPU's
    roof where one was measured (else None, None, "")."""
    gflops, gbytes = compute_roof_gflops(peak, dtype, threads, device), memory_roof_gbytes_per_s(peak, device)
    if device == "cuda":
        if not (gflops and gbytes):
            return None, None, ""
        return gflops, gbytes, f"GPU FMA roof {gflops:.0f} GFLOP/s ({dtype}), device copy {gbytes:.0f} GB/s"
    if gflops and gbytes:
        return gflops, gbytes, f"FMA roof {gflops:.0f} GFLOP/s ({dtype}), STREAM triad {gbytes:.0f} GB/s"
    gemm = ((peak or {}).get("gemm_gflops") or {}).get(dtype)
    copy = (peak or {}).get("copy_gbytes_per_s")
    if gemm and copy:
        return float(gemm), float(copy), f"BLAS GEMM {gemm:.0f} GFLOP/s ({dtype}), copy {copy:.0f} GB/s (older run)"
    return None, None, ""


def finite(value) -> bool:
    """True for a real, finite number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def roof_columns(row: dict, peak: dict | None) -> dict:
    """``peak_fraction`` and ``bound`` of a timed row (NaN and "" where there is no roof to judge by)."""
    threads, dtype, device = row.get("threads"), row.get("dtype"), row.get("device")
    if device not in ("cpu", "cuda") or not finite(threads):
        return dict(peak_fraction=math.nan, bound="")
    gflops = compute_roof_gflops(peak, dtype, int(threads), device)
    gbytes = memory_roof_gbytes_per_s(peak, device)
    flops, nbytes = row.get("flops"), row.get("bytes")
    bound = ""
    if gflops and gbytes and finite(flops) and finite(nbytes) and nbytes > 0:
        bound = "memory" if flops / nbytes < gflops / gbytes else "compute"
    fraction = row["gflops"] / gflops if gflops and row.get("status") == "ok" and finite(row.get("gflops")) \
        else math.nan
    return dict(peak_fraction=fraction, bound=bound)


def above_peak(row: dict, peak: dict | None) -> bool:
    """True when a timed row beats the physical roof by more than ``PEAK_MARGIN`` (see the module docstring;
    a GPU row only against the GPU's FMA roof)."""
    threads, device = row.get("threads"), row.get("device")
    if device not in ("cpu", "cuda") or not finite(threads):
        return False
    gflops = compute_roof_gflops(peak, row.get("dtype"), int(threads), device)
    if gflops and finite(row.get("gflops")) and row["gflops"] > PEAK_MARGIN * gflops:
        return True
    if device == "cuda":
        return False
    gbytes, llc = memory_roof_gbytes_per_s(peak), (peak or {}).get("llc_bytes")
    return bool(gbytes and llc and finite(row.get("bytes")) and row["bytes"] > llc
                and finite(row.get("gbytes_per_s")) and row["gbytes_per_s"] > PEAK_MARGIN * gbytes)


def roof_summary(table) -> list[str]:
    """One line per backend with a ``peak_fraction``: "numba-cpu: median 88% of the FMA roof (geomean 85%),
    worst 3a 5x5 reduce N=1 at 42%"."""
    lines = []
    if "peak_fraction" not in getattr(table, "columns", ()):
        return lines
    timed = table[(table["status"] == "ok") & (table["peak_fraction"].astype(float) > 0)]
    for backend, part in timed.groupby("backend", sort=False):
        fractions = part["peak_fraction"].astype(float)
        worst = part.loc[fractions.idxmin()]
        geomean = math.exp(sum(math.log(f) for f in fractions) / len(fractions))
        lines.append(f"{backend}: median {fractions.median():.0%} of the FMA roof (geomean {geomean:.0%}), "
                     f"worst {worst['case']} at {fractions.min():.0%}")
    return lines


def describe_roof(peak: dict | None) -> str:
    """The roof in one line: FMA GFLOP/s per dtype (all threads, one thread), memory GB/s, BLAS GEMM beside it,
    and where it came from ("" without a peak)."""
    if not peak:
        return ""
    threads = peak.get("threads", "?")
    gemm = ", ".join(f"{dt} {v:.0f}" for dt, v in (peak.get("gemm_gflops") or {}).items())
    if not peak.get("fma_gflops"):
        copy = peak.get("copy_gbytes_per_s")
        return (f"BLAS GEMM {gemm} GFLOP/s" + (f", copy {copy:.0f} GB/s" if copy else "")
                + f" on {threads} threads (a run from before the physical roof)")
    fma = ", ".join(f"{dt} {v:.0f} ({peak.get('fma_gflops_1t', {}).get(dt, math.nan):.0f} on one)"
                    for dt, v in peak["fma_gflops"].items())
    bandwidth = peak.get("bandwidth_gbytes_per_s") or {}
    text = (f"FMA roof {fma} GFLOP/s on {threads} threads; memory: STREAM triad {bandwidth.get('triad', math.nan):.0f} "
            f"GB/s (copy {bandwidth.get('copy', math.nan):.0f}, read {bandwidth.get('read', math.nan):.0f}); "
            f"BLAS GEMM {gemm} GFLOP/s (what a library reaches)")
    return text + (f"; {peak['source']}" if peak.get("source") else "")
