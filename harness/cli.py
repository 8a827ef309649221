"""Command line: ``python -m harness {sweep,list,check,plot,report,compare,peak}`` (also ``convbench``).

``make_parser()`` builds the argparse tree without importing numba, pandas or
torch, so ``--help`` answers at once; ``main()`` dispatches to
:mod:`harness.commands`. Bad requests exit 2 with one line on stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import warnings
from pathlib import Path

import kernels

from . import settings as defaults
from .argtypes import (Parser, axis, backend_list, bounded, non_negative_float, positive_float, positive_int,
                       preset_name, probability)
from .backends import sweep_backend_names
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError, one_line
from .presets import build_presets


def add_plugin_option(p) -> None:
    """``--plugin``, repeatable."""
    p.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="import a Python file or module whose backends register with kernels.register (or "
                        "kernels.register_chain); repeatable")


def add_dir_options(p, results: str | None = None, plots: str | None = None) -> None:
    """``--results-dir`` and ``--plots-dir`` (each when its help is given): the one declaration of both."""
    if results:
        p.add_argument("--results-dir", default=defaults.RESULTS_DIR,
                       help=f"{results} (default: {defaults.RESULTS_DIR})")
    if plots:
        p.add_argument("--plots-dir", default=defaults.PLOTS_DIR, help=f"{plots} (default: {defaults.PLOTS_DIR})")


def add_baseline_option(p) -> None:
    """``--baseline``."""
    p.add_argument("--baseline", default=defaults.BASELINE,
                   help=f"backend the speedup plot is relative to (default {defaults.BASELINE})")


def add_case_options(p, default_preset: str) -> None:
    """The options that choose what to run: plugins, layers or preset, backends, axes, threads, budget."""
    presets = build_presets()
    add_plugin_option(p)
    what = p.add_mutually_exclusive_group()  # one source of layers: both given is an error, not a silent choice
    what.add_argument("--layers", default=None, metavar="FILE",
                      help="run the layers of a .toml or .csv layer file instead of a preset (see examples/)")
    what.add_argument("--preset", type=preset_name, default=default_preset,
                      help=f"layers and axes to run (default: {default_preset}); one of: {', '.join(presets)}")
    fused = [n for n in sweep_backend_names() if n not in kernels.list_backends()]
    p.add_argument("--backends", type=backend_list, default=None, metavar="A,B",
                   help=f"backends to run (default: {', '.join(kernels.default_backends())}, and "
                        f"{', '.join(fused) or 'the fused chains'} of those among them); registered: "
                        f"{', '.join(sweep_backend_names())}")
    p.add_argument("--axis", type=axis, action="append", default=[], metavar="NAME=V1,V2",
                   help="override an axis for every layer, e.g. --axis N=1,8 --axis k=3,5 "
                        "(N, C, H, W, F, k, stride, padding, dtype, threads); repeatable")
    p.add_argument("--dtype", choices=kernels.SUPPORTED_DTYPES, default=None, help="shorthand for --axis dtype=D")
    p.add_argument("--threads", type=positive_int, default=None, metavar="T",
                   help="threads for every backend (Numba, BLAS, torch); default: all cores")
    p.add_argument("--budget-s", type=positive_float, default=None, metavar="S",
                   help=f"time budget of one point in seconds, all its passes together (default: "
                        f"{defaults.SWEEP_BUDGET_S:g} for sweep, {defaults.CHECK_BUDGET_S:g} for check)")
    p.add_argument("--timeout-s", type=positive_float, default=None, metavar="S",
                   help="wall-clock limit of one pass of a point in its worker process; a kernel that hangs is "
                        "stopped and its row is failed (default: max(60, 20 x --budget-s), room for a first "
                        "call's JIT compile)")


def add_timing_options(p) -> None:
    """How a sweep times its points: CI target, settling, clock, cold rounds, passes."""
    p.add_argument("--target-rel-ci", type=positive_float, default=defaults.TARGET_REL_CI, metavar="F",
                   help="stop timing a point once the 95%% CI of its median is within this fraction "
                        f"(default {defaults.TARGET_REL_CI})")
    p.add_argument("--settle-s", type=bounded(non_negative_float, 0, defaults.MAX_SETTLE_S,
                                              "ten minutes of spinning is a typo"),
                   default=defaults.SETTLE_S, metavar="S",
                   help="spin every core this long before the first point and after idle gaps, and let each "
                        "point warm up until its speed is steady (at most this long more); 0 turns settling off "
                        f"(default {defaults.SETTLE_S:g})")
    p.add_argument("--clock", choices=defaults.CLOCKS, default="wall",
                   help="time CPU backends by wall time (default) or by the process's CPU time per thread "
                        "(process: time other processes hold the cores does not count; for a busy machine)")
    p.add_argument("--cold", action="store_true",
                   help="flush caches before every timed round (GPU L2, or CPU caches), one call per round")
    p.add_argument("--repeats", type=bounded(positive_int, 1, defaults.MAX_REPEATS, "more passes than that is a typo"),
                   default=defaults.REPEATS, metavar="R",
                   help="measure every point in R passes spread over the sweep, each with a fresh prepare and "
                        "1/R of the budget, and pool the samples of the passes that agree; passes that disagree "
                        f"are measured again, up to {defaults.MAX_EXTRA_PASSES} more (default {defaults.REPEATS})")
    p.add_argument("--fresh-peak", action="store_true",
                   help="re-measure this machine's roof (FMA GFLOP/s, memory GB/s; see `harness peak`) instead of "
                        "using the stored one (RESULTS_DIR/peak.json)")
    p.add_argument("--no-fused", action="store_true",
                   help="leave out every fused chain backend (numba-cpu-fused), even when named in --backends")


def add_cluster_options(p) -> None:
    """Where a sweep's points run: a Dask scheduler and how to use it, or this process."""
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run points on a Dask cluster: tcp://HOST:8786, or local:N for N local single-threaded "
                        "workers (needs the 'dask' extra)")
    p.add_argument("--no-bench-resource", dest="bench_resource", action="store_false",
                   help="with --scheduler: submit points without the worker resource bench=1, for workers started "
                        "without --resources bench=1 (points may then overlap on one host)")
    p.add_argument("--queue-timeout-s", type=positive_float, default=defaults.QUEUE_TIMEOUT_S, metavar="S",
                   help="with --scheduler: when points are queued and none has run or finished for S seconds (no "
                        f"worker can take them), record them as failed and end the sweep (default "
                        f"{defaults.QUEUE_TIMEOUT_S:g})")
    p.add_argument("--connect-timeout-s", type=positive_float, default=defaults.CONNECT_TIMEOUT_S, metavar="S",
                   help="with --scheduler: give up on an unreachable scheduler after S seconds (default "
                        f"{defaults.CONNECT_TIMEOUT_S:g})")
    p.add_argument("--in-process", action="store_true",
                   help="run kernels in the sweep's own process, without worker processes or timeouts "
                        "(debugging only: a hanging or crashing kernel then stops the sweep)")


