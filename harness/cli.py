"""Command line: ``python -m harness {sweep,list,check,plot,report,compare,peak}`` (also ``convbench``).

``make_parser()`` builds the argparse tree without importing numba, pandas or
torch, so ``--help`` answers at once; ``main()`` dispatches to
:mod:`harness.commands`. Bad requests exit 2 with one line on stderr.
"""
from __future__ import annotations

import argparse
import sys

import kernels

from . import settings as defaults
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from .presets import build_presets


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_USAGE)


def backend_list(text: str) -> list[str]:
    """Parse ``a,b`` into registered backend names (argparse type)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in kernels.list_backends()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown backend(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from: {', '.join(kernels.list_backends())}")
    return list(dict.fromkeys(names))


def preset_name(text: str) -> str:
    """A known preset name (argparse type)."""
    presets = build_presets()
    if text not in presets:
        raise argparse.ArgumentTypeError(f"unknown preset {text!r}; choose from: {', '.join(presets)}")
    return text


def axis(text: str) -> tuple[str, tuple]:
    """``NAME=v1,v2`` (argparse type)."""
    from .cases import parse_axis

    try:
        return parse_axis(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def number(text: str, cast, minimum, strict: bool):
    """``text`` as a finite ``cast`` (int/float) >= ``minimum`` (> with ``strict``), else ArgumentTypeError."""
    try:
        value = cast(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if cast is int else 'a number'}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    if value < minimum or (strict and value == minimum):
        raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}, got {text}")
    return value


def positive_float(text: str) -> float:
    """A float > 0 (argparse type)."""
    return number(text, float, 0, strict=True)


def non_negative_float(text: str) -> float:
    """A float >= 0 (argparse type)."""
    return number(text, float, 0, strict=False)


def positive_int(text: str) -> int:
    """An int >= 1 (argparse type)."""
    return number(text, int, 1, strict=False)


def add_plugin_option(p) -> None:
    """``--plugin``, repeatable."""
    p.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="import a Python file or module whose backends register with kernels.register; repeatable")


def add_case_options(p, default_preset: str) -> None:
    """The options that choose what to run: plugins, layers or preset, backends, axes, threads, budget."""
    presets = build_presets()
    add_plugin_option(p)
    p.add_argument("--layers", default=None, metavar="FILE",
                   help="run the layers of a .toml or .csv layer file instead of a preset (see examples/)")
    p.add_argument("--preset", type=preset_name, default=default_preset,
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

    p = sub.add_parser("sweep", help="measure backends over a preset's layers (the main job)",
                       description="Check every backend against a float64 reference, then time it on every "
                       "case; write results/RUN_ID.csv (+ .samples.csv, .json, .reduction.csv) and plots/RUN_ID/.")
    add_case_options(p, "inception3a")
    p.add_argument("--target-rel-ci", type=positive_float, default=defaults.TARGET_REL_CI, metavar="F",
                   help="stop timing a point once the 95%% CI of its median is within this fraction "
                        f"(default {defaults.TARGET_REL_CI})")
    p.add_argument("--cold", action="store_true",
                   help="flush caches before every timed round (GPU L2, or CPU caches), one call per round")
    p.add_argument("--repeats", type=positive_int, default=defaults.REPEATS, metavar="R",
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
    p.add_argument("--in-process", action="store_true",
                   help="run kernels in the sweep's own process, without worker processes or timeouts "
                        "(debugging only: a hanging or crashing kernel then stops the sweep)")
    p.add_argument("--no-plots", action="store_true", help="do not draw plots")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML page plots/RUN_ID/index.html")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")

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
    p.add_argument("table", metavar="RESULTS.csv", help="a run table, e.g. results/inception3a-20260101-120000.csv")
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
                       "flag regressions (slower by more than --threshold and significant). Exit 1 on a regression.")
    p.add_argument("base", metavar="BASE", help="baseline run: results/RUN_ID.csv or a run id")
    p.add_argument("new", metavar="NEW", help="new run: results/RUN_ID.csv or a run id")
    p.add_argument("--threshold", type=positive_float, default=defaults.THRESHOLD,
                   help="relative slowdown that counts (default 0.10 = 10%%)")
    p.add_argument("--alpha", type=positive_float, default=defaults.ALPHA,
                   help=f"significance level (default {defaults.ALPHA})")
    p.add_argument("--min-delta-s", type=non_negative_float, default=defaults.MIN_DELTA_S, metavar="S",
                   help="smallest change of a median, in seconds, that can count (default 1e-05: microsecond "
                        "kernels differ by a few microseconds of call overhead from process to process)")
    p.add_argument("--results-dir", default="results", help="where run ids are looked up (default: results)")
    p.add_argument("--markdown", metavar="FILE", default=None, help="also write the comparison as Markdown")
    p.add_argument("--plot", metavar="PNG", default=None, help="also draw the per-row ratio with its CI")
    p.add_argument("--html", metavar="FILE", default=None, help="also write the comparison as an HTML page")

    p = sub.add_parser("peak", help="measure this machine's peak GEMM FLOP/s and copy bandwidth",
                       description="Time a large float32/float64 GEMM through BLAS and a large copy; store "
                       "the result in RESULTS_DIR/peak.json for the roofline plot and run metadata.")
    p.add_argument("--results-dir", default="results", help="where peak.json goes (default: results)")
    p.add_argument("--seconds", type=positive_float, default=1.0, help="time per measurement (default 1)")
    return parser


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
    args = make_parser().parse_args(raw)
    args.argv = list(raw)
    from . import commands

    try:
        return commands.run(args)
    except UsageError as exc:
        sys.stderr.write(f"harness: error: {' '.join(str(exc).split())}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("harness: interrupted\n")
        return EXIT_INTERRUPTED


def main_exit() -> None:
    """Entry point of the ``convbench`` console script: ``main()`` as the process's exit code."""
    raise SystemExit(main())
