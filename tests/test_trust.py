"""Trust columns, the banner, machine settling and the peak cache - fake clocks and fake work, no real timing."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from harness import peak as peak_module
from harness.settle import IDLE_GAP_S, Settler, spin
from harness.trust import row_flags, trust_banner, with_trust
from tests.fakes import FakeClock

PEAK = {"cpu_model": "cpu", "threads": 2, "gemm_gflops": {"float32": 100.0, "float64": 50.0},
        "copy_gbytes_per_s": 20.0}


def row(**kw):
    base = dict(status="ok", device="cpu", dtype="float32", threads=2, time_s=1e-3, rel_ci=0.01, gflops=50.0,
                gbytes_per_s=5.0, steady=True)
    return dict(base, **kw)


def test_noisy_exactly_when_rel_ci_exceeds_the_target():
    assert row_flags(row(rel_ci=0.02), 0.02, PEAK) == []
    assert row_flags(row(rel_ci=0.0201), 0.02, PEAK) == ["noisy"]
    assert row_flags(row(rel_ci=float("nan")), 0.02, PEAK) == ["noisy"]


def test_above_peak_for_flops_or_bandwidth_on_cpu_rows_only():
    assert row_flags(row(gflops=109.0), 0.02, PEAK) == []
    assert row_flags(row(gflops=111.0), 0.02, PEAK) == ["above-peak"]
    assert row_flags(row(gbytes_per_s=23.0), 0.02, PEAK) == ["above-peak"]
    assert row_flags(row(gflops=111.0, dtype="float64"), 0.02, PEAK) == ["above-peak"]
    assert row_flags(row(gflops=500.0, device="cuda"), 0.02, PEAK) == []  # a CPU peak says nothing of a GPU
    assert row_flags(row(gflops=500.0, threads=4), 0.02, PEAK) == []  # peak measured on fewer threads
    assert row_flags(row(gflops=500.0), 0.02, None) == []


def test_unsettled_and_not_timed_and_trusted_column():
    assert row_flags(row(steady=False, rel_ci=0.5), 0.02, PEAK) == ["noisy", "unsettled"]
    assert row_flags(dict(status="skipped"), 0.02, PEAK) == ["not-timed"]
    clean, flagged = with_trust(row(), 0.02, PEAK), with_trust(row(rel_ci=0.1), 0.02, PEAK)
    assert (clean["flags"], clean["trusted"]) == ("", True)
    assert (flagged["flags"], flagged["trusted"]) == ("noisy", False)


def test_banner_counts_flags_names_the_remedy_and_the_load():
    table = pd.DataFrame([with_trust(row(rel_ci=r), 0.02, PEAK) for r in (0.01, 0.05, 0.3)] +
                         [with_trust(row(gflops=200.0), 0.02, PEAK), with_trust(dict(status="failed"), 0.02)])
    text = trust_banner(table, 0.02, (3.5, 4.0))
    assert "2 of 4 points are noisy (CI > 2%): close other programs or raise --budget-s" in text
    assert "1 ran faster than this machine's measured peak" in text and "--fresh-peak" in text
    assert "load average 3.5 before, 4.0 after" in text
    assert trust_banner(pd.DataFrame([with_trust(row(), 0.02, PEAK)]), 0.02) is None


def test_spin_runs_at_least_min_s_and_stops_once_steady():
    clock = FakeClock()
    durations = iter([0.05] * 5 + [0.01] * 10_000)  # a waking machine: slow chunks first
    result = spin(0.1, 10.0, clock, work=lambda: clock.advance(next(durations)))
    assert result["steady"] and 0.3 <= result["spun_s"] < 0.5
    never = spin(0.1, 1.0, clock, work=lambda: clock.advance(0.01 if clock.t % 0.02 < 0.01 else 0.03))
    assert not never["steady"] and 1.0 <= never["spun_s"] < 1.1


def test_settler_spins_first_and_after_idle_gaps_only():
    clock = FakeClock()
    settler = Settler(0.2, clock, work=lambda: clock.advance(0.01))
    settler.before_point()
    settler.after_point()
    clock.advance(IDLE_GAP_S / 2)
    settler.before_point()  # a short pause: no spin
    settler.after_point()
    clock.advance(IDLE_GAP_S * 2)
    settler.before_point()  # idle: spin again
    assert [s["reason"].split()[0] for s in settler.spins] == ["start", "idle"]
    summary = settler.summary()
    assert summary["spins"] == 2 and summary["settle_s"] == 0.2 and summary["spun_s"] >= 0.2
    off = Settler(0.0, clock, work=lambda: clock.advance(1))
    off.before_point()
    assert off.spins == []


def test_peak_cache_is_per_cpu_model_and_threads(tmp_path, monkeypatch):
    calls = []

    def fake_measure(seconds=1.0, threads=None):
        calls.append(seconds)
        return dict(PEAK, cpu_model="cpu", threads=2)

    monkeypatch.setattr(peak_module, "measure_peak", fake_measure)
    monkeypatch.setattr(peak_module, "cpu_model", lambda: "cpu")
    monkeypatch.setattr("harness.threads.max_threads", lambda: 2)
    first = peak_module.cached_peak(tmp_path)
    again = peak_module.cached_peak(tmp_path)
    assert first == again and len(calls) == 1
    stored = json.loads((tmp_path / "peak.json").read_text())
    assert list(stored) == ["cpu | 2 threads"]
    peak_module.cached_peak(tmp_path, fresh=True)
    assert len(calls) == 2
    monkeypatch.setattr(peak_module, "cpu_model", lambda: "another cpu")
    assert peak_module.load_peak(tmp_path) is None  # a different CPU model never reuses this peak


def test_peak_spread_and_rounds_use_the_clock():
    clock = FakeClock()
    times = iter([0.1, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1])
    rounds = peak_module.timed_rounds(lambda: clock.advance(next(times)), 0.3, clock)
    assert len(rounds) >= 5 and max(rounds) == pytest.approx(0.2)
    assert peak_module.spread([1.0, 1.0, 1.0]) == 0.0
