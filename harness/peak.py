"""This machine's roof: the physical limits (FMA throughput, memory bandwidth, clock) and what BLAS reaches.

``harness peak`` and every sweep judge rows against these figures (:mod:`harness.roof`):

- ``fma_gflops`` / ``fma_gflops_1t``: an FMA loop that never touches memory (:mod:`kernels.numba_cpu.roof`),
  per dtype, on every thread and on one: the compute roof. Its ``fma_theoretical_gflops`` is
  ``clock x lanes x 2 FLOP x 2 FMA pipes x threads`` with the clock measured by a chain of dependent
  one-cycle operations (``clock_ghz``; a VM's OS often reports only the base clock, ``os_clock_ghz``);
- ``bandwidth_gbytes_per_s``: STREAM-like read, copy and triad loops over arrays four times the last-level
  cache (the memory roof is the triad);
- ``gemm_gflops``: numpy's BLAS GEMM, "what a library reaches" - beside the roof, never the roof.

Each figure is the best of many short rounds measured after spinning the cores, with its spread
``1 - median / best``. :func:`roof_problems` says why a measurement cannot be trusted (a wide spread,
cores that do not scale, a rate below a sanity bound); such a roof is used for the run at hand but never
stored (:mod:`harness.peak_store`).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kernels.numba_cpu.isa import ISA, VECTOR_BYTES, lanes_for
from kernels.numba_cpu.roof import (CLOCK_OPS_PER_ITERATION, FMA_LATENCY_CYCLES, FMA_LATENCY_OPS,
                                    STREAM_BYTES_PER_ELEMENT, clock_chain, fma_buffer, fma_chains, fma_flops,
                                    fma_latency_chain, stream_copy, stream_read, stream_triad)

from .gpu_peak import measure_gpu_roof
from .metadata import cpu_model, library_versions, now_iso
from .rates import best_and_spread, concurrent_rounds, sized_iterations, timed_rounds
from .settle import spin
from .threads import max_threads, thread_limits

#: Seconds per figure when a sweep measures the roof itself (``harness peak`` defaults to the same).
SWEEP_PEAK_S = 1.0
#: The share of ``seconds`` each kind of figure gets (FMA figures are steady and cheap).
SHARE = dict(fma=0.2, clock=0.1, bandwidth=0.4, gemm=0.4)
#: A figure whose median round is more than this far below its best is not stored.
MAX_SPREAD = dict(fma=0.10, clock=0.10, bandwidth=0.25)
#: All threads must reach this share of ``threads x`` one thread's FMA rate (FMA units are per core).
MIN_SCALING = 0.8
#: A one-thread FMA rate below this share of the rate the OS-reported clock allows is not believed.
SANITY_SHARE = 0.5
DTYPES = ("float32", "float64")


def measure_fma_gflops(dtype: str, threads: int = 1, seconds: float = 0.2, clock=time.perf_counter) -> tuple:
    """(best GFLOP/s, spread) of the register-only FMA loop in ``dtype`` on ``threads`` cores at once: a round's
    rate is the sum of its threads' rates."""
    out = fma_buffer(dtype, threads)
    iterations = sized_iterations(lambda n: fma_chains(out[0], n), 4096, clock)
    times = concurrent_rounds(lambda i: fma_chains(out[i], iterations), threads, seconds, clock)
    return best_and_spread((fma_flops(dtype, iterations) / times).sum(axis=1) / 1e9)


