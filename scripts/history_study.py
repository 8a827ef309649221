"""How often does ``harness history check`` cry wolf, and how often does it catch a real step? Measured on real runs.

Usage: PYTHONPATH=. python scripts/history_study.py RUNS_DIR [--out DIR] [--factor 1.3] [--last 3] [--dump FILE]
       [--first N]

RUNS_DIR holds >= 10 unchanged runs of one machine (e.g. 12 of
``python -m harness sweep --preset smoke --run-id hNN --results-dir RUNS_DIR --budget-s 0.1``).
1. All runs go into one history database: every series there is unchanged, so every change point found is a
   false alarm.
2. For each backend in turn, the runs are copied with that backend's times (time_s, time_min_s, time_iqr_s,
   and every per-round sample; GFLOP/s and GB/s divided) multiplied by ``--factor`` in the last ``--last`` runs,
   into a database of their own: a series of that backend is caught when its verdict is ``slower`` at the
   first stepped run.
Prints both rates (and the false alarms of the other backends' series beside the injected ones).
``--dump FILE`` writes every series' log times as JSON for scripts/changepoint_libs.py.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from harness.changepoints import check_history
from harness.historydb import read_history, record_sources

TIME_COLUMNS = ("time_s", "time_min_s", "time_iqr_s")


def runs_in(folder: Path) -> list[str]:
    """The run ids of ``folder`` (each table with its samples and metadata), in start order."""
    ids = [p.name.removesuffix(".csv") for p in folder.glob("*.csv") if "." not in p.name.removesuffix(".csv")]
    ids = [i for i in ids if (folder / f"{i}.samples.csv").is_file() and (folder / f"{i}.json").is_file()]
    return sorted(ids, key=lambda i: json.loads((folder / f"{i}.json").read_text()).get("started_at", ""))


def inject(src: Path, dst: Path, run_ids: list[str], backend: str, factor: float, last: int) -> None:
    """Copy the runs to ``dst``, ``backend``'s times multiplied by ``factor`` in the last ``last`` runs."""
    dst.mkdir(parents=True)
    for i, run_id in enumerate(run_ids):
        for suffix in (".csv", ".samples.csv", ".json"):
            shutil.copy(src / f"{run_id}{suffix}", dst / f"{run_id}{suffix}")
        if i < len(run_ids) - last:
            continue
        table = pd.read_csv(dst / f"{run_id}.csv")
        hit = table["backend"] == backend
        for col in TIME_COLUMNS:
            table.loc[hit, col] *= factor
        for col in ("gflops", "gbytes_per_s"):
            table.loc[hit, col] /= factor
        table.to_csv(dst / f"{run_id}.csv", index=False)
        samples = pd.read_csv(dst / f"{run_id}.samples.csv")
        samples.loc[samples["backend"] == backend, "time_s"] *= factor
        samples.to_csv(dst / f"{run_id}.samples.csv", index=False)


def check_folder(folder: Path, run_ids: list[str], threshold: float):
    """(history, check result) of the runs in ``folder``, through a fresh database."""
    db = folder / "history.sqlite"
    record_sources(db, run_ids, folder)
    history = read_history(db)
    return history, check_history(history, threshold)


def series_dump(history, injected_backend: str | None, first_stepped: str | None) -> list[dict]:
    """Each series' log times, and the index of its first stepped run when it was stepped."""
    out = []
    ok = history[history["status"] == "ok"]
    for point, runs in ok.groupby("point"):
        runs = runs.sort_values("started_at")
        at = None
        if injected_backend and runs["backend"].iloc[0] == injected_backend:
            hits = np.flatnonzero(runs["run_id"].to_numpy() == first_stepped)
            if not len(hits):  # the point was not timed in that run
                continue
            at = int(hits[0])
        out.append({"series": point, "log_time": np.log(runs["time_s"].to_numpy()).tolist(), "step_at": at})
    return out


def found_by(result) -> dict:
    """How many of these series each test found (empty where the harness has no ``test`` column)."""
    return result["test"].value_counts().to_dict() if "test" in result else {}


def main() -> None:
    """Run the study and print the rates."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--factor", type=float, default=1.3)
    ap.add_argument("--last", type=int, default=3)
    ap.add_argument("--threshold", type=float, default=0.1)
    ap.add_argument("--dump", type=Path, default=None)
    ap.add_argument("--first", type=int, default=None, help="use only the first N runs (a shorter history)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="history-study-"))
    run_ids = runs_in(args.runs)[:args.first]
    print(f"{len(run_ids)} runs: {', '.join(run_ids)}")
    base = out / "unchanged"
    base.mkdir(parents=True, exist_ok=True)
    for run_id in run_ids:
        for suffix in (".csv", ".samples.csv", ".json"):
            shutil.copy(args.runs / f"{run_id}{suffix}", base / f"{run_id}{suffix}")
    history, result = check_folder(base, run_ids, args.threshold)
    dump = series_dump(history, None, None)
    alarms = result[result["verdict"].isin(["slower", "faster"]) | (result["change_points"].map(len) > 0)]
    print(f"\nunchanged: {len(result)} series; with a change point: {len(alarms)} "
          f"({1 - len(alarms) / len(result):.1%} clean); verdicts: {result['verdict'].value_counts().to_dict()}")
    for r in alarms.to_dict("records"):
        print(f"  false alarm: {r['backend']} | {r['case']} | {r['dtype']}: {r['verdict']} {r['change_points']} "
              f"ratio {r['ratio']:.3f} [{r['ratio_lo']:.3f}, {r['ratio_hi']:.3f}] noise {r['noise']:.3f}")
    first_stepped = run_ids[len(run_ids) - args.last]
    judgeable = set(result.loc[result["verdict"] == "same", "point"])  # could show a step of the threshold
    caught = total = others_alarms = others = judged_caught = judged = 0
    for backend in sorted(history.loc[history["status"] == "ok", "backend"].unique()):
        folder = out / f"inject-{backend}"
        inject(args.runs, folder, run_ids, backend, args.factor, args.last)
        hist, res = check_folder(folder, run_ids, args.threshold)
        dump += [s for s in series_dump(hist, backend, first_stepped) if s["step_at"] is not None]
        mine = res[res["backend"] == backend]
        hit = (mine["verdict"] == "slower") & (mine["run_id"] == first_stepped)
        rest = res[res["backend"] != backend]
        caught, total = caught + int(hit.sum()), total + len(mine)
        judged_caught += int((hit & mine["point"].isin(judgeable)).sum())
        judged += int(mine["point"].isin(judgeable).sum())
        others_alarms, others = others_alarms + int((rest["change_points"].map(len) > 0).sum()), others + len(rest)
        print(f"{backend} x{args.factor} in the last {args.last} runs: caught at {first_stepped} in "
              f"{int(hit.sum())}/{len(mine)} (found by: {found_by(mine[hit])}); missed: "
              + "; ".join(
                  f"{r['case']} {r['dtype']} {r['verdict']} {r['change_points']} noise {r['noise']:.3f}"
                  for r in mine[~hit].to_dict("records")))
    print(f"\ncaught: {caught}/{total} = {caught / max(total, 1):.1%} of stepped series, named with run "
          f"{first_stepped}; of those judgeable at the threshold ('same' when unchanged): {judged_caught}/{judged}; "
          f"other series in those databases with a change point: {others_alarms}/{others}")
    if args.dump:
        args.dump.write_text(json.dumps(dump))
        print(f"wrote {args.dump} ({len(dump)} series)")


if __name__ == "__main__":
    main()
