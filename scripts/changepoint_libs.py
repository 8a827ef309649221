"""Compare change-point libraries on the series scripts/history_study.py dumped (log time per run).

Usage: python scripts/changepoint_libs.py SERIES.json
Runs every detector whose library imports in this interpreter (ruptures; MongoDB's signal-processing-algorithms;
Apache Otava - the last two pin old numpy/scipy, so give each its own virtual environment) and prints, per
detector: the share of unchanged series with no change point, the share of stepped series with a change point
exactly at the first stepped run, and the time taken. Depends on nothing of convbench.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

MIN_RUNS = 3


def scaled(values):
    """Log times centred on their median, in units of robust run-to-run noise, clipped to +/-3."""
    noise = max(1.4826 * float(np.median(np.abs(np.diff(values)))) / np.sqrt(2), 0.005)
    return np.clip((values - np.median(values)) / noise, -3, 3)


def detectors():
    """name -> function(log values) -> change indices, for each library that imports."""
    found = {}
    try:
        import ruptures

        def pelt(model, pen, clip=True):
            def run(v):
                x = scaled(v) if clip else (v - np.median(v)) / max(1.4826 * np.median(np.abs(np.diff(v))) / 2 ** .5, .005)
                return ruptures.Pelt(model=model, min_size=MIN_RUNS, jump=1).fit(x.reshape(-1, 1)).predict(pen=pen)[:-1]
            return run
        found["ruptures PELT l2, clipped (pen 12)"] = pelt("l2", 12.0)
        found["ruptures PELT l2, not clipped (pen 12)"] = pelt("l2", 12.0, clip=False)
        found["ruptures PELT l1, clipped (pen 6)"] = pelt("l1", 6.0)
        found["ruptures PELT rbf (pen 3)"] = pelt("rbf", 3.0)
    except ImportError:
        pass
    try:
        from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

        found["signal-processing-algorithms e_divisive (p 0.05, 100 perm.)"] = \
            lambda v: list(e_divisive(v, pvalue=0.05, permutations=100))
    except ImportError:
        pass
    try:
        from otava.analysis import compute_change_points

        found["otava compute_change_points (p 0.001)"] = \
            lambda v: [c.index for c in compute_change_points(v, window_len=50, max_pvalue=0.001)[0]]
        found["otava compute_change_points (p 0.01)"] = \
            lambda v: [c.index for c in compute_change_points(v, window_len=50, max_pvalue=0.01)[0]]
    except ImportError:
        pass
    return found


def main() -> None:
    """Print each detector's clean rate, catch rate and time."""
    series = json.loads(open(sys.argv[1]).read())
    for name, detect in detectors().items():
        t0 = time.perf_counter()
        clean = caught = n_clean = n_step = 0
        for s in series:
            values = np.asarray(s["log_time"], dtype=float)
            cps = sorted(int(c) for c in detect(values))
            if s["step_at"] is None:
                n_clean += 1
                clean += not cps
            else:
                n_step += 1
                caught += bool(cps) and cps[-1] == s["step_at"]
        print(f"{name}: unchanged series without a change point {clean}/{n_clean} = {clean / max(n_clean, 1):.1%}; "
              f"stepped series with the newest change point at the step {caught}/{n_step} = "
              f"{caught / max(n_step, 1):.1%}; {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
