"""What settling buys: time a torch / numba-cpu / numpy conv right after the machine idled, old protocol vs new.

Usage: PYTHONPATH=. python scripts/settle_effect.py [--trials 5] [--idle-s 1.0]
For each backend and trial: sleep --idle-s (the cores go idle), then either
- "old": 0.05 s of untimed warm-up calls (the protocol before settling), or
- "settled": spin the cores for 1 s (harness.settle.spin) and warm up until 3 rounds agree (harness.timing),
then time 20 single calls. Prints the median over trials of the 20 calls' median GFLOP/s (what a point
would record) and of their spread (max/min - 1); run it on a quiet machine and name the CPU with the numbers.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import kernels
from harness.settle import spin
from harness.timing import is_steady
from harness.threads import thread_limits


def calls_gflops(prepared, flops: float, n: int) -> list[float]:
    """GFLOP/s of ``n`` single timed calls."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        prepared()
        prepared.sync()
        out.append(flops / (time.perf_counter() - t0) / 1e9)
    return out


def main() -> None:
    """Run the experiment and print one line per backend and mode."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=1.0)
    args = parser.parse_args()
    spec = kernels.ConvSpec(N=4, C=832, H=7, W=7, F=384, k=3, padding=1)  # Inception 5b 3x3 direct, N=4
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, spec.x_shape).astype("float32")
    w = rng.uniform(-1, 1, spec.w_shape).astype("float32")
    with open("/proc/cpuinfo") as fh:
        cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    print(f"{cpu}; Inception 5b 3x3 (C=832, F=384, 7x7) N=4 float32; idle {args.idle_s} s before each trial")
    with thread_limits(2):
        for backend in ("torch", "numba-cpu", "numpy"):
            impl = kernels.get_backend(backend)
            if impl.unavailable_reason():
                continue
            prepared = impl.prepare(x, w, spec)
            calls_gflops(prepared, spec.flops, 30)
            for mode in ("old", "settled"):
                medians, spreads = [], []
                for _ in range(args.trials):
                    time.sleep(args.idle_s)
                    start = time.perf_counter()
                    if mode == "old":
                        while time.perf_counter() - start < 0.05:
                            calls_gflops(prepared, spec.flops, 1)
                    else:
                        spin(1.0, 3.0)
                        warm: list[float] = []
                        while not is_steady(warm) and time.perf_counter() - start < 2.0:
                            warm.append(1 / statistics.median(calls_gflops(prepared, spec.flops, 3)))
                    g = calls_gflops(prepared, spec.flops, 20)
                    medians.append(statistics.median(g))
                    spreads.append(max(g) / min(g) - 1)
                print(f"{backend:10s} {mode:8s}: {statistics.median(medians):7.1f} GFLOP/s median of 20 calls "
                      f"(trials: {min(medians):.0f}..{max(medians):.0f}), spread {statistics.median(spreads):.0%}")


if __name__ == "__main__":
    main()
