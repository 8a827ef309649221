"""Run metadata: library versions, CPU model and ISA, numba-cpu's vector width, GPU, git commit, the run record.

Read from fake ``/proc`` files and fake CUDA modules where the real machine would decide the answer;
checked against this machine where it can be (never for speed).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import types
from importlib.metadata import version
from pathlib import Path

import numba
import pytest

from harness import metadata
from harness.probe import PROBE_VERSION
from harness.metadata import (collect_metadata, cpu_isa, cpu_model, finish_metadata, gpu_info, library_versions,
                              now_iso, numba_cpu_vectors)
from harness.threads import max_threads
from tests.fakes import fake_roof

ROOT = Path(__file__).resolve().parent.parent
SIMULATED = os.environ.get("CONVBENCH_REAL_CUDA") != "1"



def fake_proc(monkeypatch, tmp_path, cpuinfo: str | None = None, meminfo: str | None = None) -> None:
    """Point metadata's /proc/cpuinfo and /proc/meminfo at files holding the given text (absent where None)."""
    files = {}
    for name, text in (("cpuinfo", cpuinfo), ("meminfo", meminfo)):
        files[f"/proc/{name}"] = tmp_path / name
        if text is not None:
            (tmp_path / name).write_text(text)
    monkeypatch.setattr(metadata, "Path", lambda p: files.get(str(p), Path(p)))



# --- metadata ------------------------------------------------------------------------------------------------


def test_library_versions_record_python_and_every_imported_tracked_library(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    versions = library_versions()
    assert versions["python"] == platform.python_version()
    assert versions["probe"] == PROBE_VERSION  # compare must not set readings of two probes' loops side by side
    for dist in ("numpy", "numba", "llvmlite", "pandas", "threadpoolctl"):
        assert versions[dist] == version(dist), dist
    assert "torch" not in versions  # tracked, but not imported here
    monkeypatch.setitem(metadata.TRACKED, "fake_lib", "no-such-distribution-xyz")
    monkeypatch.setitem(sys.modules, "fake_lib", types.SimpleNamespace(__version__="9.8.7"))
    assert library_versions()["no-such-distribution-xyz"] == "9.8.7"  # no installed metadata: the module's own
    monkeypatch.setitem(sys.modules, "fake_lib", types.SimpleNamespace())
    assert library_versions()["no-such-distribution-xyz"] == "?"


def test_cpu_model_and_memory_from_proc_with_fallbacks(monkeypatch, tmp_path):
    fake_proc(monkeypatch, tmp_path, cpuinfo="processor\t: 0\nvendor_id\t: GenuineIntel\n"
              "model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\nflags\t: fpu sse2\n",
              meminfo="MemFree:  1024 kB\nMemTotal:       16777216 kB\n")
    assert cpu_model() == "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
    assert metadata.memory_gib() == 16.0
    fake_proc(monkeypatch, tmp_path / "none")  # neither file exists
    assert cpu_model() == (platform.processor() or platform.machine())
    assert metadata.memory_gib() is None


@pytest.mark.parametrize("flags, isa", [
    ("fpu sse sse2 avx avx2 fma avx512f avx512vl", "AVX-512"),
    ("fpu sse sse2 avx avx2 fma", "AVX2+FMA"),
    ("fpu sse sse2 avx avx2", "AVX2"),
    ("fpu sse sse2 avx fma", "AVX"),
    ("fpu sse sse2", "SSE2"),
    ("fpu avx512vl avx2fma", None),  # only whole flags count: none of these is a known one
])
def test_cpu_isa_is_the_widest_reported_flag(monkeypatch, tmp_path, flags, isa):
    fake_proc(monkeypatch, tmp_path, cpuinfo=f"model name\t: x\nflags\t\t: {flags}\n")
    assert cpu_isa() == (isa or platform.machine())


def test_cpu_isa_without_cpuinfo_is_the_machine_name(monkeypatch, tmp_path):
    fake_proc(monkeypatch, tmp_path)
    assert cpu_isa() == platform.machine()


def test_this_machine_has_a_model_an_isa_and_numba_cpu_vectors_that_agree():
    assert cpu_model().strip() and cpu_model() == cpu_model().strip()
    isa = cpu_isa()
    assert isa in {"AVX-512", "AVX2+FMA", "AVX2", "AVX", "SSE2", platform.machine()}
    vectors = numba_cpu_vectors()
    if vectors is None:  # an odd platform: numba-cpu has nothing to say
        return
    bits = vectors["vector_bits"]
    assert vectors["isa"] in {"avx512", "avx2"} and bits in {256, 512}
    assert (vectors["lanes"], vectors["lanes_float64"]) == (bits // 32, bits // 64)
    assert re.fullmatch(r"\d+x\d+", vectors["conv_tile"]) and re.fullmatch(r"\d+x\d+", vectors["gemm_tile"])
    if isa in {"AVX2", "AVX2+FMA"}:
        assert bits == 256  # numba-cpu never compiles wider than the CPU reports


def test_numba_cpu_vectors_is_none_when_the_probe_fails(monkeypatch):
    def broken():
        raise RuntimeError("no LLVM target here")

    monkeypatch.setattr(metadata, "isa_info", broken)
    assert numba_cpu_vectors() is None


@pytest.mark.skipif(not SIMULATED, reason="a real GPU is present")
def test_gpu_info_is_none_under_the_simulator():
    assert gpu_info() is None


def test_gpu_info_reads_name_capability_and_driver_of_a_real_device(monkeypatch):
    import kernels.numba_cuda.compat
    from numba.cuda import config

    device = types.SimpleNamespace(name=b"Fake GPU 80GB", compute_capability=(9, 0))
    driver = types.SimpleNamespace(get_version=lambda: (12, 4))
    cuda = types.SimpleNamespace(is_available=lambda: True, get_current_device=lambda: device,
                                 cudadrv=types.SimpleNamespace(driver=types.SimpleNamespace(driver=driver)))
    monkeypatch.setattr(kernels.numba_cuda.compat, "import_cuda", lambda: cuda)
    monkeypatch.setattr(config, "ENABLE_CUDASIM", 0)
    assert gpu_info() == {"name": "Fake GPU 80GB", "compute_capability": "9.0", "driver": "12.4"}

    def no_driver():
        raise OSError("no driver version")

    monkeypatch.setattr(driver, "get_version", no_driver)
    device.name = "Str GPU"
    assert gpu_info() == {"name": "Str GPU", "compute_capability": "9.0"}  # the driver is nice to have
    cuda.is_available = lambda: False
    assert gpu_info() is None
    monkeypatch.setattr(config, "ENABLE_CUDASIM", 1)
    cuda.is_available = lambda: True
    assert gpu_info() is None  # the simulator is never reported as a GPU


def test_now_iso_is_utc_to_the_second():
    stamp = now_iso()
    parsed = dt.datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == dt.timedelta(0) and parsed.microsecond == 0 and "." not in stamp
    assert abs((dt.datetime.now(dt.timezone.utc) - parsed).total_seconds()) < 60


def test_git_commit_names_the_checkout():
    commit = metadata.git_commit()
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5)
    except OSError:  # no git here
        head = None
    if head is None or head.returncode != 0:
        assert commit is None
    else:
        assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit) and commit.startswith(head.stdout.strip())