def add_sweep_parser(sub) -> None:
    """``sweep``: the main job."""
    p = sub.add_parser("sweep", help="measure backends over a preset's layers (the main job)",
                       description="Check every backend against a float64 reference, then time it on every "
                       "case; write results/RUN_ID.csv (+ .samples.csv, .passes.jsonl, .json, .reduction.csv) and "
                       "plots/RUN_ID/. Exit 0 when measured, 2 for a bad request, 130 when interrupted, 75 when "
                       "the Dask scheduler went away (--resume the run).")
    add_case_options(p, defaults.DEFAULT_PRESET)
    add_timing_options(p)
    add_dir_options(p, results="where run tables go", plots="where plot folders go")
    p.add_argument("--run-id", default=None, help="name of this run (default: PRESET-DATE-TIME)")
    p.add_argument("--resume", default=None, metavar="RUN_ID",
                   help="continue an interrupted run with its original settings; measured points are kept")
    add_baseline_option(p)
    add_cluster_options(p)
    p.add_argument("--no-plots", action="store_true", help="do not draw plots")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML page plots/RUN_ID/index.html")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    p.add_argument("--history", nargs="?", const="", default=None, metavar="DB",
                   help="when the run finishes, record it in the history database DB (default: "
                        "RESULTS_DIR/history.sqlite); see `harness history --help`")


