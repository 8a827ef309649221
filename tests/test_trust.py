"""Trust columns, the banner, machine settling and the peak cache - fake clocks and fake work, no real timing."""
from __future__ import annotations

import pandas as pd
import pytest

from harness import rates
from harness.settle import IDLE_GAP_S, Settler, spin
from harness.trust import row_flags, trust_banner, with_trust
from tests.fakes import FakeClock, fake_roof

PEAK = fake_roof(2)  # FMA roof 200 GFLOP/s float32 (100 per core), 100 float64; triad 20 GB/s; LLC 8 MiB


def row(**kw):
    base = dict(status="ok", device="cpu", dtype="float32", threads=2, time_s=1e-3, rel_ci=0.01, gflops=50.0,
                gbytes_per_s=5.0, steady=True)
    return dict(base, **kw)


def test_noisy_exactly_when_rel_ci_exceeds_the_target():
    assert row_flags(row(rel_ci=0.02), 0.02, PEAK) == []
    assert row_flags(row(rel_ci=0.0201), 0.02, PEAK) == ["noisy"]
    assert row_flags(row(rel_ci=float("nan")), 0.02, PEAK) == ["noisy"]


def test_above_peak_against_the_physical_roof_only():
    assert row_flags(row(gflops=219.0), 0.02, PEAK) == []
    assert row_flags(row(gflops=221.0), 0.02, PEAK) == ["above-peak"]
    assert row_flags(row(gflops=111.0, dtype="float64"), 0.02, PEAK) == ["above-peak"]
    assert row_flags(row(gflops=111.0, threads=1), 0.02, PEAK) == ["above-peak"]  # one core's roof: 100
    assert row_flags(row(gflops=500.0, device="cuda"), 0.02, PEAK) == []  # a CPU roof says nothing of a GPU
    assert row_flags(row(gflops=500.0), 0.02, None) == []
    blas_only = {"threads": 2, "gemm_gflops": {"float32": 100.0}, "copy_gbytes_per_s": 20.0}
    assert row_flags(row(gflops=180.0), 0.02, blas_only) == []  # a library's speed is no limit


def test_above_peak_on_bandwidth_only_for_layers_too_big_for_the_cache():
    small, big = 2**20, 64 * 2**20
    assert row_flags(row(gbytes_per_s=500.0, bytes=small), 0.02, PEAK) == []  # read from cache: fine
    assert row_flags(row(gbytes_per_s=23.0, bytes=big), 0.02, PEAK) == ["above-peak"]
    assert row_flags(row(gbytes_per_s=21.0, bytes=big), 0.02, PEAK) == []


def test_unsettled_and_not_timed_and_trusted_column():
    assert row_flags(row(steady=False, rel_ci=0.5), 0.02, PEAK) == ["noisy", "unsettled"]
    assert row_flags(dict(status="skipped"), 0.02, PEAK) == ["not-timed"]
    clean, flagged = with_trust(row(), 0.02, PEAK), with_trust(row(rel_ci=0.1), 0.02, PEAK)
    assert (clean["flags"], clean["trusted"]) == ("", True)
    assert (flagged["flags"], flagged["trusted"]) == ("noisy", False)


def test_banner_counts_flags_names_the_remedy_and_the_load():
    table = pd.DataFrame([with_trust(row(rel_ci=r), 0.02, PEAK) for r in (0.01, 0.05, 0.3)] +
                         [with_trust(row(gflops=300.0), 0.02, PEAK), with_trust(dict(status="failed"), 0.02)])
    text = trust_banner(table, 0.02, (3.5, 4.0))
    assert "2 of 4 points are noisy (CI > 2%): close other programs or raise --budget-s" in text
    assert "1 ran faster than this machine's physical FMA roof" in text and "harness peak --fresh" in text
    assert "load average 3.5 before, 4.0 after" in text
    assert trust_banner(pd.DataFrame([with_trust(row(), 0.02, PEAK)]), 0.02) is None
    slowed = pd.DataFrame([with_trust(row(), 0.02, PEAK, disturbed=True), with_trust(row(), 0.02, PEAK)])
    assert list(slowed["flags"]) == ["disturbed", ""]
    assert trust_banner(slowed, 0.02) == "1 ran every pass on a slowed core (another tenant of the host?): run again"


def test_banner_advises_one_thread_only_where_a_contended_point_ran_on_more():
    two = pd.DataFrame([with_trust(row(), 0.02, PEAK, contended=True), with_trust(row(), 0.02, PEAK)])
    text = trust_banner(two, 0.02)
    assert text.startswith("1 met other busy processes in their median pass: run again on a quiet machine or with "
                           "--threads 1")
    one = pd.DataFrame([with_trust(row(threads=1), 0.02, PEAK, contended=True), with_trust(row(), 0.02, PEAK)])
    assert trust_banner(one, 0.02) == "1 met other busy processes in their median pass: run again on a quiet machine"


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


def test_peak_spread_and_rounds_use_the_clock():
    clock = FakeClock()
    times = iter([0.1, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1])
    rounds = rates.timed_rounds(lambda: clock.advance(next(times)), 0.3, clock)
    assert len(rounds) >= 5 and max(rounds) == pytest.approx(0.2)
    assert rates.best_and_spread([1.0, 1.0, 1.0]) == (1.0, 0.0)
