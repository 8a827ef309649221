"""Time direct kxk vs reduce + conv unfused vs fused on the Inception and SqueezeNet branches.

For each branch (Inception 3a..5b 3x3 and 5x5, SqueezeNet fire squeeze -> expand3x3) and batch:
``direct`` is the kxk conv straight on the module input (``numba-cpu``), ``unfused`` the 1x1
reduce then the kxk conv as two ``numba-cpu`` calls (chain backend ``numba-cpu``), ``fused``
chain backend ``numba-cpu-fused``. All three are checked against the float64 reference, then
timed interleaved in one process: the cores are spun ~1 s first, each round runs the three in
a rotating order, each with an untimed warm-up call after switching, then enough calls to
last >= ``--round-ms``; a variant's time is the median per-call time over rounds.

    PYTHONPATH=. python scripts/bench_fused.py [--batches 1,8] [--only 3a] [--rounds 15] [--csv PATH]
        [--threads 2] [--clock wall|cpu]

``--clock cpu`` times with ``time.process_time`` (CPU seconds of all threads): on a box
shared with other jobs it ignores the time the process spends descheduled, which at 2
threads can dominate the wall clock (a parallel call waits for its slowest thread).
Use it with ``--threads 1``; at more threads it also counts the runtime's spin-waiting.
On a shared 2-vCPU box under load, Numba's default ``omp`` threading layer rounds 2-thread
wall times up to multiples of the ~4 ms scheduler tick (a call waits for its second thread
to be scheduled); ``NUMBA_THREADING_LAYER=workqueue`` does not, so 2-thread runs there use it.

Columns: flop_saving = flops_direct / flops_reduced; time_saving_{unfused,fused} =
time_direct / time_{unfused,fused}; eff_{unfused,fused} = time_saving / flop_saving (the
share of the FLOP saving realised as time; 1.0 = all of it).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

import kernels
from harness.networks import INCEPTION_TABLE

ROOT = Path(__file__).resolve().parent.parent


def branches():
    """(name, C, H, W, C_red, F, k) for every Inception 3x3/5x5 branch and SqueezeNet fire module."""
    out = []
    for mod, (hw, c, _n1, r3, n3, r5, n5, _pp) in INCEPTION_TABLE.items():
        out.append((f"{mod} 3x3", c, hw, hw, r3, n3, 3))
        out.append((f"{mod} 5x5", c, hw, hw, r5, n5, 5))
    layers = tomllib.loads((ROOT / "examples" / "squeezenet.toml").read_text())["layer"]
    by_label = {layer["label"]: layer for layer in layers}
    for layer in layers:
        if "reduce_of" in layer:
            conv = by_label[layer["reduce_of"]]
            out.append((layer["label"].replace(" squeeze", ""), layer["C"], layer["H"], layer["W"],
                        layer["F"], conv["F"], conv["k"]))
    return out


def spin(seconds: float = 1.0) -> None:
    """Wake idle vCPUs: run a small parallel ``numba-cpu`` convolution over and over for ``seconds``."""
    x = np.ones((1, 64, 28, 28), np.float32)
    w = np.ones((64, 64, 3, 3), np.float32)
    p = kernels.get_backend("numba-cpu").prepare(x, w, kernels.validate(x, w, 1, 1))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        p()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_round(prepared, calls: int, clock) -> float:
    """One untimed warm-up call, then ``calls`` timed calls; seconds per call."""
    prepared()
    t0 = clock()
    for _ in range(calls):
        prepared()
    return (clock() - t0) / calls


def measure(variants: dict, rounds: int, round_s: float, clock) -> dict:
    """(median, min) per-call seconds of each prepared variant, interleaved in rotating order."""
    calls = {}
    for name, p in variants.items():
        t0 = time.perf_counter()
        p()
        calls[name] = max(1, int(round_s / max(time.perf_counter() - t0, 1e-7)))
    samples = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            samples[name].append(time_round(variants[name], calls[name], clock))
    return {name: (float(np.median(s)), float(np.min(s))) for name, s in samples.items()}


def run_case(name, N, C, H, W, CR, F, k, rounds, round_s, clock, rng):
    """Check and time direct / unfused / fused for one branch; one result row (dict)."""
    x = rng.uniform(-1, 1, (N, C, H, W)).astype(np.float32)
    w1 = rng.uniform(-1, 1, (CR, C, 1, 1)).astype(np.float32)
    w2 = rng.uniform(-1, 1, (F, CR, k, k)).astype(np.float32)
    wd = rng.uniform(-1, 1, (F, C, k, k)).astype(np.float32)
    chain = kernels.validate_chain(x, w1, w2, padding="same")
    direct = kernels.validate(x, wd, 1, "same")
    ref, tol = kernels.reference_chain(x, w1, w2, chain), kernels.chain_tolerance(x, w1, w2, chain)
    variants = {"direct": kernels.get_backend("numba-cpu").prepare(x, wd, direct)}
    for label, backend in (("unfused", "numba-cpu"), ("fused", "numba-cpu-fused")):
        p = kernels.get_chain_backend(backend).prepare_chain(x, w1, w2, chain)
        p()
        margin, worst = kernels.error_margin(p.result(), ref, tol)
        if not margin <= 1.0:
            raise AssertionError(f"{name} N={N} {label}: error {margin:.3g}x the per-element bound ({worst:.3g})")
        variants[label] = p
    timing = measure(variants, rounds, round_s, clock)
    t = {label: med for label, (med, _) in timing.items()}
    flop_saving = direct.flops / chain.flops
    row = dict(branch=name, N=N, flops_direct=direct.flops, flops_reduced=chain.flops, flop_saving=flop_saving,
               time_direct_s=t["direct"], time_unfused_s=t["unfused"], time_fused_s=t["fused"])
    for label in ("unfused", "fused"):
        row[f"time_saving_{label}"] = t["direct"] / t[label]
        row[f"eff_{label}"] = row[f"time_saving_{label}"] / flop_saving
    for label, (_, fastest) in timing.items():
        row[f"time_{label}_min_s"] = fastest
    row["eff_fused_min"] = timing["direct"][1] / timing["fused"][1] / flop_saving
    row["gflops_fused"] = chain.flops / t["fused"] / 1e9
    row["gflops_direct"] = direct.flops / t["direct"] / 1e9
    return row


def main(argv=None) -> int:
    """Parse arguments, run every selected branch and batch, print (and optionally save) the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    ap.add_argument("--only", default="", help="keep branches whose name contains one of these (comma-separated)")
    ap.add_argument("--rounds", type=int, default=15, help="timed rounds per variant (default 15)")
    ap.add_argument("--round-ms", type=float, default=20.0, help="minimum length of one round (default 20 ms)")
    ap.add_argument("--csv", default="", help="also write the table to this CSV file")
    ap.add_argument("--threads", type=int, default=0, help="numba threads (default: numba's default)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall (default) or cpu (process time)")
    args = ap.parse_args(argv)
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    import pandas as pd

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor())
    spin()
    print(f"# {cpu}, {numba.get_num_threads()} numba threads ({numba.threading_layer()} layer), "
          f"numba {numba.__version__}, float32, {args.clock} clock, median of {args.rounds} rounds", flush=True)
    keep = [s for s in args.only.split(",") if s]
    rng = np.random.default_rng(0)
    rows = []
    for N in (int(b) for b in args.batches.split(",")):
        for name, C, H, W, CR, F, k in branches():
            if keep and not any(s in name for s in keep):
                continue
            rows.append(run_case(name, N, C, H, W, CR, F, k, args.rounds, args.round_ms / 1e3, CLOCKS[args.clock], rng))
            r = rows[-1]
            print(f"{name:>8} N={N}: flop {r['flop_saving']:.2f}x  direct {r['time_direct_s']*1e3:8.3f} ms  "
                  f"unfused {r['time_unfused_s']*1e3:7.3f} ms ({r['time_saving_unfused']:.2f}x, "
                  f"{r['eff_unfused']:.0%})  fused {r['time_fused_s']*1e3:7.3f} ms "
                  f"({r['time_saving_fused']:.2f}x, {r['eff_fused']:.0%})", flush=True)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
