"""The options of the verbs that judge runs against other runs: ``compare`` (two runs) and ``history`` (every
recorded run); :mod:`harness.commands.compare` and :mod:`harness.commands.history` run them."""
from __future__ import annotations

import argparse
import math

from .. import settings as defaults
from ..argtypes import Parser, bounded, non_negative_float, number, positive_float, probability
from .options import add_dir_options


def add_compare_parser(sub) -> None:
    """``compare``."""
    p = sub.add_parser("compare", help="compare two runs and flag significant slowdowns",
                       description="Judge each matched row by the interval of its time ratio (rounds' spread + run-to-run "
                       "noise floor): a regression when it lies wholly above 1 + --threshold, at any kernel size. Exit 0: "
                       "no regression; 1: a regression; 2: bad request; 3: inconclusive (some point could not be judged).")
    p.add_argument("base", metavar="BASE", help="baseline: results/RUN_ID.csv, a run id, or a pytest-benchmark JSON "
                                                "saved with --benchmark-save-data - or several such files of one "
                                                "build, each a run of the suite, as a comma-separated list or a "
                                                "quoted glob ('base-*.json'; then NEW too); any of them with @base appended "
                                                "is the base build of an A/B run (sweep --against; the suite with "
                                                "CONVBENCH_BENCH_AGAINST), whose plain name stands for this build")
    p.add_argument("new", metavar="NEW", help="new run: the same kinds as BASE")
    p.add_argument("--threshold", type=positive_float, default=defaults.THRESHOLD,
                   help="relative slowdown that counts (default 0.10 = 10%%)")
    p.add_argument("--alpha", type=probability, default=defaults.ALPHA,
                   help=f"two-sided error level of each point's interval (default {defaults.ALPHA})")
    p.add_argument("--min-delta-s", type=non_negative_float, default=None, help=argparse.SUPPRESS)  # retired
    p.add_argument("--allow-inconclusive", action="store_true",
                   help="exit 0 instead of 3 when nothing regressed but some points could not be judged")
    p.add_argument("--save-floor", action="store_true",
                   help="BASE and NEW are two runs of unchanged code (an A/A pair, e.g. two pytest-benchmark files): "
                        "also store each backend's spread as this CPU model's noise floor in RESULTS_DIR/noise.json, "
                        "as harness calibrate does for sweeps")
    add_dir_options(p, results="where run ids and the stored noise floor (noise.json) are looked up")
    p.add_argument("--markdown", metavar="FILE", default=None, help="also write the comparison as Markdown")
    p.add_argument("--plot", metavar="PNG", default=None, help="also draw the per-row ratio with its CI")
    p.add_argument("--html", metavar="FILE", default=None, help="also write the comparison as an HTML page")


def min_runs(text: str) -> int:
    """``history check/plot --min-runs``: an integer from 2 to 100 (argparse type); 0, -1 and 1 are refused with
    that range alike."""
    def whole_number(value: str) -> int:
        return number(value, int, -math.inf, strict=False)

    return bounded(whole_number, 2, 100, "runs on each side of a change point")(text)


def add_history_parser(sub) -> None:
    """``history {add,check,plot,machines}``: the database of runs, change points, the seed question per machine."""
    p = sub.add_parser("history", help="record runs in a history database; change points; every machine side by side",
                       description="A database (SQLite, default results/history.sqlite) of every recorded run, keyed "
                       "by machine fingerprint, commit, date and point; change-point detection over each series; "
                       "figures; and the reduction study of every machine side by side.")
    verbs = p.add_subparsers(dest="history_command", metavar="VERB", parser_class=Parser)
    verbs.required = True
    db_help = "history database (default: results/history.sqlite)"
    a = verbs.add_parser("add", help="record runs and pytest-benchmark JSON files (a run already there adds nothing)",
                         description="Record runs and pytest-benchmark JSON files in the history database, keyed by "
                         "machine, commit, date and point; a run already there adds nothing. Every file is checked "
                         "before anything is stored. Exit 0: recorded; 2: a file that cannot be recorded.")
    a.add_argument("runs", nargs="+", metavar="RUN", help="a run id, results/RUN_ID.csv or .json, or a "
                   "pytest-benchmark JSON saved with --benchmark-save-data")
    a.add_argument("--results-dir", default="results", help="where run ids are looked up (default: results)")
    a.add_argument("--db", default=None, help="history database (default: RESULTS_DIR/history.sqlite)")
    for name, what in (("check", "print the series whose newest change point is a slowdown beyond --threshold. "
                        "Exit 0: none; 1: a slowdown; 2: bad request; 3: a series too short or too noisy to judge."),
                       ("plot", "draw time per call over the runs (small multiples per machine and backend, "
                        "change points marked with their commit) and a page.")):
        c = verbs.add_parser(name, help=what.split(". ")[0].rstrip("."), description=what[0].upper() + what[1:])
        c.add_argument("--db", default=None, help=db_help)
        c.add_argument("--threshold", type=positive_float, default=defaults.THRESHOLD,
                       help="relative step that counts (default 0.10 = 10%%)")
        c.add_argument("--min-runs", type=min_runs, default=3, metavar="R",
                       help="runs on each side of a change point, 2 to 100 (default 3)")
        c.add_argument("--backend", default=None, help="only this backend's series")
        c.add_argument("--machine", default=None, help="only machines whose fingerprint starts with, or whose "
                       "label contains, this text")
    c = verbs.choices["check"]
    c.add_argument("--allow-inconclusive", action="store_true", help="exit 0 instead of 3 when nothing slowed "
                   "down but some series could not be judged")
    c.add_argument("--csv", metavar="FILE", default=None, help="also write every series' verdict as CSV")
    c.add_argument("--since", default=None, metavar="RUN_OR_DATE", help="accept change points older than this "
                   "run (its id) or date: only newer ones fail the check")
    verbs.choices["plot"].add_argument("--output", default="plots/history", metavar="DIR",
                                       help="folder of the figures and index.html (default: plots/history)")
    m = verbs.add_parser("machines", help="the reduction study of every machine side by side (a table and a figure)",
                         description="The reduction study of every machine in the history database side by side: "
                         "how much time the 1x1 reduce saves on each branch, per backend, batch and dtype, as a "
                         "table and a figure.")
    m.add_argument("--db", default=None, help=db_help)
    m.add_argument("--output", default="plots/history/machines.png", metavar="PNG",
                   help="the figure (default: plots/history/machines.png)")
    m.add_argument("--csv", metavar="FILE", default=None, help="also write the table (one row per machine, "
                   "backend, branch, batch and dtype) as CSV")