def measure_clock_ghz(seconds: float = 0.1, clock=time.perf_counter) -> tuple:
    """(best GHz, spread, probe) of one core: the higher of two chains of dependent operations - integer
    shifts and xors (one cycle each) and vector FMAs (``FMA_LATENCY_CYCLES`` each). Each reads the clock or
    lower (a stall only adds cycles), so the higher one is the closer."""
    seed = np.uint64(88172645463325252)
    iterations = sized_iterations(lambda n: clock_chain(n, seed), 100_000, clock)
    times = timed_rounds(lambda: clock_chain(iterations, seed), seconds / 2, clock)
    integer = best_and_spread(CLOCK_OPS_PER_ITERATION * iterations / times / 1e9)
    out = fma_buffer(np.float32)[0]
    iterations = sized_iterations(lambda n: fma_latency_chain(out, n), 10_000, clock)
    times = timed_rounds(lambda: fma_latency_chain(out, iterations), seconds / 2, clock)
    fma = best_and_spread(FMA_LATENCY_CYCLES * FMA_LATENCY_OPS * iterations / times / 1e9)
    return (*integer, "integer chain") if integer[0] >= fma[0] else (*fma, "FMA-latency chain")


def measure_bandwidth(mib: int, seconds: float = 0.4, clock=time.perf_counter) -> dict:
    """{kind: (best GB/s, spread)} of the read, copy and triad loops over float64 arrays of ``mib`` MiB each."""
    n = max(1, mib * 2**20 // 8)
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)  # written once: every page is mapped before timing
    loops = dict(read=lambda: stream_read(b), copy=lambda: stream_copy(a, b), triad=lambda: stream_triad(a, b, c, 3.0))
    return {kind: best_and_spread(STREAM_BYTES_PER_ELEMENT[kind] * n / timed_rounds(fn, seconds / 3, clock) / 1e9)
            for kind, fn in loops.items()}


def measure_gemm_gflops(dtype: str, n: int = 1024, seconds: float = 0.4, clock=time.perf_counter) -> tuple:
    """(best GFLOP/s, spread) of an n x n x n BLAS matmul in ``dtype`` over ~``seconds``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    return best_and_spread(2 * n**3 / timed_rounds(lambda: np.matmul(a, b, out=c), seconds, clock) / 1e9)


def last_level_cache_bytes(root: str | Path = "/sys/devices/system/cpu/cpu0/cache") -> int | None:
    """Size of the highest-level CPU cache (Linux sysfs), or None where unknown."""
    best = None
    for index in sorted(Path(root).glob("index*")):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMGB")
        if digits.isdigit() and (best is None or level >= best[0]):
            best = (level, int(digits) * scale)
    return best[1] if best else None


def os_clock_ghz(cpuinfo: str | Path = "/proc/cpuinfo") -> float | None:
    """The highest clock the OS reports for a core (``cpu MHz``), in GHz, or None."""
    try:
        mhz = [float(line.split(":", 1)[1]) for line in Path(cpuinfo).read_text().splitlines()
               if line.lower().startswith("cpu mhz")]
    except (OSError, ValueError):
        return None
    return round(max(mhz) / 1000, 3) if mhz else None


def bandwidth_mib(llc_bytes: int | None) -> int:
    """MiB per array of the bandwidth loops: four times the last-level cache, 64 to 512 MiB."""
    return int(min(512, max(64, 4 * (llc_bytes or 0) // 2**20)))


def roof_versions() -> dict:
    """The library versions a roof is measured and stored under: numba, llvmlite and numpy of this process."""
    return {k: v for k, v in library_versions().items() if k in ("numba", "llvmlite", "numpy")}


def roof_problems(peak: dict) -> list[str]:
    """Why ``peak``'s roof cannot be trusted enough to store (empty when it can); see the module docstring."""
    problems = []
    for dtype in DTYPES:
        spread = peak["fma_spread"][dtype]
        if spread > MAX_SPREAD["fma"]:
            problems.append(f"{dtype} FMA rounds spread {spread:.0%} (> {MAX_SPREAD['fma']:.0%}): the cores were busy")
        one, scaling = peak["fma_gflops_1t"][dtype], peak.get("fma_scaling", {}).get(dtype, 1.0)
        if peak["threads"] > 1 and scaling < MIN_SCALING:
            problems.append(f"{peak['threads']} threads reached {scaling * peak['threads']:.2f}x one thread's "
                            f"{dtype} FMA rate (FMA units are per core: another program held a core)")
        if peak.get("os_clock_ghz") and one < SANITY_SHARE * peak["os_clock_ghz"] * lanes_for(np.dtype(dtype)) * 4:
            problems.append(f"one thread's {dtype} FMA rate {one:.0f} GFLOP/s is under half of what the OS clock "
                            f"({peak['os_clock_ghz']} GHz) allows")
    for kind, (_, spread) in peak["bandwidth_detail"].items():
        if spread > MAX_SPREAD["bandwidth"]:
            problems.append(f"{kind} bandwidth rounds spread {spread:.0%} (> {MAX_SPREAD['bandwidth']:.0%})")
    if peak["clock_spread"] > MAX_SPREAD["clock"]:
        problems.append(f"clock probe rounds spread {peak['clock_spread']:.0%}")
    return problems