def test_collect_metadata_is_a_json_able_description_of_this_machine():
    peak = fake_roof()
    meta = collect_metadata(run_id="r1", command=["harness", "sweep", "--preset", "smoke"], preset="smoke",
                            backends=["numpy", "numba-cpu"], peak=peak)
    assert json.loads(json.dumps(meta)) == meta
    assert (meta["run_id"], meta["command"], meta["preset"]) == ("r1", "harness sweep --preset smoke", "smoke")
    assert meta["backends"] == ["numpy", "numba-cpu"] and meta["peak"] == peak
    assert meta["cpu_model"] == cpu_model() and meta["cpu_isa"] == cpu_isa() and meta["cpu_count"] == os.cpu_count()
    assert meta["numba_num_threads"] == max_threads() and meta["versions"]["numba"] == numba.__version__
    assert meta["numba_cpu_vectors"] == numba_cpu_vectors()
    assert meta["numba_threading_layer"] in {"tbb", "omp", "workqueue", "default"}
    assert meta["memory_gib"] is None or meta["memory_gib"] > 0
    assert meta["blas"] and all(set(b) <= {"internal_api", "version", "num_threads", "threading_layer",
                                           "architecture", "filepath"} for b in meta["blas"])
    assert all("filepath" in b and "user_api" not in b for b in meta["blas"])
    if SIMULATED:
        assert meta["gpu"] is None
    dt.datetime.fromisoformat(meta["started_at"])
    assert "status" not in meta and "finished_at" not in meta  # a run is not finished when it starts


def test_finish_metadata_records_how_the_run_ended():
    meta = dict(run_id="r1", versions={})
    finish_metadata(meta, types.SimpleNamespace(wall_s=12.34567, by_status={"ok": 5, "failed": 1}))
    assert meta["status"] == "complete" and meta["wall_s"] == 12.346
    assert meta["points"] == {"ok": 5, "failed": 1} and meta["versions"]["numpy"] == version("numpy")
    assert dt.datetime.fromisoformat(meta["finished_at"]).utcoffset() == dt.timedelta(0)
    assert meta["run_id"] == "r1"


def test_the_threading_layer_is_the_one_numba_uses_not_the_setting():
    """Runs that did and did not run a parallel region in the parent record the same layer (compare warns on a
    difference)."""
    from harness.metadata import numba_threading_layer

    assert numba_threading_layer() in ("omp", "tbb", "workqueue")
    assert collect_metadata(run_id="t", command=["x"], preset="p", backends=[], peak=None)[
        "numba_threading_layer"] == numba_threading_layer()


def test_the_recorded_command_pastes_back_into_a_shell():
    import shlex

    argv = ["python", "-m", "harness", "sweep", "--layers", "my layers.toml", "--run-id", "a;b"]
    command = collect_metadata(run_id="t", command=argv, preset="p", backends=[], peak=None)["command"]
    assert shlex.split(command) == argv


def test_blas_versions_are_the_same_whatever_order_the_libraries_loaded_in():
    from harness.metadata import blas_versions

    numpy_blas = {"internal_api": "openblas", "version": "0.3.31.188.0", "architecture": "SkylakeX",
                  "filepath": "/site-packages/numpy.libs/libscipy_openblas64_-32a4b2a6.so"}
    scipy_blas = {"internal_api": "openblas", "version": "0.3.30", "architecture": "SkylakeX",
                  "filepath": "/site-packages/scipy.libs/libscipy_openblas-6cdc3b4a.so"}
    omp = {"internal_api": "openmp", "version": None, "filepath": "/usr/lib/libgomp.so.1"}
    one, other = blas_versions([numpy_blas, omp, scipy_blas]), blas_versions([omp, scipy_blas, numpy_blas])
    assert one == other == {"openblas": "numpy 0.3.31.188.0; scipy 0.3.30", "openblas_core_type": "SkylakeX"}
    assert blas_versions([scipy_blas]) == {"openblas": "0.3.30", "openblas_core_type": "SkylakeX"}
    assert blas_versions([omp]) == {}
