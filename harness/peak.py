"""This machine's peak: FLOP/s of a large BLAS GEMM per dtype and memory bandwidth of a large copy.

Measured in many short rounds after spinning the cores (so a slowly waking VM
does not lower it), reported as the best round with the spread of all rounds,
and cached in ``RESULTS_DIR/peak.json`` per CPU model and thread count (not per
host name: VMs get new names, and one host may change threads). The trust
flag ``above-peak`` and the roofline plot read it; ``--fresh-peak`` re-measures.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .metadata import cpu_model, now_iso

#: Seconds per figure when a sweep measures the peak itself (``harness peak`` defaults to more).
SWEEP_PEAK_S = 1.0


def timed_rounds(fn, seconds: float, clock=time.perf_counter) -> np.ndarray:
    """Seconds of each call of ``fn`` over ~``seconds`` (after one untimed call; at least 5 calls)."""
    fn()
    times = []
    start = clock()
    while clock() - start < seconds or len(times) < 5:
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return np.asarray(times)


def spread(values) -> float:
    """Relative spread of a rate measured in rounds: (90th - 10th percentile) / median."""
    lo, med, hi = np.percentile(values, [10, 50, 90])
    return float((hi - lo) / med) if med > 0 else float("inf")


def measure_gemm_gflops(dtype: str, n: int = 2048, seconds: float = 1.0, clock=time.perf_counter) -> tuple:
    """(best GFLOP/s, relative spread) of an n x n x n matmul in ``dtype`` over ~``seconds``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    rates = 2 * n**3 / timed_rounds(lambda: np.matmul(a, b, out=c), seconds, clock) / 1e9
    return float(rates.max()), spread(rates)


def measure_copy_gbytes_per_s(mib: int = 256, seconds: float = 1.0, clock=time.perf_counter) -> tuple:
    """(best GB/s, relative spread) of copying a ``mib`` MiB array (read + write counted) over ~``seconds``."""
    src = np.ones(mib * 2**20 // 8, np.float64)
    dst = np.empty_like(src)
    rates = 2 * src.nbytes / timed_rounds(lambda: np.copyto(dst, src), seconds, clock) / 1e9
    return float(rates.max()), spread(rates)


def measure_peak(seconds: float = 1.0, threads: int | None = None) -> dict:
    """Measure GEMM GFLOP/s (float32, float64) and copy bandwidth with every core (or ``threads``)."""
    from .settle import spin
    from .threads import max_threads, thread_limits

    threads = threads or max_threads()
    with thread_limits(threads):
        spin(min(seconds, 1.0), 3.0)
        gemm = {dt: measure_gemm_gflops(dt, seconds=seconds) for dt in ("float32", "float64")}
        copy = measure_copy_gbytes_per_s(seconds=seconds)
    return dict(cpu_model=cpu_model(), measured_at=now_iso(), threads=threads, seconds=seconds,
                gemm_gflops={dt: v[0] for dt, v in gemm.items()},
                gemm_spread={dt: round(v[1], 4) for dt, v in gemm.items()},
                copy_gbytes_per_s=copy[0], copy_spread=round(copy[1], 4))


def peak_key(cpu: str, threads: int) -> str:
    """The cache key of a peak: CPU model and thread count."""
    return f"{cpu} | {threads} threads"


def peak_path(results_dir: str | Path) -> Path:
    """Where peaks are stored: ``RESULTS_DIR/peak.json`` (one entry per CPU model and thread count)."""
    return Path(results_dir) / "peak.json"


def check_peak_file(results_dir: str | Path) -> Path:
    """``RESULTS_DIR/peak.json``, if it can be stored there; ValueError naming the problem (say, a folder by that
    name) so that a command can refuse before it spends seconds measuring."""
    path = peak_path(results_dir)
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} exists and is not a file: move it away to store this machine's peak there")
    return path


def load_peak(results_dir: str | Path, threads: int | None = None) -> dict | None:
    """The stored peak of this CPU model at ``threads`` (default: all) threads, or None."""
    from .threads import max_threads

    path = peak_path(results_dir)
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    entry = stored.get(peak_key(cpu_model(), threads or max_threads())) if isinstance(stored, dict) else None
    return entry if isinstance(entry, dict) and "gemm_gflops" in entry else None


def save_peak(results_dir: str | Path, peak: dict) -> Path:
    """Store ``peak`` under its CPU model and thread count in ``RESULTS_DIR/peak.json`` (atomically)."""
    path = check_peak_file(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        stored = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        stored = {}
    if not isinstance(stored, dict):
        stored = {}
    stored[peak_key(peak["cpu_model"], peak["threads"])] = peak
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(stored, indent=2))
    tmp.replace(path)
    return path


def cached_peak(results_dir: str | Path, fresh: bool = False) -> dict:
    """This machine's stored peak; measured (``SWEEP_PEAK_S`` per figure) and stored when absent or ``fresh``."""
    peak = None if fresh else load_peak(results_dir)
    if peak is None:
        peak = measure_peak(seconds=SWEEP_PEAK_S)
        save_peak(results_dir, peak)
    return peak
