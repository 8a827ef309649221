"""Command line: ``python -m harness {sweep,list,check,plot,report,compare,peak}`` (also ``convbench``).

``make_parser()`` builds the argparse tree without importing numba, pandas or
torch, so ``--help`` answers at once; ``main()`` dispatches to
:mod:`harness.commands`. Bad requests exit 2 with one line on stderr.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import kernels

from . import settings as defaults
from .argtypes import (Parser, axis, backend_list, bounded, non_negative_float, positive_float, positive_int,
                       preset_name, probability)
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from .presets import build_presets


def add_plugin_option(p) -> None:
    """``--plugin``, repeatable."""
    p.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="import a Python file or module whose backends register with kernels.register; repeatable")


def add_case_options(p, default_preset: str) -> None:
    """The options that choose what to run: plugins, layers or preset, backends, axes, threads, budget."""
    presets = build_presets()
    add_plugin_option(p)
    what = p.add_mutually_exclusive_group()  # one source of layers: both given is an error, not a silent choice
    what.add_argument("--layers", default=None, metavar="FILE",
                      help="run the layers of a .toml or .csv layer file instead of a preset (see examples/)")
    what.add_argument("--preset", type=preset_name, default=default_preset,
                      help=f"layers and axes to run (default: {default_preset}); one of: {', '.join(presets)}")
    p.add_argument("--backends", type=backend_list, default=None, metavar="A,B",
                   help=f"backends to run (default: {', '.join(kernels.default_backends())}); "
                        f"registered: {', '.join(kernels.list_backends())}")
    p.add_argument("--axis", type=axis, action="append", default=[], metavar="NAME=V1,V2",
                   help="override an axis for every layer, e.g. --axis N=1,8 --axis k=3,5 "
                        "(N, C, H, W, F, k, stride, padding, dtype, threads); repeatable")
    p.add_argument("--dtype", choices=kernels.SUPPORTED_DTYPES, default=None, help="shorthand for --axis dtype=D")
    p.add_argument("--threads", type=positive_int, default=None, metavar="T",
                   help="threads for every backend (Numba, BLAS, torch); default: all cores")
    p.add_argument("--budget-s", type=positive_float, default=None, metavar="S",
                   help=f"time budget per point in seconds (default: {defaults.SWEEP_BUDGET_S:g} for sweep, "
                        f"{defaults.CHECK_BUDGET_S:g} for check)")
    p.add_argument("--timeout-s", type=positive_float, default=None, metavar="S",
                   help="wall-clock limit of one pass of a point in its worker process; a kernel that hangs is "
                        "stopped and its row is failed (default: max(60, 20 x --budget-s), room for a first "
                        "call's JIT compile)")


def make_parser() -> Parser:
    """The full argument parser (cheap to build: imports no numba, pandas or torch)."""
    parser = Parser(prog="harness", description="convbench: time 2-D convolution backends on real network "
                    "layers, record tidy tables, draw plots, and answer how much time a 1x1 reduction saves.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    parser.commands = sub.choices  # {name: its parser}, for the Python API's keyword checks

    p = sub.add_parser("sweep", help="measure backends over a preset's layers (the main job)",
                       description="Check every backend against a float64 reference, then time it on every "
                       "case; write results/RUN_ID.csv (+ .samples.csv, .json, .reduction.csv) and plots/RUN_ID/.")
    add_case_options(p, "inception3a")
    p.add_argument("--target-rel-ci", type=positive_float, default=defaults.TARGET_REL_CI, metavar="F",
                   help="stop timing a point once the 95%% CI of its median is within this fraction "
                        f"(default {defaults.TARGET_REL_CI})")
    p.add_argument("--settle-s", type=bounded(non_negative_float, 0, 600, "ten minutes of spinning is a typo"),
                   default=defaults.SETTLE_S, metavar="S",
                   help="spin every core this long before the first point and after idle gaps, and let each "
                        "point warm up until its speed is steady (at most this long more); 0 turns settling off "
                        f"(default {defaults.SETTLE_S:g})")
    p.add_argument("--fresh-peak", action="store_true",
                   help="re-measure this machine's peak GEMM GFLOP/s and copy GB/s instead of using the cached one "
                        "(RESULTS_DIR/peak.json, per CPU model and thread count)")
    p.add_argument("--no-fused", action="store_true",
                   help="do not measure the fused reduce+conv kernel (numba-cpu-fused) on the preset's reduction "
                        "branches (it runs when numba-cpu does)")
    p.add_argument("--cold", action="store_true",
                   help="flush caches before every timed round (GPU L2, or CPU caches), one call per round")
    p.add_argument("--repeats", type=bounded(positive_int, 1, 1000, "more passes than that is a typo"),
                   default=defaults.REPEATS, metavar="R",
                   help="measure every point in R passes spread over the sweep, each with a fresh prepare and "
                        f"1/R of the budget, and pool the samples: robust to bursts of interference (default {defaults.REPEATS})")
    p.add_argument("--results-dir", default="results", help="where run tables go (default: results)")
    p.add_argument("--plots-dir", default="plots", help="where plot folders go (default: plots)")
    p.add_argument("--run-id", default=None, help="name of this run (default: PRESET-DATE-TIME)")
    p.add_argument("--resume", default=None, metavar="RUN_ID",
                   help="continue an interrupted run with its original settings; measured points are kept")
    p.add_argument("--baseline", default=defaults.BASELINE,
                   help=f"backend the speedup plot is relative to (default {defaults.BASELINE})")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run points on a Dask cluster: tcp://HOST:8786, or local:N for N local single-threaded "
                        "workers (needs the 'dask' extra)")
    p.add_argument("--no-bench-resource", dest="bench_resource", action="store_false",
                   help="with --scheduler: submit points without the worker resource bench=1, for workers started "
                        "without --resources bench=1 (points may then overlap on one host)")
    p.add_argument("--queue-timeout-s", type=positive_float, default=120.0, metavar="S",
                   help="with --scheduler: when points are queued and none has run or finished for S seconds (no "
                        "worker can take them), record them as failed and end the sweep (default 120)")
    p.add_argument("--connect-timeout-s", type=positive_float, default=10.0, metavar="S",
                   help="with --scheduler: give up on an unreachable scheduler after S seconds (default 10)")
    p.add_argument("--in-process", action="store_true",
                   help="run kernels in the sweep's own process, without worker processes or timeouts "
                        "(debugging only: a hanging or crashing kernel then stops the sweep)")
    p.add_argument("--no-plots", action="store_true", help="do not draw plots")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML page plots/RUN_ID/index.html")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    p.add_argument("--history", nargs="?", const="", default=None, metavar="DB",
                   help="when the run finishes, record it in the history database DB (default: "
                        "RESULTS_DIR/history.sqlite); see `harness history --help`")

    p = sub.add_parser("list", help="backends (with availability) and presets",
                       description="List every registered backend, whether it can run here (and why not), "
                       "and every preset; with --layers, the layers of a layer file and their FLOPs.")
    add_plugin_option(p)
    p.add_argument("--layers", default=None, metavar="FILE", help="show what a layer file will run")

    p = sub.add_parser("check", help="correctness only: every backend vs the reference, no timing",
                       description="Run each backend once per case and compare with the float64 reference. "
                       "Exit 1 if any answer is wrong or a backend fails.")
    add_case_options(p, "smoke")

    p = sub.add_parser("plot", help="redraw the plots of a saved run", description="Redraw plots/RUN_ID/*.png "
                       "from results/RUN_ID.csv and its metadata, without re-running anything.")
    p.add_argument("table", metavar="RUN", help="a run table (e.g. results/inception3a-20260101-120000.csv) or the "
                   "id of a run under results/")
    p.add_argument("--plots-dir", default="plots", help="where plot folders go (default: plots)")
    p.add_argument("--baseline", default=defaults.BASELINE,
                   help=f"backend the speedup plot is relative to (default {defaults.BASELINE})")

    p = sub.add_parser("report", help="write a run's self-contained HTML page (or the index of all runs)",
                       description="Write plots/RUN_ID/index.html for a run (its verdict, plots with captions, "
                       "summary table, problems, machine, reproduce command), or with --index plots/index.html "
                       "listing every run in the results directory.")
    p.add_argument("run", nargs="?", metavar="RUN", help="results/RUN_ID.csv or a run id")
    p.add_argument("--index", action="store_true", help="write the index of every run instead")
    p.add_argument("--results-dir", default="results", help="where run ids are looked up (default: results)")
    p.add_argument("--plots-dir", default="plots", help="where pages go (default: plots)")

    p = sub.add_parser("compare", help="compare two runs and flag significant slowdowns",
                       description="Match rows of two runs, test per-round samples with Mann-Whitney U, and "
                       "flag regressions (slower by more than --threshold, significant, and beyond the run-to-run "
                       "noise floor). Exit 0: nothing regressed; 1: a regression; 2: bad request or nothing in "
                       "common; 3: inconclusive (no regression found, but some matched point could not be judged).")
    p.add_argument("base", metavar="BASE", help="baseline: results/RUN_ID.csv, a run id, or a pytest-benchmark JSON "
                                                "saved with --benchmark-save-data")
    p.add_argument("new", metavar="NEW", help="new run: the same kinds as BASE")
    p.add_argument("--threshold", type=positive_float, default=defaults.THRESHOLD,
                   help="relative slowdown that counts (default 0.10 = 10%%)")
    p.add_argument("--alpha", type=probability, default=defaults.ALPHA,
                   help=f"significance level (default {defaults.ALPHA})")
    p.add_argument("--min-delta-s", type=non_negative_float, default=defaults.MIN_DELTA_S, metavar="S",
                   help="smallest change of a median, in seconds, that can count (default 1e-05: microsecond "
                        "kernels differ by a few microseconds of call overhead from process to process)")
    p.add_argument("--allow-inconclusive", action="store_true",
                   help="exit 0 instead of 3 when nothing regressed but some points could not be judged")
    p.add_argument("--results-dir", default="results", help="where run ids are looked up (default: results)")
    p.add_argument("--markdown", metavar="FILE", default=None, help="also write the comparison as Markdown")
    p.add_argument("--plot", metavar="PNG", default=None, help="also draw the per-row ratio with its CI")
    p.add_argument("--html", metavar="FILE", default=None, help="also write the comparison as an HTML page")

    p = sub.add_parser("calibrate", help="A/A test: run one sweep twice and report this machine's false-alarm rate",
                       description="Measure the same preset twice on unchanged code and compare the runs at "
                       "thresholds from 2% to 50%: every slower/faster verdict is a false alarm. The table tells "
                       "which compare --threshold holds on this machine.")
    add_case_options(p, "smoke")
    p.add_argument("--alpha", type=probability, default=defaults.ALPHA,
                   help=f"significance level of compare (default {defaults.ALPHA})")
    p.add_argument("--results-dir", default="results",
                   help="where --keep leaves the two runs, calibrate-a and calibrate-b (default: results)")
    p.add_argument("--keep", action="store_true", help="keep the two runs instead of a temporary folder")

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

    p = sub.add_parser("peak", help="measure this machine's peak GEMM FLOP/s and copy bandwidth",
                       description="Time a large float32/float64 GEMM through BLAS and a large copy; store "
                       "the result in RESULTS_DIR/peak.json for the roofline plot and run metadata.")
    p.add_argument("--results-dir", default="results", help="where peak.json goes (default: results)")
    p.add_argument("--seconds", type=bounded(positive_float, 0.05, 600, "shorter measures no peak; longer is a typo"),
                   default=1.0, help="time per measurement, 0.05 to 600 (default 1)")
    add_history_parser(sub)
    return parser


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
            load_plugin(ref)
    except PluginError as exc:
        sys.stderr.write(f"harness: error: {exc}\n")
        return EXIT_USAGE
    try:
        args = make_parser().parse_args(raw)
    except SystemExit as exc:  # --help, or a bad option (already printed as one line): its exit code
        return int(exc.code or 0)
    args.argv = list(raw)
    from . import commands

    try:
        with warnings.catch_warnings():  # library warnings (a torn table line...) as the CLI's one-line warnings
            warnings.showwarning = one_line_warnings()
            return commands.run(args)
    except UsageError as exc:
        sys.stderr.write(f"harness: error: {' '.join(str(exc).split())}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("harness: interrupted\n")
        return EXIT_INTERRUPTED


def one_line_warnings():
    """A ``warnings.showwarning`` for one command: the harness's own warnings as ``harness: warning: MESSAGE``
    on stderr, each message once; any other warning (a library's deprecation...) is shown as Python would."""
    seen, others = set(), warnings.showwarning
    here = str(Path(__file__).resolve().parent)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not str(Path(filename).resolve()).startswith(here):
            others(message, category, filename, lineno, file, line)
            return
        text = " ".join(str(message).split())
        if text not in seen:
            seen.add(text)
            sys.stderr.write(f"harness: warning: {text}\n")

    return show


def main_exit() -> None:
    """Entry point of the ``convbench`` console script: ``main()`` as the process's exit code."""
    raise SystemExit(main())
