"""This machine's peak: FLOP/s of a large BLAS GEMM per dtype and memory bandwidth of a large copy.

Stored per host in ``RESULTS_DIR/peak.json``: the roofline plot and run metadata read it.
"""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np

from .metadata import cpu_model, now_iso


def measure_gemm_gflops(dtype: str, n: int = 2048, seconds: float = 1.0, clock=time.perf_counter) -> float:
    """Best GFLOP/s of an n x n x n matmul in ``dtype`` over ~``seconds`` (after one warm-up)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    np.matmul(a, b, out=c)
    best = float("inf")
    start = clock()
    while clock() - start < seconds or best == float("inf"):
        t0 = clock()
        np.matmul(a, b, out=c)
        best = min(best, clock() - t0)
    return 2 * n**3 / best / 1e9


def measure_copy_gbytes_per_s(mib: int = 256, seconds: float = 1.0, clock=time.perf_counter) -> float:
    """Best GB/s of copying a ``mib`` MiB array (read + write counted) over ~``seconds``."""
    src = np.ones(mib * 2**20 // 8, np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = float("inf")
    start = clock()
    while clock() - start < seconds or best == float("inf"):
        t0 = clock()
        np.copyto(dst, src)
        best = min(best, clock() - t0)
    return 2 * src.nbytes / best / 1e9


def measure_peak(seconds: float = 1.0, threads: int | None = None) -> dict:
    """Measure GEMM GFLOP/s (float32, float64) and copy bandwidth with every core (or ``threads``)."""
    from .threads import max_threads, thread_limits

    threads = threads or max_threads()
    with thread_limits(threads):
        gflops = {dt: measure_gemm_gflops(dt, seconds=seconds) for dt in ("float32", "float64")}
        bandwidth = measure_copy_gbytes_per_s(seconds=seconds)
    return dict(host=socket.gethostname(), cpu_model=cpu_model(), measured_at=now_iso(), threads=threads,
                gemm_gflops=gflops, copy_gbytes_per_s=bandwidth)


def peak_path(results_dir: str | Path) -> Path:
    """Where peaks are stored: ``RESULTS_DIR/peak.json`` (one entry per host)."""
    return Path(results_dir) / "peak.json"


def load_peak(results_dir: str | Path, host: str | None = None) -> dict | None:
    """The stored peak of ``host`` (default: this host), or None."""
    path = peak_path(results_dir)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get(host or socket.gethostname())
    except (OSError, ValueError):
        return None


def save_peak(results_dir: str | Path, peak: dict) -> Path:
    """Store ``peak`` under its host in ``RESULTS_DIR/peak.json`` and return the path."""
    path = peak_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        stored = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        stored = {}
    stored[peak["host"]] = peak
    path.write_text(json.dumps(stored, indent=2))
    return path


def cached_peak(results_dir: str | Path) -> dict:
    """This host's stored peak, measured briefly (0.25 s per figure) and stored when there is none yet."""
    peak = load_peak(results_dir)
    if peak is None:
        peak = measure_peak(seconds=0.25)
        save_peak(results_dir, peak)
    return peak
