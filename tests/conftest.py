"""Test session setup: run numba-cuda under the CUDA simulator unless a real GPU is requested.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is first imported, which is why
it happens here, at collection time. Set ``CONVBENCH_REAL_CUDA=1`` to test the
kernels on a real GPU instead.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess

if os.environ.get("CONVBENCH_REAL_CUDA") != "1":
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402


BENCHMARK_OPTIONS = ("benchmark_only", "benchmark_enable", "benchmark_save", "benchmark_autosave",
                     "benchmark_compare", "benchmark_json")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Disable benchmarks (run each once, as a correctness smoke test) unless a benchmark option asks for them;
    when one does, run in this one process (no xdist workers).

    ``--benchmark-disable`` cannot sit in addopts: pytest-benchmark refuses it together
    with ``--benchmark-only``, which is how the README's regression commands run. The suite runs on
    two xdist workers (addopts ``-n 2``), but pytest-benchmark switches itself off under xdist, and
    timings taken beside a second worker would be worth nothing: a benchmark run is one process. This
    hook runs before xdist's and pytest-benchmark's own (both ``trylast``), so both see the change.
    """
    if not any(config.getoption(opt, default=None) for opt in BENCHMARK_OPTIONS):
        config.option.benchmark_disable = True
    elif getattr(config.option, "numprocesses", None):
        config.option.numprocesses, config.option.dist, config.option.tx = 0, "no", []
    if not getattr(config.option, "benchmark_disable", True):  # the suite's variables: one line, before anything runs
        from tests.bench.steady import bench_threads, timer_for, wait_budget_s

        try:
            bench_threads(), timer_for("cpu"), wait_budget_s()
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what a sweep's metadata says of the machine and pytest-benchmark does not (memory, Numba's
    threading layer, the pace probe's version), so ``harness history add`` files a benchmark file under the same
    machine as the sweeps of that machine (:func:`harness.historyrecord.machine_of`)."""
    from harness.metadata import memory_gib, numba_threading_layer
    from harness.probe import PROBE_VERSION

    machine_info["convbench"] = {"memory_gib": memory_gib(), "numba_threading_layer": numba_threading_layer(),
                                 "probe": PROBE_VERSION}


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's table
def pytest_terminal_summary(terminalreporter, config):
    """After a benchmark session, say how long it waited for the machine's usual pace (tests/bench)."""
    from tests.bench.steady import PACE_SUMMARY

    summary = config.stash.get(PACE_SUMMARY, None)
    if summary:
        terminalreporter.write_line(f"convbench: {summary}")


@pytest.fixture
def rng():
    """A seeded random generator, so failures reproduce."""
    return np.random.default_rng(12345)


def make_inputs(rng, N, C, H, W, F, k, dtype="float32"):
    """Uniform(-1, 1) input and weight arrays of the given shape and dtype."""
    x = rng.uniform(-1.0, 1.0, (N, C, H, W)).astype(dtype)
    w = rng.uniform(-1.0, 1.0, (F, C, k, k)).astype(dtype)
    return x, w


def run_cli(*args) -> subprocess.CompletedProcess:
    """Run ``harness.cli.main(args)`` in this process, capturing its output like ``subprocess.run`` would.

    Use it wherever the process itself is not what a test is about (a subprocess costs an
    interpreter start and the numba/pandas/matplotlib imports, 2-3 s each on 2 cores).
    """
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def seed_peak(results_dir) -> None:
    """Store a plausible peak for this machine in ``results_dir`` so a test sweep does not measure one."""
    from harness.peak_store import save_peak
    from harness.threads import max_threads
    from tests.fakes import fake_roof

    threads = max_threads()  # a generous roof: no test sweep row is above it
    save_peak(results_dir, fake_roof(threads, fma_gflops={"float32": 1e4 * threads, "float64": 5e3 * threads},
                                     fma_gflops_1t={"float32": 1e4, "float64": 5e3}))


@pytest.fixture
def results_dir(tmp_path):
    """``tmp_path / "r"`` holding a stored peak for this machine, so test sweeps skip measuring one."""
    folder = tmp_path / "r"
    folder.mkdir()
    seed_peak(folder)
    return folder


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One smoke-preset sweep for the whole session, through the CLI's main() in-process, with plots and page.

    Tests read its files; none may change them (copy first). Returns (folder, completed process).
    """
    tmp = tmp_path_factory.mktemp("smoke")
    seed_peak(tmp / "results")
    proc = run_cli("sweep", "--preset", "smoke", "--budget-s", "0.15", "--settle-s", "0.2", "--results-dir",
                   tmp / "results", "--plots-dir", tmp / "plots", "--run-id", "smoke-test")
    assert proc.returncode == 0, proc.stderr
    return tmp, proc


@pytest.fixture
def base_env(tmp_path, monkeypatch):
    """For A/B runs (``sweep --against``): a private cache folder; every base twin and generated plugin is gone
    again after the test."""
    import kernels
    from harness import against
    from harness.plugins import loaded_plugins, unload_plugin
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield tmp_path
    against.release_other_bases(tmp_path / "no base build")  # forget every base build this test registered
    for key in list(loaded_plugins()):
        if key.endswith(against.PLUGIN_NAME):
            unload_plugin(key)
    for name in kernels.list_backends() + kernels.list_fused_backends():
        if name.endswith(against.SUFFIX):
            against.forget(name)
