"""``harness calibrate``: an A/A test - the same sweep twice, compared - giving this machine's false-alarm rate.

Every slower/faster verdict between two runs of unchanged code is a false alarm;
the table shows how often one happens, and how often a point is inconclusive,
at a range of thresholds, so a CI gate can pick a threshold that holds here. Both
sweeps run through :func:`harness.commands.sweep.execute` with the same settings, every
point in its backend's worker process: each backend's run-to-run spread is stored as
this CPU model's noise floor (``RESULTS_DIR/noise.json``), which compare uses.
"""
from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

from ..comparison import INCONCLUSIVE, compare_runs
from ..errors import UsageError
from ..render.console import print_calibration
from ..results import RunFiles
from ..settings import RunOptions
from ..storedfloor import left_out_lines, store_calibrated_floor
from .common import floor_target
from .sweep import execute
from .sweep_request import settings_of_args

#: Thresholds the calibration table reports.
THRESHOLDS = (0.02, 0.05, 0.10, 0.15, 0.20, 0.30, 0.50)


def calibration_table(base, new, alpha: float) -> list[dict]:
    """Per threshold: matched points, false alarms (slower/faster), inconclusive points, and their rates."""
    rows = []
    for threshold in THRESHOLDS:
        result = compare_runs(base, new, threshold, alpha)
        judged = result[result["ratio"].notna()]
        alarms = int(judged["verdict"].isin(("slower", "faster")).sum())
        unclear = int((judged["verdict"] == INCONCLUSIVE).sum())
        rows.append(dict(threshold=threshold, points=len(judged), false_alarms=alarms, inconclusive=unclear,
                         false_alarm_rate=alarms / max(len(judged), 1), inconclusive_rate=unclear / max(len(judged), 1),
                         noise_floor=result.attrs.get("noise_floor", 0.0)))
    return rows


def trace_drift(seconds: float) -> int:
    """``--drift-s``: trace the fixed one-thread workloads for ``seconds`` with a progress bar, print the summary."""
    from ..drift import default_workloads, drift_summary, speed_trace
    from ..render.console import SweepProgress, print_drift
    from ..threads import thread_limits

    with thread_limits(1):
        workloads = default_workloads()
        with SweepProgress(total=math.ceil(seconds), description="timing fixed kernels in turn") as bar:
            shown = [0]

            def progress(done_s: float) -> None:
                bar.step(min(int(done_s), math.ceil(seconds)) - shown[0])
                shown[0] = min(int(done_s), math.ceil(seconds))

            trace = speed_trace(workloads, seconds, progress=progress)
    print_drift(drift_summary(trace), seconds)
    return 0


def run(args) -> int:
    """Run the sweep twice, compare at every threshold of ``THRESHOLDS``, print the table (``--drift-s``:
    trace this machine's speed instead, :func:`trace_drift`)."""
    if getattr(args, "drift_s", None):
        return trace_drift(args.drift_s)
    floor_target(args.results_dir)  # where the floor goes: refused before two sweeps are measured for nothing
    keep = Path(args.results_dir) if args.keep else None
    taken = [p for r in ("calibrate-a", "calibrate-b") for p in (RunFiles(keep, r).existing() if keep else [])]
    if taken:
        raise UsageError(f"--keep: {taken[0]} is there from an earlier calibration; move calibrate-a.* and "
                         f"calibrate-b.* away or choose another --results-dir (nothing was measured)")
    settings = settings_of_args(args)
    with tempfile.TemporaryDirectory(prefix="convbench-calibrate-") as tmp:
        where = keep or Path(tmp)
        for run_id in ("calibrate-a", "calibrate-b"):
            execute(copy.deepcopy(settings), RunOptions(results_dir=str(where), plots_dir=str(where / "plots"),
                                                        run_id=run_id, plots=False, report=False, quiet=True,
                                                        command=["python", "-m", "harness", *args.argv]))
        rows = calibration_table(RunFiles(where, "calibrate-a"), RunFiles(where, "calibrate-b"), args.alpha)
        try:
            stored, entry = store_calibrated_floor(RunFiles(where, "calibrate-a"), RunFiles(where, "calibrate-b"),
                                                   args.results_dir)
        except (OSError, ValueError) as exc:
            print_calibration(rows, preset=args.preset)  # measured: the table is shown, the floor is what failed
            raise UsageError(f"could not store the noise floor: {exc}") from None
    print_calibration(rows, preset=args.preset)
    print(f"stored the process-to-process noise floor of {', '.join(sorted(entry['backends']))} in {stored} "
          "(harness compare uses it)")
    for line in left_out_lines(entry):
        print(line)
    return 0