def make_parser() -> Parser:
    """The full argument parser (cheap to build: imports no numba, pandas or torch)."""
    parser = Parser(prog="harness", description="convbench: time 2-D convolution backends on real network "
                    "layers, record tidy tables, draw plots, and answer how much time a 1x1 reduction saves.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    add_sweep_parser(sub)

    p = sub.add_parser("list", help="backends (with availability) and presets",
                       description="Every backend, whether it runs here (or why not), every preset; --layers FILE: its layers.")
    add_plugin_option(p)
    p.add_argument("--layers", default=None, metavar="FILE", help="show what a layer file will run")

    p = sub.add_parser("check", help="correctness only: every backend vs the reference, no timing",
                       description="Run each backend once per case and compare with the float64 reference. "
                       "Exit 1 if any answer is wrong or a backend fails.")
    add_case_options(p, defaults.CHECK_PRESET)

    p = sub.add_parser("plot", help="redraw the plots of a saved run", description="Redraw plots/RUN_ID/*.png "
                       "from results/RUN_ID.csv and its metadata, without re-running anything.")
    p.add_argument("table", metavar="RUN", help="a run table (e.g. results/inception3a-20260101-120000.csv) or the "
                   "id of a run under --results-dir")
    add_dir_options(p, results="where run ids are looked up", plots="where plot folders go")
    add_baseline_option(p)

    p = sub.add_parser("report", help="write a run's self-contained HTML page (or the index of all runs)",
                       description="Write plots/RUN_ID/index.html for a run (its verdict, plots with captions, "
                       "summary table, problems, machine, reproduce command), or with --index plots/index.html "
                       "listing every run in the results directory.")
    p.add_argument("run", nargs="?", metavar="RUN", help="results/RUN_ID.csv or a run id")
    p.add_argument("--index", action="store_true", help="write the index of every run instead")
    add_dir_options(p, results="where run ids are looked up", plots="where pages go")
    add_compare_parser(sub)

    p = sub.add_parser("calibrate", help="A/A test: run one sweep twice and report this machine's false-alarm rate",
                       description="Measure the same preset twice on unchanged code and compare the runs at "
                       "thresholds from 2% to 50%: every slower/faster verdict is a false alarm. The table tells "
                       "which compare --threshold holds on this machine.")
    add_case_options(p, defaults.CHECK_PRESET)
    p.add_argument("--alpha", type=probability, default=defaults.ALPHA,
                   help=f"significance level of compare (default {defaults.ALPHA})")
    add_dir_options(p, results="where --keep leaves the two runs, calibrate-a and calibrate-b")
    p.add_argument("--keep", action="store_true", help="keep the two runs instead of a temporary folder")
    add_other_parsers(sub)
    return parser


def add_compare_parser(sub) -> None:
    """``compare``."""
    p = sub.add_parser("compare", help="compare two runs and flag significant slowdowns",
                       description="Judge each matched row by the interval of its time ratio (rounds' spread + run-to-run "
                       "noise floor): a regression when it lies wholly above 1 + --threshold, at any kernel size. Exit 0: "
                       "no regression; 1: a regression; 2: bad request; 3: inconclusive (some point could not be judged).")
    p.add_argument("base", metavar="BASE", help="baseline: results/RUN_ID.csv, a run id, or a pytest-benchmark JSON "
                                                "saved with --benchmark-save-data")
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


def add_other_parsers(sub) -> None:
    """``layers`` and ``peak``."""
    p = sub.add_parser("layers", help="write a layer file of a torch model's convolutions (for sweep --layers)",
                       description="Build a model without weights, run one forward pass on zeros with hooks on "
                       "every nn.Conv2d, and write a TOML layer file: identical shapes collapse into one layer "
                       "with a count; convolutions the kernels cannot run (groups, dilation, non-square) are "
                       "listed as comments with the reason. Needs torch (and torchvision/timm for those refs).")
    p.add_argument("--from", dest="source", required=True, metavar="REF",
                   help="torchvision:NAME, timm:NAME, or FILE.py:CALLABLE / MODULE:CALLABLE returning an nn.Module "
                        "(e.g. examples/models.py:resnet18)")
    p.add_argument("--input", default="1x3x224x224", metavar="NxCxHxW", help="input shape (default 1x3x224x224)")
    p.add_argument("--output", default=None, metavar="FILE", help="layer file to write (default: NAME.toml)")

    p = sub.add_parser("peak", help="this machine's roof: FMA GFLOP/s, memory GB/s and clock, beside BLAS GEMM",
                       description="Show (measure when none is stored, or --fresh) this machine's roof: a register-only "
                       "FMA loop per dtype on one and all cores, STREAM read/copy/triad, the clock, BLAS GEMM beside "
                       "them. Stored in RESULTS_DIR/peak.json unless measured on a busy machine; sweeps judge rows by it.")
    add_dir_options(p, results="where peak.json goes")
    p.add_argument("--fresh", action="store_true", help="measure again even when a roof is stored")
    p.add_argument("--seconds", type=bounded(positive_float, 0.05, 600, "shorter measures no peak; longer is a typo"),
                   default=1.0, help="measuring time in seconds, 0.05 to 600, shared by the figures (default 1)")
    add_history_parser(sub)


def add_history_parser(sub) -> None:
    """``history {add,check,plot,machines}``: the database of runs, change points, the seed question per machine."""
    p = sub.add_parser("history", help="record runs in a history database; change points; every machine side by side",
                       description="A database (SQLite, default results/history.sqlite) of every recorded run, keyed "
                       "by machine fingerprint, commit, date and point; change-point detection over each series; "
                       "figures; and the reduction study of every machine side by side.")
    verbs = p.add_subparsers(dest="history_command", metavar="VERB", parser_class=Parser)
    verbs.required = True
    db_help = "history database (default: results/history.sqlite)"
    a = verbs.add_parser("add", help="record runs and pytest-benchmark JSON files (a run already there adds nothing)")
    a.add_argument("runs", nargs="+", metavar="RUN", help="a run id, results/RUN_ID.csv or .json, or a "
                   "pytest-benchmark JSON saved with --benchmark-save-data")
    a.add_argument("--results-dir", default="results", help="where run ids are looked up (default: results)")
    a.add_argument("--db", default=None, help="history database (default: RESULTS_DIR/history.sqlite)")
    for name, what in (("check", "print the series whose newest change point is a slowdown beyond --threshold. "
                        "Exit 0: none; 1: a slowdown; 2: bad request; 3: a series too short or too noisy to judge"),
                       ("plot", "draw time per call over the runs (small multiples per machine and backend, "
                        "change points marked with their commit) and a page")):
        c = verbs.add_parser(name, help=what.split(". ")[0], description=what)
        c.add_argument("--db", default=None, help=db_help)
        c.add_argument("--threshold", type=positive_float, default=defaults.THRESHOLD,
                       help="relative step that counts (default 0.10 = 10%%)")
        c.add_argument("--min-runs", type=bounded(positive_int, 2, 100, "a change needs 2 to 100 runs after it"),
                       default=3, metavar="R", help="runs on each side of a change point (default 3)")
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
    m = verbs.add_parser("machines", help="the reduction study of every machine side by side (a table and a figure)")
    m.add_argument("--db", default=None, help=db_help)
    m.add_argument("--output", default="plots/history/machines.png", metavar="PNG",
                   help="the figure (default: plots/history/machines.png)")
    m.add_argument("--csv", metavar="FILE", default=None, help="also write the table (one row per machine, "
                   "backend, branch, batch and dtype) as CSV")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; return the exit code."""
    from .plugins import PluginError, load_entry_points, load_plugin, plugin_refs

    raw = argv if argv is not None else sys.argv[1:]
    try:  # plugins register backends, which the parser's --backends validation must already know
        load_entry_points()
        for ref in plugin_refs(raw):
            load_plugin(ref, probe=True)
    except PluginError as exc:
        sys.stderr.write(f"harness: error: {one_line(exc)}\n")
        return EXIT_USAGE
    try:
        args = make_parser().parse_args(raw)
    except SystemExit as exc:  # --help, or a bad option (already printed as one line): its exit code
        return int(exc.code or 0)
    args.argv = list(raw)
    from . import commands  # here: --help stays fast

    try:
        with warnings.catch_warnings():  # library warnings (a torn table line...) as the CLI's one-line warnings
            warnings.showwarning = one_line_warnings()
            return commands.run(args)
    except UsageError as exc:
        sys.stderr.write(f"harness: error: {one_line(exc)}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("harness: interrupted\n")
        return EXIT_INTERRUPTED


def one_line_warnings():
    """A ``warnings.showwarning`` for one command: the harness's own warnings as ``harness: warning: MESSAGE``,
    each once; any other warning (a library's deprecation...) is shown as Python would."""
    seen, others = set(), warnings.showwarning
    here = str(Path(__file__).resolve().parent)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not str(Path(filename).resolve()).startswith(here):
            others(message, category, filename, lineno, file, line)
            return
        text = one_line(message)
        if text not in seen:
            seen.add(text)
            sys.stderr.write(f"harness: warning: {text}\n")

    return show


def main_exit() -> None:
    """``main()`` as the exit code of ``python -m harness`` / ``convbench``, not waiting for threads a plugin or
    kernel left running (Python would join them forever)."""
    code = main()
    stray = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stray:
        sys.stderr.write(f"harness: warning: exiting without waiting for {len(stray)} thread(s) still running "
                         f"({one_line(', '.join(stray))[:200]}), started by a plugin or kernel\n")
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)
