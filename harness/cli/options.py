"""Options several verbs share, each declared once: directories, plugins, the baseline, the cases to measure,
the timing protocol, the Dask cluster."""
from __future__ import annotations

import kernels

from .. import settings as defaults
from ..argtypes import axis, backend_list, bounded, non_negative_float, positive_float, positive_int, preset_name
from ..backends import sweep_backend_names
from ..presets import build_presets


def add_dir_options(p, results: str | None = None, plots: str | None = None) -> None:
    """``--results-dir`` and ``--plots-dir`` (each when its help is given): the one declaration of both."""
    if results:
        p.add_argument("--results-dir", default=defaults.RESULTS_DIR,
                       help=f"{results} (default: {defaults.RESULTS_DIR})")
    if plots:
        p.add_argument("--plots-dir", default=defaults.PLOTS_DIR, help=f"{plots} (default: {defaults.PLOTS_DIR})")


def add_plugin_option(p) -> None:
    """``--plugin``, repeatable."""
    p.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="import a Python file or module whose backends register with kernels.register (or "
                        "kernels.register_chain); repeatable")


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
    p.add_argument("--target-rel-ci", type=bounded(positive_float, 0, defaults.MAX_TARGET_REL_CI,
                                                   "a fraction of the median: 0.02 is 2%"),
                   default=defaults.TARGET_REL_CI, metavar="F",
                   help="stop timing a point once the 95%% CI of its median is within this fraction, at most "
                        f"{defaults.MAX_TARGET_REL_CI:g} (default {defaults.TARGET_REL_CI})")
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
    p.add_argument("--fresh-workers", action="store_true",
                   help="start every backend's worker process anew before each round of passes, so a point's passes "
                        "run in different processes and what a process decides once (oneDNN's algorithm, where "
                        "buffers landed) varies between them as between runs; for a gate whose A/A runs disagree "
                        "per process. Costs 20-35%% more time (docs/measurements/compare-log.md)")
    p.add_argument("--against", default=None, metavar="REF",
                   help="A/B run: also time the kernels of another build - a git commit of this checkout "
                        "(HEAD~1, main, a sha) or a folder holding its kernels package - as NAME@base, each case by "
                        "both builds one after the other, so both meet the same machine; judge it with "
                        "`harness compare RUN@base RUN` (docs/compare.md)")
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
