"""Change points over the history: which series stepped, where (run and commit), by how much, and is it a slowdown.

A series is one machine x point (backend, case, shape, dtype, threads), its runs in
date order, each run's median time per call. Four steps:

1. **Propose** changes with ``ruptures``' PELT (exact penalised segmentation; L1 cost, i.e. distance to each
   segment's median, so one wild run moves a segment little) on the log times in units of the series'
   run-to-run noise from successive differences (a step barely moves that estimate). Segments are at least
   ``min_runs`` runs long: a single noisy run - or two - is never a segment of its own.
2. **Test** each proposal: the step is median(log time after) - median(log time before, since the previous
   change point); it is a change point when it exceeds DETECT_Z standard errors of that difference, taken from
   the robust noise around the step (:func:`step_noise`: the larger of the spread of the series' successive
   differences and the spread of the runs up to the next proposal, each around its segment's median - so a
   series that flips between two speeds from run to run counts as noisy and a clean step is not its own noise),
   and the first run after it has moved at least half-way (a change is named by its first changed run) - for the
   newest change, every run after it (a lasting change; on a busy machine a point of a run can stall a
   thousandfold, and two such runs among the newest three make a median of stalls). Its 95%
   interval is the step +/- 1.96 standard errors.
3. **The newest runs** (:mod:`harness.newestruns`): when the newest runs are all slower than every run before
   them, in the median or in the best round, each beyond the threshold, that is a change point too (a rank
   test with a fixed false-alarm budget, valid whatever the shape of the noise: it judges the microsecond kernels
   whose runs flip between speeds, where three standard errors are wider than any step). It is the newest change
   point unless PELT's test found one at the same run or later.
4. **Judge** the newest change point: ``slower`` (a slowdown beyond the threshold), ``faster``, or ``same``
   (within it). A series without one is ``same`` when a step of the threshold would have been seen
   (``detectable`` <= threshold), ``inconclusive`` when its noise could hide it, ``short`` with fewer than
   ``2 x min_runs`` runs; a proposal beyond the threshold that fails the test is ``inconclusive`` too.

Why ruptures: one small dependency (numpy, scipy), deterministic, and any proposer can sit in front of the
test (:func:`judge_log_times` takes ``detect``). MongoDB's ``signal-processing-algorithms`` (e-divisive with a
random permutation test; pins numpy < 2 and pulls gevent) and Apache Otava (e-divisive with t-tests; pins
numpy/scipy and pulls Google Cloud, Slack and Postgres clients) found no more steps behind the same test on
this project's runs (scripts/changepoint_libs.py; numbers in docs/history.md).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_REGRESSION
from .newestruns import newest_step

#: Fewest runs on each side of a change point (a change is confirmed by this many runs after it).
MIN_RUNS = 3
#: PELT's penalty per proposed change, in noise units (the L1 cost of a segment is a sum of |z - median|).
PENALTY = 6.0
#: A series whose noise could hide a step below ``threshold`` at this many standard errors is too noisy to judge.
DETECT_Z = 3.0
#: The run-to-run noise is never taken below this (relative): timers and medians are not better than that.
MIN_NOISE = 0.005
#: ruptures' cost: L1 (distance to each segment's median), so one wild run moves a segment's cost little.
MODEL = "l1"
SERIES_KEY = ["machine", "point"]
CHECK_COLUMNS = ["verdict", "machine_label", "backend", "case", "dtype", "threads", "runs", "run_id", "git_commit",
                 "started_at", "ratio", "ratio_lo", "ratio_hi", "runs_before", "runs_after", "test",
                 "noise", "detectable", "change_points", "machine", "point"]
#: The per-run statistics the newest-runs test looks at: the median time per call and the best round.
RANK_STATISTICS = ("time_s", "time_min_s")
VERDICT_ORDER = {"slower": 0, "inconclusive": 1, "short": 2, "faster": 3, "same": 4}


def diff_noise(values) -> float:
    """The run-to-run noise from successive differences (robust: 1.4826 x their median absolute value / sqrt 2;
    a step moves one difference, barely the estimate); 0 for fewer than two runs."""
    values = np.asarray(values, dtype=float)
    return 1.4826 * float(np.median(np.abs(np.diff(values)))) / math.sqrt(2) if len(values) > 1 else 0.0


def noise_of(log_values) -> float:
    """Run-to-run noise of a series as a standard deviation of log time: the larger of two robust estimates,
    from successive differences (a step barely moves it) and from the spread around the median (catches a
    series that flips between two speeds from run to run), never below MIN_NOISE."""
    values = np.asarray(log_values, dtype=float)
    if len(values) < 2:
        return MIN_NOISE
    by_diffs = diff_noise(values)
    by_spread = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    return max(by_diffs, by_spread, MIN_NOISE)


def step_noise(log_times, at: int, end: int, bounds=()) -> float:
    """The noise a step at run ``at`` (runs before it against runs ``at:end``) is judged against: :func:`noise_of`
    the runs up to ``end`` with each segment - between the change points ``bounds`` found before it, ``at`` and
    ``end`` - taken to its own median, and the spread of the successive differences of the whole series. With
    the steps left in, the spread around the median of a series with as many runs after a clean step as before
    it is half the step (six runs with 1% noise and a 3x step in the newest three: noise 0.8, "steps below 1118%
    are lost in its noise")."""
    values = np.asarray(log_times, dtype=float)
    edges = sorted({0, *(int(b) for b in bounds if 0 < b < at), at, end})
    levelled = np.concatenate([values[a:b] - np.median(values[a:b]) for a, b in zip(edges, edges[1:]) if b > a])
    return max(noise_of(levelled), diff_noise(values), MIN_NOISE)


def change_points(log_values, min_runs: int = MIN_RUNS, penalty: float | None = None) -> list[int]:
    """Candidate changes: indices of the first run after each (PELT, L1 cost, over log times in units of the
    noise from successive differences; ``penalty`` per change, default PENALTY)."""
    import ruptures

    values = np.asarray(log_values, dtype=float)
    if len(values) < 2 * min_runs:
        return []
    noise = max(diff_noise(values), MIN_NOISE)
    scaled = (values - np.median(values)) / noise
    ends = ruptures.Pelt(model=MODEL, min_size=min_runs, jump=1).fit(scaled.reshape(-1, 1)).predict(pen=PENALTY if penalty is None else penalty)
    return [int(e) for e in ends[:-1]]


def standard_error(noise: float, runs_before: int, runs_after: int) -> float:
    """Standard error of a difference of two medians of log time (1.2533 x that of means) over these runs."""
    return 1.2533 * noise * math.sqrt(1 / runs_before + 1 / runs_after)


def judge_change(log_times, at: int, start: int, end: int, threshold: float, bounds=()) -> dict:
    """The step at run ``at``, runs ``start:at`` against runs ``at:end``: its ratio, 95% interval, the smallest step
    the series could show there (``detectable``) and its verdict (slower/faster/inconclusive/same); ``bounds``: the
    change points found before it (:func:`step_noise`)."""
    before, after = log_times[start:at], log_times[at:end]
    step = float(np.median(after) - np.median(before))
    noise = step_noise(log_times, at, end, bounds)
    se = standard_error(noise, len(before), len(after))
    out = dict(ratio=math.exp(step), ratio_lo=math.exp(step - 1.96 * se), ratio_hi=math.exp(step + 1.96 * se),
               detectable=math.expm1(DETECT_Z * se), noise=noise, runs_before=len(before), runs_after=len(after))
    moved = moved_half_way(after, before, step)
    # a change is named by its first run; the newest one lasts: every run since moved (two stalled runs are not it)
    lasting = bool(moved.all() if end == len(log_times) else moved[0])
    out["significant"] = bool(abs(step) > DETECT_Z * se and lasting)
    if abs(step) <= math.log1p(threshold):
        return dict(out, verdict="same")
    if not out["significant"]:
        return dict(out, verdict="inconclusive")
    return dict(out, verdict="slower" if step > 0 else "faster")


def judge_log_times(log_times, threshold: float, min_runs: int = MIN_RUNS, detect=None,
                    best_log_times=None) -> tuple[dict, list]:
    """(verdict, change points) of a series of log times: the verdict on its newest significant change point
    (else on its newest candidate) with ``at`` (the index of its first run, or None), and every significant change
    as (index, ratio). ``detect(log_times, min_runs)`` proposes candidates (default :func:`change_points`);
    ``best_log_times`` (each run's best round, optional) is a second statistic for the newest-runs test."""
    log_times = np.asarray(log_times, dtype=float)
    n = len(log_times)
    noise = noise_of(log_times)
    out = dict(runs=n, noise=noise, at=None, ratio=math.nan, ratio_lo=math.nan, ratio_hi=math.nan, runs_before=0,
               runs_after=0, test="", detectable=math.expm1(DETECT_Z * standard_error(noise, max(n - min_runs, 1),
                                                                                        min_runs)))
    if n < 2 * min_runs:
        return dict(out, verdict="short", detectable=math.inf), []
    found, newest, start = [], None, 0
    candidates = sorted(int(c) for c in (detect or change_points)(log_times, min_runs) if 0 < c < n)
    for at, end in zip(candidates, candidates[1:] + [n]):
        change = dict(judge_change(log_times, at, start, end, threshold, [a for a, _ in found]), at=at, test="pelt")
        if change.pop("significant"):
            found.append((at, change["ratio"]))
            start = at
            newest = change
        elif newest is None or not found:
            newest = change
    if newest is not None and found and newest["verdict"] in ("slower", "faster"):
        newest = lasting(log_times, newest, [a for a, _ in found])
    newest, found = with_newest_runs(log_times, best_log_times, threshold, min_runs, newest, found)
    if newest is None:
        return dict(out, verdict="same" if out["detectable"] <= threshold else "inconclusive"), found
    if newest["verdict"] == "same" and out["detectable"] > threshold:
        newest["verdict"] = "inconclusive"
    return dict(out, **newest), found


def moved_half_way(runs, before, step: float):
    """Per run of ``runs``: has it moved at least half of ``step`` (log) from the median of ``before``, that way?"""
    return (np.asarray(runs) - np.median(before)) * np.sign(step) > abs(step) / 2


def lasting(log_times, change: dict, found: list[int]) -> dict:
    """``change`` (the newest change point found) as it is when every run since it has moved at least half-way
    from the runs before it (since the change point before), else ``inconclusive``: a later proposal within the
    threshold must not leave a step the series has since come back from standing as the verdict."""
    at = change["at"]
    before = log_times[max([a for a in found if a < at], default=0):at]
    step = math.log(change["ratio"])
    if moved_half_way(log_times[at:], before, step).all():
        return change
    return dict(change, verdict="inconclusive")


def with_newest_runs(log_times, best_log_times, threshold: float, min_runs: int, newest, found) -> tuple:
    """(newest, found) with the newest-runs test's step (:mod:`harness.newestruns`) when it found one that is not
    older than a slowdown or speedup PELT's test found; the previous change point bounds the runs it compares to."""
    statistics = dict(zip(RANK_STATISTICS, (log_times, best_log_times)))
    step = newest_step(statistics, threshold, min_runs, [at for at, _ in found])
    if step is None:
        return newest, found
    if newest is not None and newest["verdict"] in ("slower", "faster") and newest["at"] >= step["at"]:
        return newest, found
    change = {key: value for key, value in step.items() if key not in ("statistic", "p_value")}
    change["test"] = f"newest runs, {step['statistic']}"
    kept = [(at, ratio) for at, ratio in found if at < step["at"]]
    return change, kept + [(step["at"], step["ratio"])]


def judge_series(runs, threshold: float, min_runs: int = MIN_RUNS) -> dict:
    """The verdict on one series (a DataFrame of its ok rows in date order; see the module docstring), its
    newest change's run, commit and date, and every change point as ``run@commit xRATIO``."""
    best = np.log(runs["time_min_s"].to_numpy(dtype=float)) if "time_min_s" in runs else None
    verdict, found = judge_log_times(np.log(runs["time_s"].to_numpy(dtype=float)), threshold, min_runs,
                                     best_log_times=best)
    at = verdict.pop("at")
    verdict["change_points"] = [f"{runs['run_id'].iloc[i]}@{short_commit(runs['git_commit'].iloc[i])} x{r:.2f}"
                                for i, r in found]
    if at is None:
        return dict(verdict, run_id="", git_commit="", started_at="")
    return dict(verdict, run_id=str(runs["run_id"].iloc[at]), git_commit=str(runs["git_commit"].iloc[at] or ""),
                started_at=str(runs["started_at"].iloc[at]))


def short_commit(commit) -> str:
    """The first 9 characters of a commit hash (with its '+dirty' mark), '?' when unknown."""
    if not isinstance(commit, str) or not commit:
        return "?"
    return commit[:9] + ("+dirty" if commit.endswith("+dirty") else "")


def check_history(history, threshold: float = 0.1, min_runs: int = MIN_RUNS, since: str | None = None):
    """One row per series of ``history`` (:func:`harness.historydb.read_history`): its verdict, the newest change
    point (run, commit, date), the ratio with its interval, and every change point found. Worst first.

    Only ``ok`` rows are in a series. With ``since`` (an ISO 8601 UTC date), a change point dated before it is
    accepted: its series is ``same``. ValueError for a NaN or negative threshold or min_runs < 2."""
    import pandas as pd

    if not threshold >= 0:
        raise ValueError(f"threshold must be a number >= 0, got {threshold!r}")
    if not isinstance(min_runs, int) or min_runs < 2:
        raise ValueError(f"min_runs must be an integer >= 2, got {min_runs!r}")
    ok = history[(history["status"] == "ok") & history["time_s"].notna() & (history["time_s"] > 0)]
    rows = []
    for (machine, point), runs in ok.groupby(SERIES_KEY, sort=False):
        runs = runs.sort_values(["started_at", "run_id"], kind="stable")
        first = runs.iloc[0]
        verdict = judge_series(runs, threshold, min_runs)
        if since and verdict["verdict"] in ("slower", "faster") and verdict["started_at"] < since:
            verdict["verdict"] = "same"  # accepted: the change is older than --since
        rows.append(dict(verdict, machine=machine, point=point, machine_label=first["machine_label"],
                         backend=first["backend"], case=first["case"], dtype=first["dtype"],
                         threads=first["threads"]))
    out = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    out["_order"] = out["verdict"].map(VERDICT_ORDER)
    out = out.sort_values(["_order", "ratio"], ascending=[True, False], na_position="last")
    return out.drop(columns="_order").reset_index(drop=True)


def exit_code(result, allow_inconclusive: bool = False) -> int:
    """0 no slowdown, 1 a series whose newest change point is a slowdown, 3 a series too short or too noisy to
    judge and no slowdown (0 when allowed) - the codes of ``compare``."""
    if (result["verdict"] == "slower").any():
        return EXIT_REGRESSION
    if result["verdict"].isin(["inconclusive", "short"]).any() and not allow_inconclusive:
        return EXIT_INCONCLUSIVE
    return EXIT_OK
