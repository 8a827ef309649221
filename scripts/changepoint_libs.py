"""Compare change-point libraries on the series scripts/history_study.py dumped (log time per run).

Usage: PYTHONPATH=. python scripts/changepoint_libs.py SERIES.json
Runs every detector whose library imports in this interpreter - ruptures (PELT), MongoDB's
signal-processing-algorithms (e-divisive with a permutation test) and Apache Otava (e-divisive with t-tests);
the last two pin old numpy/scipy, so give each its own virtual environment - and prints per detector:
- alone: the share of unchanged series where it proposes no change point, and the share of stepped series whose
  newest proposed change point is the first stepped run;
- judged: the same after harness.changepoints' test of each proposal (median step beyond 3 standard errors of
  the series' run-to-run noise, named by its first changed run), i.e. what `harness history check` would do with
  that library's proposals (only numpy needed from convbench);
and the time it took.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from harness.changepoints import MIN_RUNS, judge_log_times


def scaled(values):
    """Log times centred on their median, in units of the noise from successive differences."""
    noise = max(1.4826 * float(np.median(np.abs(np.diff(values)))) / np.sqrt(2), 0.005)
    return (values - np.median(values)) / noise


def detectors() -> dict:
    """name -> function(log values, min_runs) -> change indices, for each library that imports here."""
    found = {}
    try:
        import ruptures

        def pelt(model, pen):
            return lambda v, m: ruptures.Pelt(model=model, min_size=m, jump=1).fit(
                scaled(v).reshape(-1, 1)).predict(pen=pen)[:-1]
        found["ruptures PELT, L1 cost, penalty 6 (convbench's choice)"] = pelt("l1", 6.0)
        found["ruptures PELT, L2 cost, penalty 12"] = pelt("l2", 12.0)
    except ImportError:
        pass
    try:
        from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

        found["signal-processing-algorithms e_divisive (p 0.05, 100 permutations)"] = \
            lambda v, m: list(e_divisive(v, pvalue=0.05, permutations=100))
    except ImportError:
        pass
    try:
        from otava.analysis import compute_change_points

        for p in (0.001, 0.01):
            found[f"otava compute_change_points (max p {p})"] = \
                lambda v, m, p=p: [c.index for c in compute_change_points(v, window_len=50, max_pvalue=p)[0]]
    except ImportError:
        pass
    return found


def main() -> None:
    """Print each detector's clean and catch rates, alone and judged, and its time."""
    series = json.loads(open(sys.argv[1]).read())
    clean = [np.asarray(s["log_time"]) for s in series if s["step_at"] is None]
    stepped = [(np.asarray(s["log_time"]), s["step_at"]) for s in series if s["step_at"] is not None]
    print(f"{len(clean)} unchanged series, {len(stepped)} stepped series")
    for name, detect in detectors().items():
        t0 = time.perf_counter()
        raw_clean = sum(not list(detect(v, MIN_RUNS)) for v in clean)
        raw_caught = sum(bool(c := sorted(detect(v, MIN_RUNS))) and c[-1] == at for v, at in stepped)
        judged_clean = sum(not judge_log_times(v, 0.1, MIN_RUNS, detect)[1] for v in clean)
        judged_caught = 0
        for v, at in stepped:
            verdict, _ = judge_log_times(v, 0.1, MIN_RUNS, detect)
            judged_caught += verdict["verdict"] == "slower" and verdict["at"] == at
        print(f"{name}:\n  alone:  clean {raw_clean}/{len(clean)} = {raw_clean / len(clean):.1%}, caught "
              f"{raw_caught}/{len(stepped)} = {raw_caught / len(stepped):.1%}\n  judged: clean {judged_clean}/"
              f"{len(clean)} = {judged_clean / len(clean):.1%}, caught {judged_caught}/{len(stepped)} = "
              f"{judged_caught / len(stepped):.1%}   ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
