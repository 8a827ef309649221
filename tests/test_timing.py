"""The timing protocol against a fake clock: no test here reads real time."""
from __future__ import annotations

import numpy as np
import pytest

from harness.timing import TimingConfig, median_ci, median_rel_ci, time_rounds
from tests.fakes import FakeClock, FakeEventTimer, FakeKernel


def run(durations_s, **config):
    clock = FakeClock()
    kernel = FakeKernel(clock, durations_s)
    start = clock()
    result = time_rounds(kernel, kernel.sync, TimingConfig(**config), clock=clock)
    return result, kernel, clock() - start


def test_steady_kernel_stops_at_min_rounds_with_exact_times():
    result, _, _ = run([2e-3], min_round_s=1e-3, warmup_s=0.0)
    assert result.calls_per_round == 1
    assert len(result.times_s) == 5 and result.converged
    assert result.times_s == pytest.approx((2e-3,) * 5)
    assert result.median_s == pytest.approx(2e-3) and result.iqr_s == pytest.approx(0)


def test_fast_kernel_is_repeated_until_a_round_lasts_a_millisecond():
    result, _, _ = run([1e-5], min_round_s=1e-3, warmup_s=0.0)
    assert result.calls_per_round == 100
    assert result.median_s == pytest.approx(1e-5)


def test_noisy_kernel_runs_until_the_budget_is_spent():
    result, _, elapsed = run([1e-3, 3e-3, 2e-3, 5e-3], budget_s=0.5, target_rel_ci=1e-6, warmup_s=0.0, settle_s=0.0)
    assert not result.converged
    assert 0.5 <= elapsed < 0.5 + 0.02
    assert len(result.times_s) > 5


def test_slow_kernel_still_gets_min_rounds():
    result, kernel, elapsed = run([0.4], budget_s=1.0, warmup_s=0.0)
    assert len(result.times_s) == 5
    assert elapsed > 1.0  # min_rounds wins over the budget


def test_warmup_calls_are_not_timed():
    # the first 30 calls are slow (JIT, caches); the timed rounds must only see the steady 1 ms
    durations = [5e-3] * 30 + [1e-3] * 10_000
    result, _, _ = run(durations, warmup_s=0.2, min_round_s=1e-3)
    assert max(result.times_s) == pytest.approx(1e-3)


def test_a_waking_machine_is_settled_before_timing():
    # idle vCPUs wake slowly: calls start 10x slow and speed up over ~100 calls; timing starts once steady
    durations = [1e-3 * (1 + 9 * 0.95**i) for i in range(200)] + [1e-3] * 10_000
    settled, _, _ = run(durations, warmup_s=0.01, settle_s=5.0, min_round_s=1e-3, budget_s=0.05)
    unsettled, _, _ = run(durations, warmup_s=0.01, settle_s=0.0, min_round_s=1e-3, budget_s=0.05)
    assert settled.steady and not unsettled.steady
    assert settled.median_s < 1.2e-3 < 2e-3 < unsettled.median_s


def test_settling_gives_up_after_settle_s_and_says_so():
    result, _, elapsed = run([1e-3, 3e-3], warmup_s=0.05, settle_s=0.3, budget_s=0.2, target_rel_ci=1e-9)
    assert not result.steady
    assert 0.35 <= result.warmup_s < 0.36 + 0.01
    assert elapsed >= result.warmup_s + 0.2  # the budget counts from the end of the warm-up


def test_a_steady_kernel_settles_in_a_few_rounds():
    result, kernel, _ = run([2e-3], warmup_s=0.0, settle_s=5.0, min_round_s=1e-3)
    assert result.steady and result.warmup_s < 0.02


def test_max_rounds_caps_a_never_converging_point():
    result, _, _ = run([1e-3, 9e-3], budget_s=1e9, target_rel_ci=1e-9, max_rounds=12, warmup_s=0.0)
    assert len(result.times_s) == 12


def test_device_timer_replaces_the_host_clock_for_samples():
    clock = FakeClock()
    kernel = FakeKernel(clock, [1e-3])
    timer = FakeEventTimer(seconds_per_round=4e-3)
    result = time_rounds(kernel, kernel.sync, TimingConfig(warmup_s=0.0), clock=clock, timer=timer)
    # 4 ms per round on the device, the calls per round computed from it
    assert result.calls_per_round == 1
    assert result.median_s == pytest.approx(4e-3)
    assert timer.started >= 5


def test_median_ci_uses_order_statistics():
    samples = np.arange(1.0, 101.0)
    lo, hi = median_ci(samples)
    assert lo < np.median(samples) < hi
    assert (lo, hi) == (40.0, 61.0)
    assert median_rel_ci([1.0] * 7) == 0.0
    assert median_ci([3.0]) == (3.0, 3.0)


@pytest.mark.parametrize("bad", [dict(budget_s=0), dict(target_rel_ci=-1), dict(min_rounds=0),
                                 dict(min_rounds=10, max_rounds=5)])
def test_config_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        TimingConfig(**bad)


def test_cold_rounds_flush_before_every_round_and_hold_one_call():
    clock = FakeClock()
    kernel = FakeKernel(clock, [1e-5])
    flushes = []

    def flush():
        flushes.append(kernel.calls)
        clock.advance(0.5)  # flushing is slow, and must not be timed

    result = time_rounds(kernel, kernel.sync, TimingConfig(cold=True, warmup_s=0.0), clock=clock, flush=flush)
    assert result.calls_per_round == 1
    assert result.times_s == pytest.approx((1e-5,) * len(result.times_s))
    assert len(flushes) >= len(result.times_s)


def test_rounds_are_sized_again_when_the_kernel_outruns_its_warm_up():
    # a busy machine slows the whole warm-up to 2 ms per call (1 call per round); timed, the kernel takes 0.1 ms:
    # rounds of one call would last 0.1 ms, so they are sized again and every timed round lasts >= 1 ms
    warm = [2e-3] * 26  # the first call, then one-call rounds until warmup_s has passed
    result, _, _ = run(warm + [1e-4] * 100_000, warmup_s=0.05, settle_s=0.0, min_round_s=1e-3)
    assert result.calls_per_round == 10
    assert min(result.times_s) * result.calls_per_round >= 1e-3 * 0.999
    assert result.median_s == pytest.approx(1e-4)


class TickClock:
    """A CPU-time clock that sees another thread's time only at the scheduler's tick (``tick_s``)."""

    def __init__(self, clock, tick_s=4e-3):
        self.clock, self.tick_s = clock, tick_s

    def __call__(self):
        return (self.clock() // self.tick_s) * self.tick_s


def test_rounds_on_a_coarse_cpu_clock_are_sized_on_the_wall_clock():
    # a 100 us call read on a clock that moves in 4 ms ticks: the first call reads 0 s; sized on that alone a
    # round held min_round_s / 1e-9 = a million calls (100 s), which ran into a pass's timeout
    wall = FakeClock()
    kernel = FakeKernel(wall, [1e-4])
    cpu = TickClock(wall)
    config = TimingConfig(budget_s=0.2, min_round_s=1e-3, warmup_s=0.0, settle_s=0.0)
    start = wall()
    result = time_rounds(kernel, kernel.sync, config, clock=cpu, wall=wall)
    assert result.calls_per_round <= 20 and wall() - start < 1.0
    assert kernel.calls < 10_000
