"""pytest-benchmark suite: every backend on representative layers, prepare() outside the timed region.

Run for real with ``pytest tests/bench --benchmark-only`` (see README "Regression runs"); in a
plain ``pytest`` run benchmarks are disabled and each body runs once as a correctness smoke test.

Built to hold on an unchanged re-run on a shared, noisy 2-vCPU VM (see :mod:`tests.bench.steady`):
by default every runtime runs ONE thread and CPU backends are timed in CPU seconds of the
process (``time.process_time``), so a neighbour taking a vCPU neither stalls a parallel
barrier nor counts as our time (``CONVBENCH_BENCH_THREADS``, ``CONVBENCH_BENCH_CLOCK=wall``
change that); the session starts by waking every vCPU; benchmarks run grouped by backend
(the parametrization order), and each one settles its own call (untimed) until consecutive
blocks agree before rounds of >= ~2 ms and >= 10 calls are timed, ~0.2-0.4 s per benchmark; a CPU benchmark's
rounds start, and go on after a round whose pace read slow, at the machine's usual pace (:mod:`harness.pacewait`).
With ``CONVBENCH_BENCH_AGAINST=REF`` (a git commit or a folder holding a kernels package) every
benchmark runs right after the same benchmark of the base build's kernels (``NAME@base``), an A/B
file that ``harness compare FILE.json@base FILE.json`` judges. The whole suite takes ~15-30 s on a
2-vCPU VM. ``extra_info`` holds the backend, layer, shape, flops, bytes, threads, gflops and
max_abs_err, and for CPU backends on one thread ``paces_s``, the machine's pace read after every
timed round (:class:`tests.bench.steady.PaceLog`), all of which ``harness compare a.json b.json``
reads (:mod:`harness.benchpace`).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import kernels
from harness.abhalves import is_twin, own_name
from harness.against import twin_of
from harness.threads import thread_limits

from .steady import (PACE_SUMMARY, SEED_READINGS, PaceLog, base_twins, bench_threads, fixed_layout, pace_cache_key,
                     plan, settle, slowdown, slowed, timer_for, wait_budget_s, wake_machine)

pytestmark = pytest.mark.xdist_group('bench')  # its session fixture runs once, on one worker

# (id, N, C, H, W, F, k, stride, padding): a 1x1, a 3x3 and a 5x5 from Inception 3a, a 1x1 from
# Inception 5b (7x7 pixels, many channels), ResNet-50's strided 3x3 of conv4 (28x28 -> 14x14: its
# buffers fit a core's L2, so neighbours' cache traffic moves it less than conv3's), a tiny layer and
# a micro one. Every benchmark takes >= ~40 us per call here, so that the clock's resolution and a call's fixed
# overhead stay far below the 10% a gate judges; kernels of a few us are timed by sweeps (``--preset smoke``).
LAYERS = [
    ("3a-1x1", 1, 192, 28, 28, 64, 1, 1, 0),
    ("3a-3x3", 1, 96, 28, 28, 128, 3, 1, 1),
    ("3a-5x5", 1, 16, 28, 28, 32, 5, 1, 2),
    ("5b-1x1", 1, 832, 7, 7, 384, 1, 1, 0),
    ("r50-conv4-3x3s2", 1, 256, 28, 28, 256, 3, 2, 1),
    ("tiny-3x3", 1, 8, 12, 12, 8, 3, 1, 1),
    ("micro-3x3", 1, 4, 8, 8, 4, 3, 1, 1),
]
#: Which layers a backend runs, so that each backend's benchmarks take a few hundred ms: naive only the
#: micro layer (~1 ms per call); the first Numba version (numba-cpu-direct) only the tiny one (~40 us):
#: on 3a-1x1 its speed depends on the process (440 or 560 us per call, bimodal over 8 unchanged
#: runs), which no gate can tell from a regression, and its 3x3 layers take 30-50 ms per call.
LAYERS_OF = {"naive": {"micro-3x3"}, "numba-cpu-direct": {"tiny-3x3"}}
DEFAULT_LAYERS = {"3a-1x1", "3a-3x3", "3a-5x5", "5b-1x1", "r50-conv4-3x3s2"}
#: CPU benchmarks call COPIES prepared copies of their layer in turn, each with buffers of its own:
#: a kernel's speed depends on where its buffers landed (numba-cpu on r50-conv4 ran at 2.63 or
#: 2.98 ms per call, 3a-3x3 at 1.87 or 2.03 ms, per process and benchmark), and a round's mean over
#: three placements moves far less from run to run than one placement.
COPIES = 3
WARMUP_ROUNDS = 2


def _params():
    twins = base_twins()  # CONVBENCH_BENCH_AGAINST: each benchmark right after its base build's twin
    for backend in [b for b in kernels.list_backends() if not is_twin(b)]:  # grouped by backend: one runtime's
        mark = pytest.mark.benchmark(timer=timer_for(kernels.get_backend(backend).device))  # threads at a time
        builds = [twin_of(backend)] * (twin_of(backend) in twins) + [backend]
        for layer in LAYERS:
            if layer[0] in LAYERS_OF.get(backend, DEFAULT_LAYERS):
                for name in builds:
                    yield pytest.param(name, layer, id=f"{name}-{layer[0]}", marks=mark)


@pytest.fixture(scope="session")
def awake(pytestconfig):
    """Once per benchmark session: keep every vCPU busy until throughput is steady, then yield the session's
    :class:`harness.pacewait.PaceWait` on the CPU clock (None when benchmarks are disabled). The usual pace of
    earlier sessions comes from pytest's cache and this session's low goes back there; the session's waits are
    summed up at its end."""
    if pytestconfig.getoption("benchmark_disable", default=False):
        yield None
        return
    from harness.pacewait import PaceWait, stored_usual
    from harness.probe import pace_s

    wake_machine()
    clock = timer_for("cpu")
    cache, key = getattr(pytestconfig, "cache", None), pace_cache_key(clock)
    lows = cache.get(key, []) if cache is not None else []
    gate = PaceWait(lambda: pace_s(clock), stored_s=stored_usual(lows), budget_s=wait_budget_s())
    for _ in range(SEED_READINGS):
        gate.note(gate.probe())
    yield gate
    if not gate.benchmarks:
        return  # no benchmark was gated (several threads, GPU only, none selected): nothing to keep or to say
    if cache is not None and gate.session_low_s() is not None:
        cache.set(key, gate.lows_to_keep(lows))
    pytestconfig.stash[PACE_SUMMARY] = gate.summary()  # shown after the tests (tests/conftest.py)


@pytest.fixture
def threads():
    """Run the benchmark with Numba, BLAS and torch limited to :func:`bench_threads` threads."""
    n = bench_threads()
    with thread_limits(n):
        yield n


@pytest.mark.parametrize("backend, layer", list(_params()))
def test_conv2d(benchmark, awake, threads, backend, layer):
    label, N, C, H, W, F, k, stride, padding = layer
    impl = kernels.get_backend(backend)
    reason = impl.unavailable_reason()
    if reason:
        pytest.skip(reason)
    not_timed = impl.timing_unsupported_reason()
    if not_timed and not benchmark.disabled:
        pytest.skip(not_timed)  # e.g. the CUDA simulator: never benchmarked
    spec = kernels.ConvSpec(N=N, C=C, H=H, W=W, F=F, k=k, stride=stride, padding=padding)
    limit = impl.max_flops_per_call()
    if limit is not None and spec.flops > limit:
        pytest.skip(f"{spec.flops:.3g} FLOPs exceed {backend}'s limit")
    rng = np.random.default_rng(0)
    copies = 1 if benchmark.disabled or impl.device != "cpu" or own_name(backend) == "naive" else COPIES
    with fixed_layout():  # the same buffer offsets in every process
        x = rng.uniform(-1, 1, spec.x_shape).astype(spec.dtype)
        w = rng.uniform(-1, 1, spec.w_shape).astype(spec.dtype)
        # allocation, layout, copies, JIT: not timed; several copies, each with buffers of its own
        instances = [impl.prepare(x.copy(), w.copy(), spec) for _ in range(copies)]
    turn = itertools.cycle(instances)

    def call():
        prepared = next(turn)
        prepared()
        prepared.sync()

    run = slowed(call, slowdown(backend))  # CONVBENCH_BENCH_SLOWDOWN: the gate's detection check
    for _ in instances:
        call()  # first call (JIT for numba) outside the timed rounds
    benchmark.extra_info.update(backend=backend, layer=label, device=impl.device, dtype=spec.dtype, N=N, C=C, H=H,
                                W=W, F=F, k=k, stride=stride, padding=padding, Ho=spec.Ho, Wo=spec.Wo,
                                threads=threads, flops=spec.flops, bytes=spec.bytes,
                                clock=timer_for(impl.device).__name__)
    if benchmark.disabled:
        benchmark(run)  # a plain pytest run: once, as a correctness test
    else:
        timer = timer_for(impl.device)
        rounds, iterations = plan(settle(run, timer))  # warm this runtime's threads until calls agree
        # the machine's pace after every round, untimed; one thread only: on CPU time a runtime's threads still
        # spinning after a round would count into the probe's reading; a slow one is waited out (harness.pacewait,
        # whose session readings are on this same clock: timer_for("cpu"))
        paced = impl.device == "cpu" and threads == 1
        gate = awake if paced else None
        pace = PaceLog(timer, gate, WARMUP_ROUNDS + rounds) if paced else None
        if gate is not None:
            waited_before = gate.waited_s
            gate.before_rounds()  # start the rounds at the machine's usual pace
        benchmark.pedantic(run, rounds=rounds, iterations=iterations, warmup_rounds=WARMUP_ROUNDS, teardown=pace)
        if pace is not None:
            benchmark.extra_info["paces_s"] = pace.timed(WARMUP_ROUNDS, rounds)
        if gate is not None:
            benchmark.extra_info["pace_wait_s"] = gate.waited_s - waited_before
        benchmark.extra_info["gflops"] = spec.flops / benchmark.stats.stats.median / 1e9
    ref = kernels.reference_conv2d(x, w, spec)
    tol = kernels.tolerance(x, w, spec)
    margins = [kernels.error_margin(prepared.result(), ref, tol)[0] for prepared in instances]
    benchmark.extra_info["max_abs_err"] = float(max(kernels.max_abs_error(p.result(), ref) for p in instances))
    assert max(margins) <= 1.0
