"""A/B benchmark of ``numba-cpu`` against oneDNN (torch) and BLAS (numpy) on real layers, in one process.

    PYTHONPATH=. python scripts/bench_numba_cpu.py [--n 1,4] [--rounds 7] [--peak GFLOPS] [--only TEXT]
        [--preset inception,resnet50] [--cpu-time]

For every layer and batch size it times, interleaved in blocks (each block starts with untimed
warm-up calls, because the runtimes' thread pools disturb one another):

* ``numba``: a prepared ``numba-cpu`` convolution (layout made once);
* ``torch``: ``torch.nn.functional.conv2d`` on the same tensors (2 threads, no_grad);
* ``numpy``: the prepared ``numpy`` backend (1x1 layers only: one BLAS GEMM);
* ``c2d-numba``: ``kernels.conv2d(x, w, backend="numba-cpu")``, prepare included;
* ``c2d-torch``: ``torch.nn.functional.conv2d(torch.from_numpy(x), ...).numpy()``.

A block's time is the median of its calls; a backend's time the median over all rounds of all
passes ("median");
the fastest single call over all rounds is kept too ("best": on a shared, busy machine other
processes only ever add time, so it is the steadier estimate of what the code can do).
``--threads`` sets Numba's and torch's threads; NumPy's BLAS reads its own variable, so run
``OPENBLAS_NUM_THREADS=1 ... --threads 1`` for a one-core comparison. Ratios are
speed ratios (other's time / numba's time: > 1 means numba is faster); the last lines are
their geometric means. The machine may be shared, so only ratios measured this way mean much.

``--preset`` takes the layers of harness presets instead of the built-in list. ``--cpu-time``
measures only numba-cpu, on one Numba thread, by the calling thread's CPU time
(``time.thread_time``; the parallel region then runs in that thread): time other processes
take from the core is not counted, so on a busy shared machine this is the steady measure of
what a kernel change does; compare it with ``--peak`` set to the one-core FMA roof of
``harness peak``.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import kernels  # noqa: E402
from kernels.numba_cpu import isa_info  # noqa: E402

# (label, C, H, F, k, stride, padding)
LAYERS = [
    ("inc 3a 1x1", 192, 28, 64, 1, 1, 0),
    ("inc 3a 5x5", 16, 28, 32, 5, 1, 2),
    ("inc 3b 3x3", 128, 28, 192, 3, 1, 1),
    ("inc 4a 3x3", 96, 14, 208, 3, 1, 1),
    ("inc 4e 1x1", 528, 14, 256, 1, 1, 0),
    ("inc 4e 3x3", 160, 14, 320, 3, 1, 1),
    ("inc 4e 5x5", 32, 14, 128, 5, 1, 2),
    ("inc 4e 5x5 direct", 528, 14, 128, 5, 1, 2),
    ("inc 5b 1x1", 832, 7, 384, 1, 1, 0),
    ("inc 5b 3x3", 192, 7, 384, 3, 1, 1),
    ("inc 5b 5x5", 48, 7, 128, 5, 1, 2),
    ("res stem 7x7/2", 3, 224, 64, 7, 2, 3),
    ("res conv2 1x1 64>64", 64, 56, 64, 1, 1, 0),
    ("res conv2 3x3", 64, 56, 64, 3, 1, 1),
    ("res conv2 1x1 64>256", 64, 56, 256, 1, 1, 0),
    ("res conv2 1x1 256>64", 256, 56, 64, 1, 1, 0),
    ("res conv3 3x3/2", 128, 56, 128, 3, 2, 1),
    ("res conv3 1x1 512>128", 512, 28, 128, 1, 1, 0),
    ("res conv4 3x3", 256, 14, 256, 3, 1, 1),
    ("res conv4 1x1 1024>256", 1024, 14, 256, 1, 1, 0),
    ("res conv5 3x3", 512, 7, 512, 3, 1, 1),
    ("res conv5 1x1 512>2048", 512, 7, 2048, 1, 1, 0),
    ("res down 1x1/2", 256, 56, 512, 1, 2, 0),
    ("mobilenet 1x1 64>128", 64, 56, 128, 1, 1, 0),
]


def block_time(fn, reps, warm=2):
    """(median, min) seconds of ``reps`` calls of ``fn`` after ``warm`` untimed ones."""
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def spin(seconds=1.0):
    """Keep both cores busy for a while so that idle vCPUs are awake before timing."""
    a = np.random.rand(256, 256).astype(np.float32)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        kernels.conv2d(a[None, None], a[None, None, :3, :3], backend="numba-cpu")


def bench_layer(label, C, H, F, k, stride, padding, N, rounds, rng):
    """Block times of each backend for one layer: (flops, {name: [(median, min) per round]})."""
    x = rng.standard_normal((N, C, H, H), dtype=np.float32)
    w = rng.standard_normal((F, C, k, k), dtype=np.float32) / math.sqrt(C * k * k)
    spec = kernels.validate(x, w, stride, padding)
    numba_p = kernels.get_backend("numba-cpu").prepare(x, w, spec)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    fns = {
        "numba": numba_p,
        "torch": lambda: torch.nn.functional.conv2d(tx, tw, stride=stride, padding=padding),
        "c2d-numba": lambda: kernels.conv2d(x, w, stride=stride, padding=padding, backend="numba-cpu"),
        "c2d-torch": lambda: torch.nn.functional.conv2d(
            torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding
        ).numpy(),
    }
    if spec.is_pointwise:
        fns["numpy"] = kernels.get_backend("numpy").prepare(x, w, spec)
    numba_p()
    got = numba_p.result()
    with torch.no_grad():
        ref = fns["torch"]().numpy()
    err = float(np.abs(got - ref).max())
    assert err < 1e-3 * max(1.0, float(np.abs(ref).max())), f"{label}: numba-cpu differs from torch by {err}"
    t1 = block_time(fns["torch"], 1, warm=1)[0]
    reps = max(3, min(50, int(0.04 / max(t1, 1e-6))))
    samples = {name: [] for name in fns}
    with torch.no_grad():
        for _ in range(rounds):
            for name, fn in fns.items():
                samples[name].append(block_time(fn, reps))
    return spec.flops, samples


def preset_layers(names):
    """(label, C, H, F, k, stride, padding) of every layer of the named harness presets."""
    from harness.presets import get_preset

    rows = []
    for name in names.split(","):
        for layer in get_preset(name).layers:
            padding = layer.k // 2 if layer.padding == "same" else layer.padding
            rows.append((layer.label, layer.C, layer.H, layer.F, layer.k, layer.stride, padding))
    return rows


def cpu_time_gflops(label, C, H, F, k, stride, padding, N, rounds, rng):
    """GFLOP/s of numba-cpu on one core: the best thread CPU time of a prepared call on one Numba
    thread (the parallel region then runs in the calling thread)."""
    x = rng.standard_normal((N, C, H, H), dtype=np.float32)
    w = rng.standard_normal((F, C, k, k), dtype=np.float32)
    spec = kernels.validate(x, w, stride, padding)
    prepared = kernels.get_backend("numba-cpu").prepare(x, w, spec)
    prepared()
    best = float("inf")
    for _ in range(max(3, rounds)):
        t0 = time.thread_time()
        prepared()
        best = min(best, time.thread_time() - t0)
    return spec.flops / max(best, 1e-9) / 1e9


def run_cpu_time(args, layers):
    """Print numba-cpu's one-core GFLOP/s per layer and their geometric mean (``--cpu-time``)."""
    import numba

    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    best = {}
    points = [(layer, int(n)) for layer in layers for n in args.n.split(",")]
    for _ in range(args.passes):  # best of the passes: a burst of load hits one pass, not all
        for layer, n in points:
            gf = cpu_time_gflops(*layer, N=n, rounds=args.rounds, rng=rng)
            best[layer[0], n] = max(best.get((layer[0], n), 0.0), gf)
    rows = [(label, n, gf) for (label, n), gf in best.items()]
    for label, n, gf in rows:
        print(f"{label:24} {n:>2} {gf:8.1f} GFLOP/s" + (f" {100 * gf / args.peak:5.1f}%" if args.peak else ""))
    g = geomean([gf for _, _, gf in rows])
    print(f"geomean {g:.1f} GFLOP/s on one core (thread CPU time)" + (f" = {100 * g / args.peak:.1f}% of "
                                                                      f"{args.peak:g}" if args.peak else ""))


