"""harness.newestruns and its place in harness.changepoints: the newest runs judged against every speed the history
showed, on synthetic series (bimodal, noisy medians with steady best rounds, unchanged)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.changepoints import judge_series
from harness.newestruns import looked_at, newest_step, steadiest


def judged(times_s, best_s=None, threshold=0.1):
    """The verdict on a series of per-call times (one run each, in order), with each run's best round if given."""
    n = len(times_s)
    runs = pd.DataFrame({"time_s": times_s, "run_id": [f"r{i:02d}" for i in range(n)], "git_commit": ["abc"] * n,
                         "started_at": [f"2026-01-{i + 1:02d}" for i in range(n)]})
    if best_s is not None:
        runs["time_min_s"] = best_s
    return judge_series(runs, threshold)


def flipping(n=14, seed=3):
    """A microsecond kernel that runs at 2 us or 4 us from process to process, 1% jitter."""
    rng = np.random.default_rng(seed)
    return 1e-6 * np.where(np.arange(n) % 2, 4.0, 2.0) * rng.lognormal(0, 0.01, n)


def test_a_bimodal_series_steps_when_its_newest_runs_leave_every_speed_it_showed():
    times = flipping()
    assert judged(times)["verdict"] == "inconclusive"  # flips by 2x: medians cannot show 10%
    beyond = times.copy()
    beyond[-3:] = 4e-6 * 1.3 * np.array([1.0, 1.01, 0.99])  # slower than both speeds
    verdict = judged(beyond)
    assert verdict["verdict"] == "slower" and verdict["run_id"] == "r11"
    assert verdict["test"] == "newest runs, time_s" and verdict["change_points"][-1].startswith("r11@abc")
    assert verdict["ratio_lo"] <= 1.3 <= verdict["ratio_hi"] * 2  # the step from the middle of two speeds
    within = times.copy()
    within[-3:] = 2e-6 * 1.3  # slower than the fast speed, faster than the slow one: not judged
    assert judged(within)["verdict"] == "inconclusive"


def test_steady_best_rounds_judge_a_series_whose_medians_are_noisy():
    rng = np.random.default_rng(5)
    medians = 3e-6 * rng.lognormal(0, 0.3, 14)
    best = 2e-6 * rng.lognormal(0, 0.01, 14)
    medians[-3:] *= 1.3
    best[-3:] *= 1.3
    assert judged(medians)["verdict"] == "inconclusive"
    verdict = judged(medians, best)
    assert verdict["verdict"] == "slower" and verdict["run_id"] == "r11" and verdict["test"] == "newest runs, time_min_s"
    assert verdict["ratio_lo"] < 1.3 < verdict["ratio_hi"]


def test_only_slowdowns_beyond_the_threshold():
    faster = flipping()
    faster[-3:] = 2e-6 / 1.3  # faster than every speed before: not this test's question (one-sided)
    assert judged(faster)["verdict"] == "inconclusive"
    rng = np.random.default_rng(2)
    steady = 1e-3 * rng.lognormal(0, 0.005, 14)
    small = steady.copy()
    small[-3:] = steady.max() * 1.04  # slower than the whole history, but within the threshold
    assert newest_step({"time_s": np.log(small)}, 0.1, 3) is None
    assert judged(small)["verdict"] == "same"  # PELT's test finds the 4% step: within the threshold


def test_the_false_alarm_budget_decides_which_runs_are_looked_at():
    assert looked_at(14, 3) == [3, 4, 5, 6, 7] and looked_at(12, 3) == [3, 4, 5, 6]
    assert looked_at(10, 3) == [3] and looked_at(9, 3) == []
    stepped = np.log(flipping(9)) + np.r_[np.zeros(6), np.full(3, 1.0)]
    assert newest_step({"time_s": stepped}, 0.1, 3) is None  # 9 runs: 1/C(9, 3) is beyond the budget
    four_slow = np.log(flipping(11)) + np.r_[np.zeros(7), np.full(4, 1.0)]
    assert newest_step({"time_s": four_slow[1:]}, 0.1, 3) is None  # 10 runs: only the newest 3 (and a slow run before)
    assert newest_step({"time_s": four_slow}, 0.1, 3)["at"] == 7  # 11 runs: 4 too, named by the first slow run


def test_the_steadier_statistic_is_tested():
    rng = np.random.default_rng(4)
    noisy, steady = rng.normal(0, 0.3, 14), rng.normal(0, 0.01, 14)
    assert steadiest({"time_s": noisy, "time_min_s": steady}) == "time_min_s"
    assert steadiest({"time_s": steady, "time_min_s": np.r_[noisy[:-1], np.nan]}) == "time_s"


def test_unchanged_series_alarm_within_the_budget():
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(3000):
        speeds = np.log(rng.choice([2.0, 4.0], 14)) + rng.normal(0, 0.15, 14)  # flipping and noisy: the worst case
        alarms += newest_step({"time_s": speeds, "time_min_s": speeds + rng.normal(0, 0.1, 14)}, 0.1, 3) is not None
    assert alarms / 3000 < 0.01


def test_stalled_runs_do_not_make_a_step_of_slightly_slow_ones():
    rng = np.random.default_rng(6)
    steady = np.log(4e-5 * rng.lognormal(0, 0.005, 14))
    steady[-3:] = steady.max() + np.log([1.01, 3000, 2000])  # above every run before; two of them stalled
    assert newest_step({"time_s": steady}, 0.1, 3) is None
    steady[-3] += np.log(1.2)  # now each is 20% slower than the history: a step
    assert newest_step({"time_s": steady}, 0.1, 3)["at"] == 11
