"""Measure the regression gate's error rates on runs of this machine: A/A false alarms and injected slowdowns.

The recipe of the measurements in docs/measurements/ (summed up in docs/regression-gates.md and docs/compare.md,
"Measured error rates"), as one script, so that each machine's numbers are made the same way:

    PYTHONPATH=. python scripts/gate_eval.py sweeps --results-dir R RUN1 RUN2 RUN3 [--ab] [--threshold 0.1]
    PYTHONPATH=. python scripts/gate_eval.py bench k-1.json k-2.json ... [--side 1|3]

``sweeps``: every ordered pair of the runs (with ``--ab``: each run's ``RUN@base`` against ``RUN`` both ways,
"within", besides the pairs of separate runs, "across"). Each pair is judged as it is (A/A: every exit 1 is a
false alarm), then with one backend of NEW slowed by 1.1, 1.3 and 1.6 (each backend in turn): every time of that
backend - the table's ``time_s``/``time_min_s``/``time_iqr_s``, every sample and every round of
``RUN.passes.jsonl`` - multiplied by the factor, the probe's readings untouched (the code slowed, not the machine).
It prints, per set and factor, the share of the slowed backend's judged rows called ``slower``, the pairs that
exited 1, and how many rows of the *other* backends were flagged alongside. Each run against itself as well (it
must exit 0). No stored noise floor is used (the copies live in a scratch folder).

``bench``: pytest-benchmark files made with ``--benchmark-save-data``, in the order they were run, judged as
disjoint consecutive sides of ``--side`` files (1: 1-2, 3-4, ...; 3: 1-3 vs 4-6, ...). Prints the share of
medians within +/-10% (as measured: the median of every round of a side; as judged: compare's ratio, the pace
divided out), the exit codes of the unchanged pairs and the widest move of a backend's block that could move as a
whole (:mod:`harness.benchblocks`: measure the least move on your machine), and the injected slowdowns: every round
of NEW's files multiplied, for one benchmark (each in turn) or for a whole backend. Name the CPU (``lscpu``) with
every number.
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

import pandas as pd

import harness
from harness.benchblocks import PROCESS_SHIFT
from harness.benchjson import case_of, read_benchmark_json
from harness.comparison import exit_code

FACTORS = (1.1, 1.3, 1.6)
TIME_COLUMNS = ("time_s", "time_min_s", "time_iqr_s")
STAT_FIELDS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "total")


def compare(base, new, folder: Path, threshold: float):
    """compare's table of ``base`` against ``new`` (run ids in ``folder`` or benchmark file lists), warnings muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return harness.compare(base, new, threshold=threshold, results_dir=folder)


def copy_run(src: Path, run_id: str, dst: Path, new_id: str, backend: str | None = None, factor: float = 1.0):
    """Copy run ``run_id`` of folder ``src`` into ``dst`` as ``new_id``, ``backend``'s times times ``factor``."""
    table = pd.read_csv(src / f"{run_id}.csv")
    samples = pd.read_csv(src / f"{run_id}.samples.csv")
    if backend is not None:
        hit = table["backend"] == backend
        for column in TIME_COLUMNS:
            table.loc[hit, column] *= factor
        samples.loc[samples["backend"] == backend, "time_s"] *= factor
    table["run_id"], samples["run_id"] = new_id, new_id
    table.to_csv(dst / f"{new_id}.csv", index=False)
    samples.to_csv(dst / f"{new_id}.samples.csv", index=False)
    shutil.copyfile(src / f"{run_id}.json", dst / f"{new_id}.json")
    passes = src / f"{run_id}.passes.jsonl"
    if passes.is_file():
        lines = []
        for line in passes.read_text().splitlines():
            record = json.loads(line)
            if backend is not None and record["row"].get("backend") == backend:
                record["samples_s"] = [t * factor for t in record["samples_s"]]
                for column in TIME_COLUMNS:
                    if isinstance(record["row"].get(column), (int, float)):
                        record["row"][column] *= factor
            record["row"]["run_id"] = new_id
            lines.append(json.dumps(record))
        (dst / f"{new_id}.passes.jsonl").write_text("\n".join(lines) + "\n")