def geomean(values):
    """Geometric mean of positive numbers (nan for none)."""
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main(argv=None):
    """Run the benchmark and print the table and the geometric means."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="1,4", help="batch sizes, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per layer and pass")
    ap.add_argument("--passes", type=int, default=3,
                    help="passes over the layer list; a layer's rounds are spread over them")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peak", type=float, default=None,
                    help="FMA roof in GFLOP/s from `harness peak` (one core with --cpu-time): print % of it")
    ap.add_argument("--only", default="", help="run layers whose label contains this text")
    ap.add_argument("--preset", default="", help="layers of these harness presets, e.g. inception,resnet50")
    ap.add_argument("--cpu-time", action="store_true",
                    help="numba-cpu only, one core, by thread CPU time (steady on a busy machine)")
    args = ap.parse_args(argv)
    layers = [layer for layer in (preset_layers(args.preset) if args.preset else LAYERS) if args.only in layer[0]]
    if args.cpu_time:
        return run_cpu_time(args, layers)
    torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(args.threads)
    info = isa_info()
    print(f"# {info} torch {torch.__version__} threads {args.threads}")
    rng = np.random.default_rng(0)
    spin()
    ratios = {stat: {"torch": [], "numpy": [], "c2d": []} for stat in ("median", "best")}
    rows = []
    one = f"{'numba GF/s':>10} {'torch GF/s':>10} {'vs torch':>8} {'vs numpy':>8} {'conv2d':>7}"
    one += f" {'%peak':>6}" if args.peak else ""
    print(f"{'layer':24} {'N':>2} {one} | {one}   (median of rounds | best call)")
    points = [(layer, int(n)) for layer in layers for n in args.n.split(",")]
    blocks = {}
    for npass in range(args.passes):
        print(f"# pass {npass + 1}/{args.passes}", file=sys.stderr, flush=True)
        for layer, N in points:
            flops, samples = bench_layer(*layer, N=N, rounds=args.rounds, rng=rng)
            for name, v in samples.items():
                blocks.setdefault((layer, N), (flops, {}))[1].setdefault(name, []).extend(v)
    for layer, N in points:
        flops, samples = blocks[(layer, N)]
        times = {stat: {name: pick([b[i] for b in v]) for name, v in samples.items()}
                 for stat, i, pick in (("median", 0, statistics.median), ("best", 1, min))}
        cells = []
        for stat, t in times.items():
            gf = flops / t["numba"] / 1e9
            got = {"torch": t["torch"] / t["numba"], "c2d": t["c2d-torch"] / t["c2d-numba"]}
            if "numpy" in t:
                got["numpy"] = t["numpy"] / t["numba"]
            for key, val in got.items():
                ratios[stat][key].append(val)
            np_cell = f"{got['numpy']:.2f}" if "numpy" in got else "-"
            cells.append(f"{gf:10.1f} {flops / t['torch'] / 1e9:10.1f} {got['torch']:8.2f} {np_cell:>8} "
                         f"{got['c2d']:7.2f}" + (f" {100 * gf / args.peak:5.0f}%" if args.peak else ""))
            if stat == "best":
                rows.append((layer[0], N, gf))
        print(f"{layer[0]:24} {N:>2} " + " | ".join(cells), flush=True)
    for stat, r in ratios.items():
        print(f"[{stat}] geomean (median) prepared numba-cpu / torch: {geomean(r['torch']):.2f} "
              f"({statistics.median(r['torch']):.2f}, {len(r['torch'])} points); "
              f"1x1 numba-cpu / numpy BLAS: {geomean(r['numpy']):.2f} ({statistics.median(r['numpy']):.2f}, "
              f"{len(r['numpy'])}); kernels.conv2d numba-cpu / torch conv2d: {geomean(r['c2d']):.2f} "
              f"({statistics.median(r['c2d']):.2f})")
    best = max(rows, key=lambda r: r[2])
    print(f"best layer (best call): {best[0]} N={best[1]} {best[2]:.1f} GFLOP/s"
          + (f" = {100 * best[2] / args.peak:.0f}% of {args.peak:g}" if args.peak else ""))


if __name__ == "__main__":
    main()
