"""Time every numba-cuda tile and split-K on the `gpu` preset's layers against cuDNN, and break a launch down.

On a CUDA GPU (never the simulator), for each layer of the `gpu` preset at each batch of ``--batches``:
cuDNN (torch, TF32 off) once, then the implicit GEMM with :func:`kernels.numba_cuda.tiles.choose`'s pick
(``variant = chosen``) and with every (tile, split) it weighs (:func:`kernels.numba_cuda.tiles.candidates`), each checked against
cuDNN's output (``rel_err``: max abs difference / max abs output) and timed with CUDA events around rounds of
back-to-back calls (median of ``--rounds`` rounds of >= ``--round-ms``), as the sweep times GPU points.
Then the launch-cost breakdown on two 1x1 layers at N=1, for each launch mode of
:mod:`kernels.numba_cuda.launch`: host seconds to enqueue one call (no sync), the per-call time the sweep
sees (events around back-to-back calls) and one call alone after a synchronize (events).

    PYTHONPATH=. python scripts/gpu_variants.py --out DIR [--batches 32,1] [--only 3a] [--max-minutes 4]

Writes ``DIR/variants.csv`` (a row per layer, batch and variant; rows are flushed as they come, so a run cut
short keeps what it measured) and ``DIR/launch.csv``, and prints the geometric mean of numba-cuda / cuDNN
speed on 1x1 and kxk layers for the chosen and for the best variant.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import kernels  # noqa: E402
from harness.presets import get_preset  # noqa: E402
from kernels.numba_cuda.compat import import_cuda  # noqa: E402
from kernels.numba_cuda.conv import NumbaCudaPrepared  # noqa: E402
from kernels.numba_cuda.launch import MODE_ENV, MODES  # noqa: E402
from kernels.numba_cuda.tiles import candidates  # noqa: E402

FIELDS = ["layer", "N", "C", "F", "H", "k", "stride", "K", "columns", "sms", "variant", "tile", "splits", "time_s",
          "gflops", "torch_time_s", "speed_vs_cudnn", "rel_err"]


def event_time_s(cuda, fn, round_s: float, rounds: int) -> float:
    """Median per-call seconds of ``rounds`` rounds of back-to-back calls, each round >= ``round_s``."""
    fn()
    cuda.synchronize()
    began = time.perf_counter()
    fn()
    cuda.synchronize()
    calls = max(1, min(2000, int(round_s / max(time.perf_counter() - began, 1e-6))))
    start, end = cuda.event(timing=True), cuda.event(timing=True)
    times = []
    for _ in range(rounds):
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        end.synchronize()
        times.append(cuda.event_elapsed_time(start, end) / 1e3 / calls)
    return statistics.median(times)


def gpu_problem() -> str | None:
    """Why nothing can be timed here (no torch with CUDA, the CUDA simulator, no GPU for numba.cuda), or None."""
    try:
        import torch
    except ImportError:
        return "torch does not import: cuDNN is the reference here"
    cuda = import_cuda()
    if cuda.config.ENABLE_CUDASIM:
        return "NUMBA_ENABLE_CUDASIM=1: the CUDA simulator times nothing; run this on a GPU"
    if not torch.cuda.is_available() or not cuda.is_available():
        return "no CUDA GPU here (torch or numba.cuda sees none): run this on a GPU"
    return None


def torch_conv(torch, x, w, spec):
    """(call, output) of cuDNN's convolution of ``x`` and ``w`` (already on the GPU) with ``spec``'s stride and
    padding."""
    call = lambda: torch.nn.functional.conv2d(x, w, stride=spec.stride, padding=spec.padding)  # noqa: E731
    return call, call()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for variants.csv and launch.csv")
    parser.add_argument("--batches", default="32,1", help="batch sizes, comma-separated (default 32,1)")
    parser.add_argument("--only", default="", help="only layers whose label contains this")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per variant (median; default 5)")
    parser.add_argument("--round-ms", type=float, default=2.0, help="each round lasts at least this (default 2)")
    parser.add_argument("--max-minutes", type=float, default=4.0,
                        help="start no layer after this long (default 4; the launch breakdown follows)")
    args = parser.parse_args(argv)
    try:
        batches = [int(n) for n in args.batches.split(",")]
    except ValueError:
        parser.error(f"--batches {args.batches!r}: whole numbers, comma-separated")
    if not batches or min(batches) < 1 or args.rounds < 1 or not args.round_ms > 0 or not args.max_minutes > 0:
        parser.error("--batches must be >= 1, --rounds >= 1, --round-ms and --max-minutes > 0")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out}: exists and is not a folder")
    problem = gpu_problem()
    if problem:
        parser.error(problem)
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    cuda = import_cuda()
    sms = getattr(cuda.get_current_device(), "MULTIPROCESSOR_COUNT", 1)  # the simulator has none
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    deadline = time.monotonic() + 60 * args.max_minutes
    summary: dict = {}
    with open(args.out / "variants.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for N in batches:
            for layer in get_preset("gpu").layers:
                if args.only not in layer.label or time.monotonic() > deadline:
                    continue
                measure_layer(cuda, torch, writer, layer, N, sms, rng, args, summary)
                handle.flush()
    for (N, kind, variant), ratios in sorted(summary.items()):
        print(f"N={N} {kind}: {variant} / cuDNN geomean {math.exp(np.mean(np.log(ratios))):.3f}x "
              f"over {len(ratios)} layers")
    launch_breakdown(cuda, torch, args, rng)
    return 0


def measure_layer(cuda, torch, writer, layer, N, sms, rng, args, summary) -> None:
    """Rows of one layer at batch ``N``: the chosen variant and every candidate, each against cuDNN."""
    x = rng.uniform(-1, 1, (N, layer.C, layer.H, layer.W)).astype(np.float32)
    w = rng.uniform(-1, 1, (layer.F, layer.C, layer.k, layer.k)).astype(np.float32)
    spec = kernels.validate(x, w, layer.stride, layer.padding)
    tx, tw = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
    tcall, tout = torch_conv(torch, tx, tw, spec)
    ref = tout.cpu().numpy()
    torch_s = event_time_s(cuda, tcall, args.round_ms / 1e3, args.rounds)
    prepared = NumbaCudaPrepared(x, w, spec, direct=False)
    K, columns = spec.C * spec.k * spec.k, spec.N * spec.Ho * spec.Wo
    best, per_tile = None, {}
    for variant, choice in [("chosen", None)] + [("candidate", c) for c in candidates(K)]:
        prepared.use(choice)
        prepared()
        err = float(np.max(np.abs(prepared.result() - ref)) / max(np.max(np.abs(ref)), 1e-30))
        t = event_time_s(cuda, prepared, args.round_ms / 1e3, args.rounds)
        row = dict(layer=layer.label, N=N, C=spec.C, F=spec.F, H=spec.H, k=spec.k, stride=spec.stride, K=K,
                   columns=columns, sms=sms, variant=variant, tile=prepared.tile.name, splits=prepared.splits, time_s=t,
                   gflops=spec.flops / t / 1e9, torch_time_s=torch_s, speed_vs_cudnn=torch_s / t, rel_err=err)
        writer.writerow(row)
        if variant == "chosen":
            chosen = row
        else:
            best = row if best is None or t < best["time_s"] else best
            for key in (f"tile {row['tile']}, best split", f"tile {row['tile']}, unsplit" if row["splits"] == 1 else ""):
                if key:
                    per_tile[key] = max(per_tile.get(key, 0.0), row["speed_vs_cudnn"])
    kind = "1x1" if spec.k == 1 else "kxk"
    for key, speed in per_tile.items():  # the worklog table: each variant's speed against cuDNN
        summary.setdefault((N, kind, key), []).append(speed)
    summary.setdefault((N, kind, "chosen"), []).append(chosen["speed_vs_cudnn"])
    summary.setdefault((N, kind, "best"), []).append(best["speed_vs_cudnn"])
    print(f"{layer.label:20s} N={N:<3d} cuDNN {torch_s * 1e6:8.1f} us | chosen {chosen['tile']}/{chosen['splits']} "
          f"{chosen['time_s'] * 1e6:8.1f} us ({chosen['speed_vs_cudnn']:.2f}x) | best {best['tile']}/{best['splits']} "
          f"{best['time_s'] * 1e6:8.1f} us ({best['speed_vs_cudnn']:.2f}x) err {chosen['rel_err']:.1e}", flush=True)


def launch_breakdown(cuda, torch, args, rng) -> None:
    """Per launch mode, on 1x1 layers at N=1: host enqueue seconds, per-call seconds, one call alone."""
    rows = []
    for label in ("3a 1x1", "5a 1x1"):
        layer = next(lay for lay in get_preset("gpu").layers if lay.label == label)
        x = rng.uniform(-1, 1, (1, layer.C, layer.H, layer.W)).astype(np.float32)
        w = rng.uniform(-1, 1, (layer.F, layer.C, 1, 1)).astype(np.float32)
        spec = kernels.validate(x, w, 1, 0)
        prepared = NumbaCudaPrepared(x, w, spec, direct=False)
        tx, tw = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
        tcall, _ = torch_conv(torch, tx, tw, spec)
        for name in ["torch"] + [f"numba-cuda/{mode}" for mode in MODES]:
            if name == "torch":
                fn, used = tcall, "torch"
            else:
                os.environ[MODE_ENV] = name.split("/")[1]
                prepared.use(None)  # the launcher reads the forced mode when it is built
                os.environ.pop(MODE_ENV)
                fn, used = prepared, prepared.launch_mode
                if prepared.launch_fallback:
                    print(f"{name}: {prepared.launch_fallback}", flush=True)
            fn()
            cuda.synchronize()
            began = time.perf_counter()
            for _ in range(1000):
                fn()
            host_s = (time.perf_counter() - began) / 1000
            cuda.synchronize()
            alone = []
            start, end = cuda.event(timing=True), cuda.event(timing=True)
            for _ in range(50):
                cuda.synchronize()
                start.record()
                fn()
                end.record()
                end.synchronize()
                alone.append(cuda.event_elapsed_time(start, end) / 1e3)
            per_call_s = event_time_s(cuda, fn, args.round_ms / 1e3, args.rounds)
            rows.append(dict(layer=label, N=1, launch=name, mode_used=used, host_enqueue_s=host_s,
                             per_call_s=per_call_s, alone_min_s=min(alone), alone_median_s=statistics.median(alone)))
            print(f"{label} N=1 {name:22s} ({used}): enqueue {host_s * 1e6:6.1f} us, per call {per_call_s * 1e6:6.1f} "
                  f"us, alone {min(alone) * 1e6:6.1f} us (median {statistics.median(alone) * 1e6:6.1f})", flush=True)
    with open(args.out / "launch.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    raise SystemExit(main())