def judged(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows compare could judge at all (timed in both runs)."""
    return rows[rows["verdict"].isin(["slower", "faster", "same", "inconclusive"])]


def tally(s: dict, key: str, rows: pd.DataFrame, slowed: pd.Series) -> None:
    """Add to ``s`` one injected slowdown ``key``'s counts: the ``slowed`` rows called ``slower`` (of how many), whether
    the comparison exited 1, and the rows of the others flagged ``slower`` beside them."""
    slower = rows["verdict"] == "slower"
    s[key + " slower"] += int((slowed & slower).sum())
    s[key + " rows"] += int(slowed.sum())
    s[key + " exit1"] += int(exit_code(rows) == 1)
    s[key + " others"] += int((~slowed & slower).sum())


def eval_sweep_pair(results: Path, base: str, new: str, mode: str, threshold: float, score: dict):
    """Judge one ordered pair as is and with each backend of NEW slowed; add the counts to ``score[mode]``.

    ``mode``: "separate" (run ``base`` against run ``new``), "copy" (a run against its own copy: the issue's
    recipe, the same noise on both sides and a clean slowdown), "within" (``new@base`` against ``new``, one A/B run)
    or "within, reversed" (``new`` against ``new@base``: the base build's half slowed)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if mode in ("separate", "copy"):
            copy_run(results, base, folder, "base")
        refs = {"separate": ("base", "new"), "copy": ("base", "new"), "within": ("new@base", "new"),
                "within, reversed": ("new", "new@base")}[mode]
        copy_run(results, new, folder, "new")
        table = compare(*refs, folder, threshold)
        s = score[mode]
        s["pairs"] += 1
        s[f"aa_exit{exit_code(table)}"] += 1
        backends = sorted(judged(table)["backend"].unique())
        s["backends"] = sorted(set(s.get("backends", [])) | set(backends))
        for factor, backend in itertools.product(FACTORS, backends):
            copy_run(results, new, folder, "new", backend + ("@base" if mode == "within, reversed" else ""), factor)
            rows = judged(compare(*refs, folder, threshold))
            tally(s, f"{backend} {factor}", rows, rows["backend"] == backend)


def sweeps(args) -> None:
    """The ``sweeps`` verb: every ordered pair of the runs named (and, with ``--ab``, each run's two builds)."""
    score: dict = defaultdict(lambda: defaultdict(int))
    for run in args.runs:  # each run against itself, then against its slowed copy
        eval_sweep_pair(args.results_dir, run, run, "copy", args.threshold, score)
    for base, new in itertools.permutations(args.runs, 2):
        eval_sweep_pair(args.results_dir, base, new, "separate", args.threshold, score)
    for run in args.runs if args.ab else ():
        for mode in ("within", "within, reversed"):
            eval_sweep_pair(args.results_dir, run, run, mode, args.threshold, score)
    report(score)


def report(score: dict) -> None:
    """Print one block per set: A/A exits, then per factor and backend the slowed rows and exits."""
    for label, s in score.items():
        if label == "copy":
            label = "copy: each run against its own copy (A/A: the run against itself)"
        exits = ", ".join(f"exit {c}: {s[f'aa_exit{c}']}" for c in (0, 1, 3) if s[f"aa_exit{c}"])
        print(f"\n[{label}] {s['pairs']} ordered pairs; A/A {exits}")
        for factor in FACTORS:
            parts = []
            for backend in s.get("backends", []):
                key = f"{backend} {factor}"
                rows = s[key + " rows"]
                share = 100 * s[key + " slower"] / rows if rows else float("nan")
                parts.append(f"{backend} {share:.0f}% ({s[key + ' slower']}/{rows}, exit 1 {s[key + ' exit1']}/"
                             f"{s['pairs']}, others {s[key + ' others']})")
            print(f"  {factor}x: " + "; ".join(parts))


def scaled_file(src: dict, dst: Path, names: set, factor: float) -> Path:
    """Write benchmark document ``src`` to ``dst`` with every round and statistic of the benchmarks ``names``
    scaled (``src`` itself untouched)."""
    doc = copy.deepcopy(src)
    for bench in doc["benchmarks"]:
        if bench["name"] in names:
            stats = bench["stats"]
            stats["data"] = [t * factor for t in stats["data"]]
            for field in STAT_FIELDS:
                if isinstance(stats.get(field), (int, float)):
                    stats[field] *= factor
            if isinstance(stats.get("ops"), (int, float)):
                stats["ops"] /= factor
    dst.write_text(json.dumps(doc))
    return dst


def side_medians(docs: list[dict]) -> dict:
    """{benchmark name: median of every round of the side's documents} (as measured)."""
    rounds: dict = defaultdict(list)
    for doc in docs:
        for bench in doc["benchmarks"]:
            rounds[bench["name"]].extend(bench["stats"]["data"])
    return {name: statistics.median(data) for name, data in rounds.items()}


def bench(args) -> None:
    """The ``bench`` verb: disjoint consecutive sides of ``--side`` files."""
    files, k = [Path(f) for f in args.files], args.side
    docs = {path: read_benchmark_json(path) for path in files}  # each file read (and checked) once
    sides = [files[i:i + k] for i in range(0, len(files) - k + 1, k)]
    s: dict = defaultdict(int)
    names_of: dict = defaultdict(set)
    for doc in docs.values():
        for b in doc["benchmarks"]:
            if "@" not in b["name"]:
                names_of[b["extra_info"]["backend"]].add(b["name"])
    for base, new in zip(sides[::2], sides[1::2]):
        s["pairs"] += 1
        mb, mn = side_medians([docs[p] for p in base]), side_medians([docs[p] for p in new])
        common = [n for n in mb if n in mn and "@" not in n]
        s["measured_in"] += sum(abs(mn[n] / mb[n] - 1) <= 0.1 for n in common)
        s["medians"] += len(common)
        table = compare([str(p) for p in base], [str(p) for p in new], Path(args.results_dir), args.threshold)
        s["judged_in"] += int((judged(table)["ratio"].sub(1).abs() <= 0.1).sum())
        s[f"aa_exit{exit_code(table)}"] += 1
        for backend, move in (table.attrs.get("backend_moves") or {}).items():  # blocks that could move (benchblocks)
            s["aa_moves"] += 1
            widest = max(move["ratio"], 1 / move["ratio"])
            if widest > s.get("aa_widest", (1.0, ""))[0]:
                s["aa_widest"] = (widest, backend)
        with tempfile.TemporaryDirectory() as tmp:
            for factor in FACTORS:
                targets = [(f"one {factor}", {n}) for n in sorted(common)] + \
                          [(f"backend {b} {factor}", names) for b, names in sorted(names_of.items())]
                for key, names in targets:
                    slowed = [str(scaled_file(docs[p], Path(tmp) / p.name, names, factor)) for p in new]
                    out = judged(compare([str(p) for p in base], slowed, Path(args.results_dir), args.threshold))
                    tally(s, key, out, bench_rows(out, names))
    print(f"{s['pairs']} pairs of {k} file(s) a side; medians within +/-10%: as measured {s['measured_in']}/"
          f"{s['medians']}, as judged {s['judged_in']}/{s['medians']}; unchanged pairs exit 1/3/0: "
          f"{s['aa_exit1']}/{s['aa_exit3']}/{s['aa_exit0']}")
    widest, who = s.get("aa_widest", (1.0, "-"))
    print(f"  unchanged pairs: {s['aa_moves']} backend blocks could move as a whole (a steady pace); the widest moved "
          f"{widest:.3f}x ({who}); a block's move counts beyond {PROCESS_SHIFT}x")
    for factor in FACTORS:
        one = f"one {factor}"
        print(f"  {factor}x one benchmark: {s[one + ' slower']}/{s[one + ' rows']} slower, others flagged "
              f"{s[one + ' others']}; whole backend: " + "; ".join(
                  f"{b} {s[f'backend {b} {factor} slower']}/{s[f'backend {b} {factor} rows']} (exit 1 "
                  f"{s[f'backend {b} {factor} exit1']}/{s['pairs']}, others {s[f'backend {b} {factor} others']})"
                  for b in sorted(names_of)))


def bench_rows(out: pd.DataFrame, names: set) -> pd.Series:
    """Which rows of compare's table are the benchmarks ``names`` (a row's case is its name, ``case_of``)."""
    return out["case"].isin({case_of(n) for n in names})


def main(argv=None) -> int:
    """Parse the command line and run one verb."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("sweeps", help="every ordered pair of sweeps (run ids)")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--ab", action="store_true", help="A/B runs: also RUN@base against RUN")
    p.add_argument("runs", nargs="+")
    q = sub.add_parser("bench", help="pytest-benchmark files, in the order they were run")
    q.add_argument("--side", type=int, default=1, help="files a side (1 or 3)")
    q.add_argument("--results-dir", default=tempfile.gettempdir(), help="a folder without noise.json")
    q.add_argument("files", nargs="+")
    for x in (p, q):
        x.add_argument("--threshold", type=float, default=0.1)
    args = parser.parse_args(argv)
    (sweeps if args.verb == "sweeps" else bench)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