def fma_roof(one: dict, every: dict, threads: int) -> tuple[dict, dict]:
    """(roof GFLOP/s per dtype, scaling per dtype) from the one-thread and all-thread FMA figures: the
    all-thread figure when it scales, else ``threads x`` the one-thread figure (FMA units are per core)."""
    roof, scaling = {}, {}
    for dtype in DTYPES:
        scaling[dtype] = round(every[dtype][0] / (threads * one[dtype][0]), 4)
        roof[dtype] = every[dtype][0] if scaling[dtype] >= MIN_SCALING else threads * one[dtype][0]
    return roof, scaling


def measure_peak(seconds: float = SWEEP_PEAK_S, threads: int | None = None) -> dict:
    """Measure the roof (see the module docstring) with every core, or ``threads``; ``problems`` says why not
    to store it (empty when it may be stored)."""
    threads = threads or max_threads()
    llc = last_level_cache_bytes()
    with thread_limits(threads):
        spin(min(seconds, 1.0), 3.0)
        ghz = measure_clock_ghz(seconds * SHARE["clock"])
        one = {dt: measure_fma_gflops(dt, 1, seconds * SHARE["fma"] / 2) for dt in DTYPES}
        every = {dt: measure_fma_gflops(dt, threads, seconds * SHARE["fma"] / 2) for dt in DTYPES}
        bandwidth = measure_bandwidth(bandwidth_mib(llc), seconds * SHARE["bandwidth"])
        gemm = {dt: measure_gemm_gflops(dt, seconds=seconds * SHARE["gemm"] / 2) for dt in DTYPES}
    roof, scaling = fma_roof(one, every, threads)
    versions = roof_versions()
    peak = dict(schema=2, cpu_model=cpu_model(), isa=ISA, vector_bits=VECTOR_BYTES * 8, threads=threads,
                versions=versions, measured_at=now_iso(), seconds=seconds, clock_ghz=round(ghz[0], 3),
                clock_spread=round(ghz[1], 4), clock_probe=ghz[2], os_clock_ghz=os_clock_ghz(),
                fma_gflops=roof, fma_gflops_measured={dt: v[0] for dt, v in every.items()},
                fma_gflops_1t={dt: v[0] for dt, v in one.items()}, fma_scaling=scaling,
                fma_spread={dt: round(max(one[dt][1], every[dt][1]), 4) for dt in DTYPES},
                fma_theoretical_gflops={dt: round(ghz[0] * lanes_for(np.dtype(dt)) * 4 * threads, 1) for dt in DTYPES},
                llc_bytes=llc, bandwidth_gbytes_per_s={k: v[0] for k, v in bandwidth.items()},
                bandwidth_detail={k: [v[0], round(v[1], 4)] for k, v in bandwidth.items()},
                gemm_gflops={dt: v[0] for dt, v in gemm.items()},
                gemm_spread={dt: round(v[1], 4) for dt, v in gemm.items()})
    peak["gpu"] = measure_gpu_roof()
    peak["problems"] = roof_problems(peak)
    return peak
