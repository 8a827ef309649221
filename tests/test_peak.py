"""The measured peak (``harness.peak`` and ``harness peak``) and thread limits (``harness.threads``).

Real measurements run at toy sizes (a 128^3 GEMM, an 8 MiB copy, 0.05 s each) and are only checked for
shape and sanity, never for speed; the arithmetic of the rates is checked on a ticking fake clock.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import types

import numba
import pytest
from threadpoolctl import threadpool_info

from harness import peak as peak_module
from harness.metadata import cpu_model
from harness.threads import default_threads, max_threads, thread_limits
from tests.conftest import run_cli

PEAK_KEYS = {"cpu_model", "measured_at", "threads", "seconds", "gemm_gflops", "gemm_spread", "copy_gbytes_per_s",
             "copy_spread"}



def blas_threads() -> list[int]:
    """Thread counts of every BLAS library loaded in this process."""
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


class TickingClock:
    """A clock that moves ``step`` seconds every time it is read: every timed round lasts exactly one step."""

    def __init__(self, step: float = 2.0**-10):
        self.t, self.step = 100.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t - self.step



@pytest.fixture
def toy_peak(monkeypatch):
    """Make ``measure_peak`` measure toy sizes without spinning; record what each measurement ran under."""
    seen = dict(gemm=[], copy=[], spins=[])
    real_gemm, real_copy = peak_module.measure_gemm_gflops, peak_module.measure_copy_gbytes_per_s

    def gemm(dtype, n=2048, seconds=1.0, clock=None):
        seen["gemm"].append((dtype, n, seconds, numba.get_num_threads(), blas_threads()))
        return real_gemm(dtype, n=128, seconds=seconds)

    def copy(mib=256, seconds=1.0, clock=None):
        seen["copy"].append((mib, seconds, numba.get_num_threads(), blas_threads()))
        return real_copy(mib=8, seconds=seconds)

    monkeypatch.setattr(peak_module, "measure_gemm_gflops", gemm)
    monkeypatch.setattr(peak_module, "measure_copy_gbytes_per_s", copy)
    monkeypatch.setattr("harness.settle.spin", lambda min_s, max_s: seen["spins"].append((min_s, max_s)) or {})
    return seen



def machine_peak(threads: int | None = None, **kw) -> dict:
    """A plausible peak of this CPU model at ``threads`` (default: all) threads."""
    base = dict(cpu_model=cpu_model(), threads=threads or max_threads(), measured_at="2024-01-02T03:04:05+00:00",
                seconds=0.5, gemm_gflops={"float32": 321.5, "float64": 160.25},
                gemm_spread={"float32": 0.01, "float64": 0.02}, copy_gbytes_per_s=12.5, copy_spread=0.03)
    return dict(base, **kw)



# --- peak ----------------------------------------------------------------------------------------------------


def test_gemm_and_copy_rates_count_flops_and_bytes_per_round():
    n, step = 32, 2.0**-10
    flops, spread = peak_module.measure_gemm_gflops("float32", n=n, seconds=0.01, clock=TickingClock(step))
    assert flops == pytest.approx(2 * n**3 / step / 1e9) and spread == pytest.approx(0.0)
    rate, spread = peak_module.measure_copy_gbytes_per_s(mib=1, seconds=0.01, clock=TickingClock(step))
    assert rate == pytest.approx(2 * 2**20 / step / 1e9) and spread == pytest.approx(0.0)  # read + write


def test_measure_peak_measures_each_dtype_under_the_thread_limit(toy_peak):
    if max_threads() < 2:
        pytest.skip("needs 2 threads to see a limit")
    before, blas_before = numba.get_num_threads(), blas_threads()
    peak = peak_module.measure_peak(seconds=0.05, threads=1)
    assert set(peak) == PEAK_KEYS and json.loads(json.dumps(peak)) == peak
    assert (peak["cpu_model"], peak["threads"], peak["seconds"]) == (cpu_model(), 1, 0.05)
    assert set(peak["gemm_gflops"]) == set(peak["gemm_spread"]) == {"float32", "float64"}
    assert all(0 < v < float("inf") for v in peak["gemm_gflops"].values())
    assert 0 < peak["copy_gbytes_per_s"] < float("inf")
    assert all(s >= 0 for s in (*peak["gemm_spread"].values(), peak["copy_spread"]))
    assert [(g[0], g[2]) for g in toy_peak["gemm"]] == [("float32", 0.05), ("float64", 0.05)]
    assert all(g[3] == 1 and set(g[4]) == {1} for g in toy_peak["gemm"])  # numba and BLAS both limited
    assert [c[1:3] for c in toy_peak["copy"]] == [(0.05, 1)]
    assert toy_peak["spins"] == [(0.05, 3.0)]  # the cores are spun before measuring
    assert numba.get_num_threads() == before and blas_threads() == blas_before
    dt.datetime.fromisoformat(peak["measured_at"])


def test_measure_peak_uses_every_thread_by_default_and_refuses_too_many(toy_peak):
    assert peak_module.measure_peak(seconds=0.05)["threads"] == max_threads()
    assert {g[3] for g in toy_peak["gemm"]} == {max_threads()}
    toy_peak["gemm"].clear()
    with pytest.raises(ValueError, match="threads must be between 1 and"):
        peak_module.measure_peak(seconds=0.05, threads=max_threads() + 1)
    assert toy_peak["gemm"] == []  # nothing measured


def test_saved_peaks_load_back_per_thread_count(tmp_path):
    folder = tmp_path / "new" / "results"  # made on save
    assert peak_module.load_peak(folder) is None
    everything, one = machine_peak(), machine_peak(threads=1, copy_gbytes_per_s=3.0)
    assert peak_module.save_peak(folder, everything) == folder / "peak.json"
    peak_module.save_peak(folder, one)
    assert peak_module.load_peak(folder) == everything
    assert peak_module.load_peak(folder, threads=1) == one
    assert sorted(p.name for p in folder.iterdir()) == ["peak.json"]  # no temporary file left behind
    again = dict(everything, copy_gbytes_per_s=99.0)
    peak_module.save_peak(folder, again)  # replaces that entry only
    assert peak_module.load_peak(folder) == again and peak_module.load_peak(folder, threads=1) == one


@pytest.mark.parametrize("damage", ["", "{", "[1, 2]", '"peak"', "null", "{KEY: [1]}", '{KEY: {"threads": 2}}',
                                    b"\xff\xfe\x00garbage"], ids=["empty", "truncated", "list", "string", "null",
                                                                  "entry-not-dict", "entry-no-gemm", "binary"])
def test_a_damaged_peak_file_reads_as_no_peak_and_is_replaced_on_save(tmp_path, damage):
    path = tmp_path / "peak.json"
    key = json.dumps(peak_module.peak_key(cpu_model(), max_threads()))
    if isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        path.write_text(damage.replace("KEY", key))
    assert peak_module.load_peak(tmp_path) is None
    peak = machine_peak()
    peak_module.save_peak(tmp_path, peak)
    assert peak_module.load_peak(tmp_path) == peak


def test_saving_keeps_other_machines_peaks(tmp_path):
    other = machine_peak(cpu_model="Some Other CPU", threads=64)
    (tmp_path / "peak.json").write_text(json.dumps({peak_module.peak_key("Some Other CPU", 64): other}))
    peak_module.save_peak(tmp_path, machine_peak())
    stored = json.loads((tmp_path / "peak.json").read_text())
    assert stored == {"Some Other CPU | 64 threads": other,
                      peak_module.peak_key(cpu_model(), max_threads()): machine_peak()}


def test_peak_file_that_is_a_folder_reads_as_no_peak(tmp_path):
    (tmp_path / "peak.json").mkdir()
    assert peak_module.load_peak(tmp_path) is None


# --- harness peak --------------------------------------------------------------------------------------------


def test_peak_command_measures_stores_and_prints(tmp_path, toy_peak):
    folder = tmp_path / "not" / "yet"
    proc = run_cli("peak", "--seconds", "0.05", "--results-dir", folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    stored = peak_module.load_peak(folder)
    assert stored is not None and stored["seconds"] == 0.05 and stored["threads"] == max_threads()
    g32, g64 = stored["gemm_gflops"]["float32"], stored["gemm_gflops"]["float64"]
    assert proc.stdout.splitlines() == [
        f"peak on {cpu_model()} ({max_threads()} threads): GEMM float32: {g32:.1f} GFLOP/s, "
        f"float64: {g64:.1f} GFLOP/s; copy {stored['copy_gbytes_per_s']:.1f} GB/s",
        f"wrote {folder / 'peak.json'}"]
    assert [g[2] for g in toy_peak["gemm"]] == [0.05, 0.05]


@pytest.mark.parametrize("where, message", [("file", "exists and is not a directory"),
                                            ("file/sub", "is not a directory")])
def test_peak_command_refuses_a_results_dir_that_is_a_file_before_measuring(tmp_path, monkeypatch, where, message):
    (tmp_path / "file").write_text("not a folder")

    def never(*args, **kw):
        raise AssertionError("measured before checking --results-dir")

    monkeypatch.setattr(peak_module, "measure_peak", never)
    proc = run_cli("peak", "--seconds", "0.05", "--results-dir", tmp_path / where)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("harness: error: --results-dir ") and message in proc.stderr
    assert (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.parametrize("command", ["peak", "sweep"])
def test_a_peak_json_that_is_a_folder_is_refused_before_measuring(tmp_path, monkeypatch, command):
    """`peak` and `sweep` name the folder in one line, exit 2, measure nothing and leave no file behind."""
    (tmp_path / "peak.json").mkdir()

    def never(*args, **kw):
        raise AssertionError("measured before checking peak.json")

    monkeypatch.setattr(peak_module, "measure_peak", never)
    extra = ["--preset", "smoke", "--backends", "numpy", "--run-id", "r", "--plots-dir", tmp_path / "plots"] \
        if command == "sweep" else []
    proc = run_cli(command, *extra, "--results-dir", tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "peak.json exists and is not a file" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peak.json"]
    with pytest.raises(ValueError, match="is not a file"):
        peak_module.save_peak(tmp_path, dict(cpu_model="cpu", threads=1, gemm_gflops={}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peak.json"]


@pytest.mark.parametrize("seconds, message", [("0", "must be > 0"), ("-1", "must be > 0"), ("abc", "not a number")])
def test_peak_command_refuses_bad_seconds(tmp_path, seconds, message):
    proc = run_cli("peak", "--seconds", seconds, "--results-dir", tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "--seconds" in proc.stderr and message in proc.stderr
    assert not (tmp_path / "peak.json").exists()


# --- threads -------------------------------------------------------------------------------------------------


def test_max_threads_is_numbas_limit_and_default_threads_mirrors_it(monkeypatch):
    assert max_threads() == numba.config.NUMBA_NUM_THREADS >= 1
    assert default_threads() == max_threads()  # numba's own default, computed without importing numba
    monkeypatch.setenv("NUMBA_NUM_THREADS", " 3 ")
    assert default_threads() == 3
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for bad in ("0", "-2", "two", ""):
        monkeypatch.setenv("NUMBA_NUM_THREADS", bad)
        assert default_threads() == cores, bad
    monkeypatch.delenv("NUMBA_NUM_THREADS")
    assert default_threads() == cores


def test_thread_limits_limit_numba_and_blas_and_restore_them_even_on_error():
    if max_threads() < 2:
        pytest.skip("needs 2 threads to see a limit")
    numba.set_num_threads(max_threads())
    blas_before = blas_threads()
    assert blas_before
    with thread_limits(1):
        assert numba.get_num_threads() == 1 and set(blas_threads()) == {1}
        with thread_limits(2):
            assert numba.get_num_threads() == 2 and set(blas_threads()) == {2}
        assert numba.get_num_threads() == 1 and set(blas_threads()) == {1}  # nested: back to the outer limit
    assert numba.get_num_threads() == max_threads() and blas_threads() == blas_before
    with pytest.raises(KeyError):
        with thread_limits(1):
            raise KeyError("boom")
    assert numba.get_num_threads() == max_threads() and blas_threads() == blas_before


def test_thread_limits_set_and_restore_torch_when_loaded(monkeypatch):
    calls = []
    torch = types.SimpleNamespace(get_num_threads=lambda: 7, set_num_threads=calls.append)
    monkeypatch.setitem(sys.modules, "torch", torch)
    with thread_limits(1):
        assert calls == [1]
    assert calls == [1, 7]


@pytest.mark.parametrize("bad", [0, -1, "max"])
def test_thread_limits_refuse_counts_outside_this_machine(bad):
    before = numba.get_num_threads()
    bad = max_threads() + 1 if bad == "max" else bad
    with pytest.raises(ValueError, match=f"between 1 and {max_threads()} on this machine, got {bad}"):
        with thread_limits(bad):
            pytest.fail("ran the block")
    assert numba.get_num_threads() == before
