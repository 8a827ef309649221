"""The roof (``harness.peak``, ``harness.peak_store`` and ``harness peak``) and thread limits (``harness.threads``).

Real measurements run at toy sizes (one thread, tiny arrays, 0.01-0.05 s) and are checked for shape and sanity,
never for speed; the arithmetic of the rates is checked on a ticking fake clock with the kernels replaced.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import warnings
import types

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

import kernels.numba_cpu.roof as roof_kernels
from harness import peak as peak_module
from harness import peak_store, rates
from harness.metadata import cpu_model
from harness.threads import default_threads, max_threads, thread_limits
from tests.conftest import run_cli
from tests.fakes import fake_roof


def blas_threads() -> list[int]:
    """Thread counts of every BLAS library loaded in this process."""
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


class TickingClock:
    """A clock that moves ``step`` seconds every time it is read: every timed call lasts exactly one step."""

    def __init__(self, step: float = 2.0**-8):
        self.t, self.step = 100.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t - self.step


@pytest.fixture
def toy_peak(monkeypatch):
    """Make ``measure_peak`` measure toy sizes without spinning; record what each measurement ran under."""
    seen = dict(fma=[], gemm=[], bandwidth=[], clock=[], spins=[])
    real = {name: getattr(peak_module, name) for name in
            ("measure_fma_gflops", "measure_gemm_gflops", "measure_bandwidth", "measure_clock_ghz")}

    def fma(dtype, threads=1, seconds=0.2, clock=None):
        seen["fma"].append((dtype, threads, seconds, numba.get_num_threads(), blas_threads()))
        return real["measure_fma_gflops"](dtype, threads, 0.01)

    def gemm(dtype, n=1024, seconds=0.4, clock=None):
        seen["gemm"].append((dtype, seconds, numba.get_num_threads(), blas_threads()))
        return real["measure_gemm_gflops"](dtype, n=64, seconds=0.01)

    def bandwidth(mib, seconds=0.4, clock=None):
        seen["bandwidth"].append((mib, seconds, numba.get_num_threads()))
        return real["measure_bandwidth"](1, 0.01)

    def clock_ghz(seconds=0.1, clock=None):
        seen["clock"].append(seconds)
        return real["measure_clock_ghz"](0.01)

    for name, fn in (("measure_fma_gflops", fma), ("measure_gemm_gflops", gemm), ("measure_bandwidth", bandwidth),
                     ("measure_clock_ghz", clock_ghz)):
        monkeypatch.setattr(peak_module, name, fn)
    monkeypatch.setattr(peak_module, "spin", lambda min_s, max_s: seen["spins"].append((min_s, max_s)) or {})
    return seen


# --- the measurements --------------------------------------------------------------------------------------------


def test_best_and_spread_of_rates():
    assert rates.best_and_spread([1.0, 1.0, 1.0]) == (1.0, 0.0)
    best, spread = rates.best_and_spread([10.0, 5.0, 5.0, 9.0, 4.0])
    assert best == 10.0 and spread == pytest.approx(0.5)  # the median round ran at half the best


def test_fma_rate_counts_flops_of_every_thread_per_round(monkeypatch):
    monkeypatch.setattr(peak_module, "fma_chains", lambda out, n: None)
    step = 2.0**-7  # every call "lasts" ~4 rounds: the sizing scales iterations down to one round
    flops, spread = peak_module.measure_fma_gflops("float32", 1, seconds=0.05, clock=TickingClock(step))
    iterations = int(4096 * rates.ROUND_S / step)
    assert flops == pytest.approx(roof_kernels.fma_flops("float32", iterations) / step / 1e9) and spread == 0.0
    lanes = 64 // 4 if roof_kernels.fma_buffer("float32").shape[1] == 12 * 16 else 32 // 4
    assert roof_kernels.fma_flops("float32", 10, threads=3) == 2 * 12 * lanes * 10 * 3


def test_round_sizing_grows_past_a_slow_first_call():
    calls = []
    clock = TickingClock(1e-6)

    def call(n):  # each call reads the clock once more per 1000 iterations: time grows with n
        calls.append(n)
        clock.t += n * 1e-7

    iterations = rates.sized_iterations(call, 10, clock)
    assert calls[0] == 10 and calls == sorted(calls)  # grew, never shrank before the sizing call
    assert iterations * 1e-7 == pytest.approx(rates.ROUND_S, rel=0.05)


def test_concurrent_rounds_give_every_thread_the_same_rounds():
    seen = []
    times = rates.concurrent_rounds(lambda i: seen.append(i), 3, 0.0)
    assert times.shape[1] == 3 and times.shape[0] >= 5 and (times >= 0).all()
    assert sorted(set(seen)) == [0, 1, 2] and len(seen) == 3 * (times.shape[0] + 1)  # + one untimed call each


def test_clock_rate_counts_dependent_operations_and_takes_the_higher_probe(monkeypatch):
    """Both probes can only read low; the clock is the higher. With a fake clock of one tick per call, the
    integer chain's sizing (100k iterations per round) beats the FMA chain's (10k x 8 ops x 4 cycles)."""
    monkeypatch.setattr(peak_module, "clock_chain", lambda n, seed: seed)
    monkeypatch.setattr(peak_module, "fma_latency_chain", lambda out, n: None)
    ghz, spread, probe = peak_module.measure_clock_ghz(0.05, clock=TickingClock(2.0**-7))
    iterations = int(100_000 * rates.ROUND_S / 2.0**-7)
    assert ghz == pytest.approx(roof_kernels.CLOCK_OPS_PER_ITERATION * iterations / 2.0**-7 / 1e9) and spread == 0.0
    assert probe == "integer chain"
    monkeypatch.setattr(peak_module, "CLOCK_OPS_PER_ITERATION", 1)  # now the integer chain reads 6x lower
    ghz, spread, probe = peak_module.measure_clock_ghz(0.05, clock=TickingClock(2.0**-7))
    fma_iterations = int(10_000 * rates.ROUND_S / 2.0**-7)
    cycles = roof_kernels.FMA_LATENCY_CYCLES * roof_kernels.FMA_LATENCY_OPS * fma_iterations
    assert probe == "FMA-latency chain" and ghz == pytest.approx(cycles / 2.0**-7 / 1e9)


def test_real_roof_loops_compute_what_they_claim():
    out = roof_kernels.fma_buffer("float64", 2)
    roof_kernels.fma_chains(out[1], 100_000)
    chains = out[1].reshape(roof_kernels.FMA_CHAINS, -1)  # chain j starts at j / 10 + 0.05: acc * 0.9999 + 0.0001
    expected = 1 + (np.arange(roof_kernels.FMA_CHAINS) / 10 + 0.05 - 1) * 0.9999**100_000
    assert np.allclose(chains, expected[:, None], rtol=0, atol=1e-9) and not out[0].any()  # row 0 untouched
    assert roof_kernels.clock_chain(3, np.uint64(1)) != 1
    one = roof_kernels.fma_buffer("float32")[0]
    roof_kernels.fma_latency_chain(one, 1000)  # 8000 dependent steps from 0.5 towards 1
    assert np.allclose(one[:16 if one.size == 12 * 16 else 8], 1 - 0.5 * 0.9999**8000, rtol=1e-3)  # float32 steps
    a, b, c = np.zeros(1000), np.arange(1000.0), np.full(1000, 2.0)
    roof_kernels.stream_triad(a, b, c, 3.0)
    assert np.array_equal(a, b + 6.0)
    roof_kernels.stream_copy(a, c)
    assert np.array_equal(a, c) and roof_kernels.stream_read(b) == pytest.approx(b.sum())
    rates = peak_module.measure_bandwidth(1, 0.01)
    assert set(rates) == {"read", "copy", "triad"} and all(0 < r[0] < float("inf") for r in rates.values())
    assert 0 < peak_module.measure_fma_gflops("float32", 1, 0.01)[0] < float("inf")


def test_fma_loop_keeps_every_chain_in_the_machine_code():
    # A chain that starts at the loop's fixed point is a constant to LLVM: it drops the FMA and the roof
    # counts FLOPs that never ran (it read 12/11 high). Compile afresh (cached code cannot be inspected).
    import re

    from numba import njit

    fresh = njit(nogil=True)(roof_kernels.fma_chains.py_func)
    out = roof_kernels.fma_buffer("float32")[0]
    fresh(out, 10)
    asm = "\n".join(fresh.inspect_asm().values())
    targets = set(re.findall(r"vfmadd\w+\s+%\w+, %\w+, %(\w+)", asm))
    if not targets:
        pytest.skip("this target compiles no vector FMA instruction")
    assert len(targets) == roof_kernels.FMA_CHAINS


def test_machine_facts_from_sysfs_and_cpuinfo(tmp_path):
    for name, level, size in (("index0", 1, "32K"), ("index2", 2, "1024K"), ("index3", 3, "32768K")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "level").write_text(f"{level}\n")
        (tmp_path / name / "size").write_text(f"{size}\n")
    assert peak_module.last_level_cache_bytes(tmp_path) == 32 * 2**20
    assert peak_module.last_level_cache_bytes(tmp_path / "none") is None
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor: 0\ncpu MHz\t\t: 2596.1\nprocessor: 1\ncpu MHz : 3100.0\n")
    assert peak_module.os_clock_ghz(cpuinfo) == 3.1 and peak_module.os_clock_ghz(tmp_path / "x") is None
    assert peak_module.bandwidth_mib(32 * 2**20) == 128 and peak_module.bandwidth_mib(None) == 64
    assert peak_module.bandwidth_mib(2**40) == 512


def test_problems_name_busy_cores_wide_spreads_and_rates_below_the_sanity_bound():
    assert peak_module.roof_problems(fake_roof()) == []
    busy = fake_roof(fma_scaling={"float32": 0.55, "float64": 1.0}, fma_spread={"float32": 0.3, "float64": 0.01})
    problems = peak_module.roof_problems(busy)
    assert len(problems) == 2 and "float32 FMA rounds spread 30%" in problems[0]
    assert "2 threads reached 1.10x one thread's float32 FMA rate" in problems[1]
    slow = fake_roof(os_clock_ghz=20.0)  # 100 GFLOP/s on a core that could do 16 lanes x 4 x 20 GHz or more
    assert any("under half of what the OS clock" in p for p in peak_module.roof_problems(slow))
    wide = fake_roof(bandwidth_detail={"read": [25.0, 0.5], "copy": [22.0, 0.0], "triad": [20.0, 0.0]},
                     clock_spread=0.5)
    assert [p.split()[0] for p in peak_module.roof_problems(wide)] == ["read", "clock"]


def test_an_all_thread_rate_that_does_not_scale_is_replaced_by_threads_times_one():
    one = {"float32": (100.0, 0.0), "float64": (50.0, 0.0)}
    every = {"float32": (190.0, 0.0), "float64": (60.0, 0.0)}  # float64: a core was taken
    roof, scaling = peak_module.fma_roof(one, every, 2)
    assert roof == {"float32": 190.0, "float64": 100.0} and scaling == {"float32": 0.95, "float64": 0.6}


def test_measure_peak_measures_each_figure_under_the_thread_limit(toy_peak):
    if max_threads() < 2:
        pytest.skip("needs 2 threads to see a limit")
    before, blas_before = numba.get_num_threads(), blas_threads()
    peak = peak_module.measure_peak(seconds=0.5, threads=1)
    assert json.loads(json.dumps(peak)) == peak and peak["schema"] == 2
    assert (peak["cpu_model"], peak["threads"], peak["seconds"]) == (cpu_model(), 1, 0.5)
    for key in ("fma_gflops", "fma_gflops_1t", "fma_spread", "fma_theoretical_gflops", "gemm_gflops"):
        assert set(peak[key]) == {"float32", "float64"} and all(v >= 0 for v in peak[key].values()), key
    assert set(peak["bandwidth_gbytes_per_s"]) == {"read", "copy", "triad"} and isinstance(peak["problems"], list)
    assert peak["fma_theoretical_gflops"]["float32"] == pytest.approx(2 * peak["fma_theoretical_gflops"]["float64"], abs=0.2)
    assert peak["gpu"] is None  # no GPU here (and none under the simulator)
    assert [(f[0], f[1]) for f in toy_peak["fma"]] == [("float32", 1), ("float64", 1), ("float32", 1), ("float64", 1)]
    assert all(f[3] == 1 and set(f[4]) == {1} for f in toy_peak["fma"])  # numba and BLAS both limited
    assert [g[1] for g in toy_peak["gemm"]] == [0.1, 0.1] and toy_peak["bandwidth"][0][1] == pytest.approx(0.2)
    assert toy_peak["spins"] == [(0.5, 3.0)]  # the cores are spun before measuring
    assert numba.get_num_threads() == before and blas_threads() == blas_before
    dt.datetime.fromisoformat(peak["measured_at"])


def test_measure_peak_uses_every_thread_by_default_and_refuses_too_many(toy_peak):
    assert peak_module.measure_peak(seconds=0.05)["threads"] == max_threads()
    assert {f[1] for f in toy_peak["fma"]} == {1, max_threads()}
    toy_peak["fma"].clear()
    with pytest.raises(ValueError, match="threads must be between 1 and"):
        peak_module.measure_peak(seconds=0.05, threads=max_threads() + 1)
    assert toy_peak["fma"] == []  # nothing measured


# --- the store ---------------------------------------------------------------------------------------------------


def test_saved_roofs_load_back_per_thread_count(tmp_path):
    folder = tmp_path / "new" / "results"  # made on save
    assert peak_store.load_peak(folder) is None
    everything, one = fake_roof(max_threads()), fake_roof(1, gemm_gflops={"float32": 3.0, "float64": 1.0})
    assert peak_store.save_peak(folder, everything) == folder / "peak.json"
    peak_store.save_peak(folder, one)
    assert peak_store.load_peak(folder) == everything
    assert peak_store.load_peak(folder, threads=1) == one
    assert sorted(p.name for p in folder.iterdir()) == ["peak.json"]  # no temporary file left behind
    again = dict(everything, clock_ghz=9.0)
    peak_store.save_peak(folder, again)  # replaces that entry only
    assert peak_store.load_peak(folder) == again and peak_store.load_peak(folder, threads=1) == one


def test_a_roof_is_keyed_by_isa_and_versions_and_older_peaks_are_not_reused(tmp_path):
    roof = fake_roof(max_threads())
    key = peak_store.peak_key(cpu_model(), max_threads())
    assert key.startswith(f"{cpu_model()} | {roof['isa']} | {max_threads()} threads | ") and "numba " in key
    other = peak_store.peak_key(cpu_model(), max_threads(), versions=dict(roof["versions"], numba="0.1"))
    old = dict(cpu_model=cpu_model(), threads=max_threads(), gemm_gflops={"float32": 89.0}, copy_gbytes_per_s=9.0)
    (tmp_path / "peak.json").write_text(json.dumps({key: old, other: roof}))
    assert peak_store.load_peak(tmp_path) is None  # a BLAS-only peak of the same key, a roof of other versions


def test_a_stored_gpu_roof_of_the_first_gpu_kernels_is_measured_again(tmp_path):
    roof = dict(fake_roof(max_threads()), gpu=dict(fma_gflops={"float32": 32855.0}, copy_gbytes_per_s=1974.0))
    (tmp_path / "peak.json").write_text(json.dumps({peak_store.peak_key(cpu_model(), max_threads()): roof}))
    assert peak_store.load_peak(tmp_path) is None  # no copy_method: the FMA kernel that read half the H200's rate
    roof["gpu"].update(copy_method="kernel", copy_detail={"driver": [1654.0, 0.06], "kernel": [2964.0, 0.09]})
    (tmp_path / "peak.json").write_text(json.dumps({peak_store.peak_key(cpu_model(), max_threads()): roof}))
    assert peak_store.load_peak(tmp_path) == roof


@pytest.mark.parametrize("damage", ["", "{", "[1, 2]", '"peak"', "null", "{KEY: [1]}", '{KEY: {"threads": 2}}',
                                    b"\xff\xfe\x00garbage"], ids=["empty", "truncated", "list", "string", "null",
                                                                    "entry-not-dict", "entry-no-roof", "binary"])
def test_a_damaged_peak_file_reads_as_no_peak_and_is_replaced_on_save(tmp_path, damage):
    path = tmp_path / "peak.json"
    key = json.dumps(peak_store.peak_key(cpu_model(), max_threads()))
    if isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        path.write_text(damage.replace("KEY", key))
    assert peak_store.load_peak(tmp_path) is None
    before = path.read_bytes()
    roof = fake_roof(max_threads())
    whole = isinstance(damage, str) and damage.startswith("{KEY")  # a JSON object: its other entries are kept, nothing moved aside
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        peak_store.save_peak(tmp_path, roof)
    assert peak_store.load_peak(tmp_path) == roof
    aside = tmp_path / "peak.json.damaged"
    assert aside.exists() != whole and (whole or aside.read_bytes() == before)  # nothing dropped without a word
    assert whole or any("moved to" in str(w.message) and "the roofs" in str(w.message) for w in caught)


def test_a_damaged_noise_floor_file_is_moved_aside_not_dropped(tmp_path):
    from harness.noisefloor import load_floors, save_floors

    (tmp_path / "noise.json").write_text('{"cpu": {"backends": {"a": ')  # cut short: every machine's floors
    with pytest.warns(UserWarning, match="noise.json.damaged and a new one started"):
        save_floors(tmp_path, "cpu", {"backends": {"b": {"sd": 0.1}}, "measured_at": "now"})
    assert (tmp_path / "noise.json.damaged").read_text().startswith('{"cpu"')
    assert set(load_floors(tmp_path, "cpu")["backends"]) == {"b"}


def test_saving_keeps_other_machines_roofs(tmp_path):
    other = fake_roof(64, cpu_model="Some Other CPU")
    other_key = peak_store.peak_key("Some Other CPU", 64)
    (tmp_path / "peak.json").write_text(json.dumps({other_key: other}))
    peak_store.save_peak(tmp_path, fake_roof(max_threads()))
    stored = json.loads((tmp_path / "peak.json").read_text())
    assert stored == {other_key: other, peak_store.peak_key(cpu_model(), max_threads()): fake_roof(max_threads())}


def test_a_roof_with_problems_serves_its_run_and_is_never_stored(tmp_path, monkeypatch):
    busy = fake_roof(max_threads(), problems=["float32 FMA rounds spread 40% (> 10%): the cores were busy"])
    with pytest.raises(ValueError, match="not storing a roof with problems: float32 FMA rounds spread 40%"):
        peak_store.save_peak(tmp_path, busy)
    calls = []
    monkeypatch.setattr(peak_store, "measure_peak", lambda seconds: calls.append(seconds) or dict(busy))
    got = peak_store.cached_peak(tmp_path)
    assert got["source"].startswith("measured now, not stored: float32 FMA rounds spread 40%")
    assert not (tmp_path / "peak.json").exists() and calls == [peak_store.SWEEP_PEAK_S]
    peak_store.cached_peak(tmp_path)
    assert len(calls) == 2  # nothing stored: measured again


def test_cached_peak_measures_once_and_says_where_the_roof_came_from(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(peak_store, "measure_peak", lambda seconds: calls.append(seconds) or fake_roof(max_threads()))
    first = peak_store.cached_peak(tmp_path, seconds=0.3)
    assert first["source"] == f"measured now, stored in {tmp_path / 'peak.json'}" and calls == [0.3]
    again = peak_store.cached_peak(tmp_path)
    assert again["source"] == f"stored in {tmp_path / 'peak.json'} (measured 2024-01-02T03:04:05+00:00)"
    assert len(calls) == 1 and "source" not in json.loads((tmp_path / "peak.json").read_text()).popitem()[1]
    peak_store.cached_peak(tmp_path, fresh=True)
    assert len(calls) == 2
    monkeypatch.setattr(peak_store, "cpu_model", lambda: "another cpu")
    assert peak_store.load_peak(tmp_path) is None  # a different CPU model never reuses this roof


def test_peak_file_that_is_a_folder_reads_as_no_peak(tmp_path):
    (tmp_path / "peak.json").mkdir()
    assert peak_store.load_peak(tmp_path) is None


# --- harness peak ------------------------------------------------------------------------------------------------


def test_peak_command_measures_stores_prints_and_then_shows_the_stored_roof(tmp_path, toy_peak, monkeypatch):
    folder = tmp_path / "not" / "yet"
    monkeypatch.setattr(peak_module, "roof_problems", lambda peak: [])  # toy sizes spread widely
    proc = run_cli("peak", "--seconds", "0.05", "--results-dir", folder)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    stored = peak_store.load_peak(folder)
    assert stored is not None and stored["seconds"] == 0.05 and stored["threads"] == max_threads()
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"roof of {cpu_model()} ({stored['isa']}, {stored['vector_bits']}-bit vectors)")
    f32 = stored["fma_gflops"]["float32"]
    assert lines[1].startswith(f"  FMA float32: {f32:.0f} GFLOP/s") and "x 2 FMA pipes x" in lines[1]
    assert lines[3].startswith(f"  clock: {stored['clock_ghz']:.2f} GHz") and "triad" in lines[4]
    assert "BLAS GEMM (what a library reaches, not the roof)" in lines[5]
    assert lines[6] == f"  measured now, stored in {folder / 'peak.json'}"
    monkeypatch.setattr(peak_module, "measure_peak", lambda **kw: pytest.fail("measured a stored roof"))
    again = run_cli("peak", "--results-dir", folder)
    assert again.returncode == 0 and again.stdout.splitlines()[-1].startswith(f"  stored in {folder / 'peak.json'}")


def test_peak_command_on_a_busy_machine_warns_in_one_line_and_stores_nothing(tmp_path, monkeypatch):
    busy = fake_roof(max_threads(), problems=["2 threads reached 1.10x one thread's float32 FMA rate"])
    monkeypatch.setattr(peak_store, "measure_peak", lambda seconds: dict(busy))
    proc = run_cli("peak", "--fresh", "--results-dir", tmp_path)
    assert proc.returncode == 0 and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("harness: warning: this roof was measured on a busy machine and is not stored")
    assert "--fresh" in proc.stderr and not (tmp_path / "peak.json").exists()
    assert "measured now, not stored: 2 threads reached" in proc.stdout


@pytest.mark.parametrize("where, message", [("file", "exists and is not a directory"),
                                            ("file/sub", "is not a directory")])
def test_peak_command_refuses_a_results_dir_that_is_a_file_before_measuring(tmp_path, monkeypatch, where, message):
    (tmp_path / "file").write_text("not a folder")

    def never(*args, **kw):
        raise AssertionError("measured before checking --results-dir")

    monkeypatch.setattr(peak_store, "measure_peak", never)
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

    monkeypatch.setattr(peak_store, "measure_peak", never)
    extra = ["--preset", "smoke", "--backends", "numpy", "--run-id", "r", "--plots-dir", tmp_path / "plots"] \
        if command == "sweep" else []
    proc = run_cli(command, *extra, "--results-dir", tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "peak.json exists and is not a file" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peak.json"]
    with pytest.raises(ValueError, match="is not a file"):
        peak_store.save_peak(tmp_path, fake_roof())
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
