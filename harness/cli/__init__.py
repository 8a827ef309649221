"""Command line: ``python -m harness {sweep,list,check,plot,report,compare,calibrate,peak,layers,history}``
(also ``convbench``).

``make_parser()`` builds the argparse tree without importing numba, pandas or
torch, so ``--help`` answers at once; ``main()`` dispatches to
:mod:`harness.commands`. Bad requests exit 2 with one line on stderr.
"""
from __future__ import annotations

import os
import errno
import sys
import threading
import warnings
from pathlib import Path

from .. import commands
from .. import settings as defaults
from ..argtypes import Parser, bounded, positive_float, probability
from ..errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError, one_line
from ..plugins import PluginError, load_entry_points, load_plugin, plugin_refs
from .judging import add_compare_parser, add_history_parser
from .options import (add_baseline_option, add_case_options, add_cluster_options, add_dir_options,
                      add_plugin_option, add_timing_options)


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
                       "which compare --threshold holds on this machine. Each backend's run-to-run spread is stored as this CPU "
                       "model's noise floor in RESULTS_DIR/noise.json, which later compare runs use (a calibration "
                       "at a tiny --budget-s stores a wide floor).")
    add_case_options(p, defaults.CHECK_PRESET)
    p.add_argument("--alpha", type=probability, default=defaults.ALPHA,
                   help=f"significance level of compare (default {defaults.ALPHA})")
    add_dir_options(p, results="where the noise floor is stored (noise.json) and --keep leaves the two runs, "
                                "calibrate-a and calibrate-b")
    p.add_argument("--keep", action="store_true", help="keep the two runs instead of a temporary folder")
    p.add_argument("--drift-s", type=bounded(positive_float, 1, defaults.MAX_DRIFT_S, "1 s to an hour"),
                   metavar="S", help="instead of the two sweeps: time fixed one-thread kernels (a NumPy GEMM, "
                   "numba-cpu and torch on a 5x5 layer) in turn, 0.5 s each, for S seconds, and print how far this "
                   "machine's own speed drifts and how often two such windows agree within +/-10%% - the most any "
                   "benchmark this long can agree run to run here (try 60)")
    add_other_parsers(sub)
    return parser


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
    p.add_argument("--input", default="1x3x224x224", metavar="NxCxHxW",
                   help="input shape (default 1x3x224x224; at most 2**28 elements, a 1 GiB float32 tensor)")
    p.add_argument("--output", default=None, metavar="FILE", help="layer file to write (default: NAME.toml)")

    p = sub.add_parser("peak", help="this machine's roof: FMA GFLOP/s, memory GB/s and clock, beside BLAS GEMM",
                       description="Show (measure when none is stored, or --fresh) this machine's roof: a register-only "
                       "FMA loop per dtype on one and all cores, STREAM read/copy/triad, the clock, BLAS GEMM beside "
                       "them. Stored in RESULTS_DIR/peak.json unless measured on a busy machine; sweeps judge rows by it.")
    add_dir_options(p, results="where peak.json goes")
    p.add_argument("--fresh", action="store_true", help="measure again even when a roof is stored")
    p.add_argument("--seconds", type=bounded(positive_float, 0.05, 600, "shorter measures no peak; longer is a typo"),
                   default=None, help="measuring time in seconds, 0.05 to 600, shared by the figures (default 1); "
                   "given, it measures again as --fresh does (a stored roof has its own)")
    add_history_parser(sub)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; return the exit code."""
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
    stdout, sys.stdout = sys.stdout, ReaderMayGo(sys.stdout)
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
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # a path no file system takes (Path.is_file raises it): the request
            name = str(exc.filename or "")
            sys.stderr.write(f"harness: error: file name too long: {name[:60]}{'...' if len(name) > 60 else ''} "
                             f"({len(name)} characters; a file name holds at most 255 bytes)\n")
        else:  # the disk or the file system (full, read-only, gone): one line and 2, never 1 (a regression found)
            where = f" ({exc.filename})" if exc.filename else ""
            sys.stderr.write(f"harness: error: {one_line(exc.strerror or exc)}{where}\n")
        return EXIT_USAGE
    finally:
        sys.stdout.flush()  # what is still buffered meets a closed reader here, not in the interpreter's last flush
        sys.stdout = stdout


class ReaderMayGo:
    """Standard output whose reader may go away (``| head``): from then on the rest goes to /dev/null and the
    command keeps its own exit code (``compare``'s 0/1/3), where a BrokenPipeError would end it."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        """Write ``text``; on a closed reader, send it and the rest to /dev/null."""
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self.reader_gone()
            return len(text)

    def flush(self) -> None:
        """Flush, as :meth:`write` does."""
        try:
            self.stream.flush()
        except BrokenPipeError:
            self.reader_gone()

    def reader_gone(self) -> None:
        """Point the stream's file descriptor at /dev/null (the interpreter's last flush then succeeds too)."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self.stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def one_line_warnings():
    """A ``warnings.showwarning`` for one command: the harness's own warnings as ``harness: warning: MESSAGE``,
    each once; any other warning (a library's deprecation...) is shown as Python would."""
    seen, others = set(), warnings.showwarning
    here = str(Path(__file__).resolve().parent.parent)  # the harness package

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
