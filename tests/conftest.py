"""Test session setup: run numba-cuda under the CUDA simulator unless a real GPU is requested.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is first imported, which is why
it happens here, at collection time. Set ``CONVBENCH_REAL_CUDA=1`` to test the
kernels on a real GPU instead.
"""
from __future__ import annotations

import os

if os.environ.get("CONVBENCH_REAL_CUDA") != "1":
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402


BENCHMARK_OPTIONS = ("benchmark_only", "benchmark_enable", "benchmark_save", "benchmark_autosave",
                     "benchmark_compare", "benchmark_json")


def pytest_configure(config):
    """Disable benchmarks (run each once, as a correctness smoke test) unless a benchmark option asks for them.

    ``--benchmark-disable`` cannot sit in addopts: pytest-benchmark refuses it together
    with ``--benchmark-only``, which is how the README's regression commands run.
    """
    if not any(config.getoption(opt, default=None) for opt in BENCHMARK_OPTIONS):
        config.option.benchmark_disable = True


@pytest.fixture
def rng():
    """A seeded random generator, so failures reproduce."""
    return np.random.default_rng(12345)


def make_inputs(rng, N, C, H, W, F, k, dtype="float32"):
    """Uniform(-1, 1) input and weight arrays of the given shape and dtype."""
    x = rng.uniform(-1.0, 1.0, (N, C, H, W)).astype(dtype)
    w = rng.uniform(-1.0, 1.0, (F, C, k, k)).astype(dtype)
    return x, w


@pytest.fixture(scope="session")
def _peak_text(tmp_path_factory) -> str:
    from harness.peak import cached_peak, peak_path

    folder = tmp_path_factory.mktemp("peak")
    cached_peak(folder)
    return peak_path(folder).read_text()


@pytest.fixture
def results_dir(tmp_path, _peak_text):
    """``tmp_path / "r"`` holding this machine's peak (measured once per session), so sweeps skip measuring it."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "peak.json").write_text(_peak_text)
    return folder
