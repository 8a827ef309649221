"""A sweep request made ready: CLI arguments as settings, settings checked, the machine looked at, cases built.

The CLI turns its parsed arguments into :class:`harness.settings.SweepSettings` and
:class:`harness.settings.RunOptions` here (:func:`settings_of_args`, :func:`options_of_args`);
:func:`harness.sweep` builds the same objects from its keywords. From there both go the one
way of :func:`harness.commands.sweep.execute`: :func:`checked_settings` (values, plugins,
backends) and :func:`prepare_sweep` (baseline, scheduler, cases), each
failing with one :class:`harness.errors.UsageError` before anything is written.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..abhalves import is_twin
from ..against import base_folder, is_base_plugin, plugin_file, register_base, release_other_bases, with_twins
from ..backends import session_plugins, sweep_backends
from ..cluster import check_dask, parse_scheduler
from ..cluster_checks import ClusterOptions, preflight
from ..errors import UsageError
from ..metadata import process_started_at
from ..plan import resolve_cases
from ..plugins import PluginError, load_plugin, unimportable_backends, unload_plugin
from ..settings import SWEEP_BUDGET_S, RunOptions, SweepSettings
from .common import check_baseline

#: Options ``--resume`` accepts besides itself: where files go, what is printed, how points are run.
RESUME_OPTIONS = ("--resume", "--results-dir", "--plots-dir", "--quiet", "--no-plots", "--no-report", "--plugin",
                  "--timeout-s", "--in-process", "--fresh-peak", "--history")


def resume_conflicts(argv: list[str]) -> list[str]:
    """The options in ``argv`` that ``--resume`` cannot honour (the run keeps its own settings)."""
    given = [a.split("=", 1)[0] for a in argv if a.startswith("--")]
    return list(dict.fromkeys(a for a in given if a not in RESUME_OPTIONS))


def settings_of_args(args, budget_s: float = SWEEP_BUDGET_S) -> SweepSettings:
    """The settings of a parsed ``sweep`` (``check``, ``calibrate``) command line; options a command lacks keep
    their defaults (``budget_s`` is the command's own)."""
    values = {name: getattr(args, name) for name in SweepSettings.__dataclass_fields__
              if getattr(args, name, None) is not None}
    values.update(plugins=list(getattr(args, "plugin", None) or []), fused=not getattr(args, "no_fused", False),
                  axes=[[name, list(vals)] for name, vals in getattr(args, "axis", None) or []],
                  backends=list(getattr(args, "backends", None) or []))
    values.setdefault("budget_s", budget_s)
    return SweepSettings(**values)


def options_of_args(args) -> RunOptions:
    """The run options of a parsed ``sweep`` command line (the run's wall time counts from process start)."""
    resume_with = {"timeout_s": args.timeout_s} if args.timeout_s is not None else {}
    if args.in_process:
        resume_with["in_process"] = True
    return RunOptions(results_dir=args.results_dir, plots_dir=args.plots_dir, run_id=args.run_id, resume=args.resume,
                      plots=not args.no_plots, report=not args.no_report, quiet=args.quiet,
                      fresh_peak=args.fresh_peak, command=["python", "-m", "harness", *args.argv],
                      started_at=process_started_at(), resume_with=resume_with)


def checked_settings(settings: SweepSettings) -> SweepSettings:
    """``settings`` with its values checked, its plugins loaded (and the session's ones added) and its backends
    resolved (:func:`harness.backends.sweep_backends`); UsageError naming what is wrong."""
    try:
        settings.check()
        twins = load_plugins(settings)
        settings.plugins = session_plugins(list(settings.plugins), settings.backends)
        settings.backends = sweep_backends(settings.backends, settings.fused)
        if twins:
            settings.backends, missing = with_twins(settings.backends, twins)
            if not any(is_twin(b) for b in settings.backends):
                raise ValueError(f"--against: the base build has none of the backends {', '.join(settings.backends)}: "
                                 "nothing to compare; name backends it has")
            if missing:
                warnings.warn(f"the base build has no backend {', '.join(missing)}: measured in this build only, "
                              "with nothing to compare against", stacklevel=2)
    except (TypeError, ValueError, PluginError) as exc:
        raise UsageError(str(exc)) from None
    return settings


def load_plugins(settings: SweepSettings, probe: bool = False) -> list[str]:
    """Register the run's backends from outside: the base build of an A/B run (:func:`base_build_plugin`) and
    every other plugin of ``settings.plugins`` (``probe``: each first in a throw-away process); the base
    build's twins (``NAME@base``, [] for a run without one). ValueError / PluginError naming the problem."""
    twins = base_build_plugin(settings)
    for ref in settings.plugins:
        if not is_base_plugin(ref):  # the base build's twins are registered already
            load_plugin(ref, probe=probe)
    return twins


def base_build_plugin(settings: SweepSettings) -> list[str]:
    """For an A/B run (``against``): unpack the base build's kernels where needed (again for a resumed run whose
    unpacked copy was cleared), register them here as ``NAME@base`` (replacing another base build's), add the
    plugin that registers them in worker processes to ``settings.plugins`` and pin ``against`` to their
    folder; the twins' names ([] for a run without a base build). ValueError naming a base build that cannot
    be used."""
    if settings.against is None:
        return []
    ref = os.fspath(settings.against)
    folder = base_folder(ref)
    for old in release_other_bases(folder):
        unload_plugin(old)
    try:  # here, not as a plugin: a broken base build is named as such, not as the generated plugin
        twins = register_base(folder)
    except BaseException as exc:  # noqa: BLE001 - its import may even call sys.exit
        if isinstance(exc, KeyboardInterrupt):
            raise
        where = f" ({Path(exc.filename).name} line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.filename \
            else ""
        what = exc.msg if isinstance(exc, SyntaxError) else exc
        raise ValueError(f"--against {ref}: the base build's kernels do not import{where}: "
                         f"{type(exc).__name__}: {what}") from None
    plugin = str(plugin_file(folder))
    if plugin not in settings.plugins:
        settings.plugins.append(plugin)
    settings.against = str(folder)
    return twins


def prepare_sweep(settings: SweepSettings):
    """(preset, cases) of checked ``settings``, after the checks that need no file: the baseline, backends a
    worker cannot import, the scheduler. UsageError naming the problem."""
    check_baseline(settings.baseline)
    interactive = [] if settings.in_process else unimportable_backends(settings.backends)
    if interactive:
        raise UsageError(f"backend(s) {', '.join(interactive)} were defined in this notebook or REPL, which worker "
                         "processes cannot import: save the class to a .py file and pass it as a plugin "
                         "(plugin=PATH / --plugin PATH), or measure in this process (in_process=True / --in-process)")
    try:
        preset, cases = resolve_cases(settings)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise UsageError(f"{type(exc).__name__}: {exc}" if isinstance(exc, RecursionError) else str(exc)) from None
    check_scheduler(settings)
    return preset, cases


def check_scheduler(settings: SweepSettings) -> None:
    """Refuse a malformed ``--scheduler``, a missing Dask, an unreachable scheduler, or one without a worker
    that can take the points (the message says how to start one); warn about a partial cluster."""
    if not settings.scheduler or settings.in_process:
        return
    try:
        kind, where = parse_scheduler(settings.scheduler)
        check_dask()
        for warning in preflight(kind, where, ClusterOptions.of(settings)):
            warnings.warn(warning, stacklevel=2)
    except (ValueError, ImportError) as exc:
        raise UsageError(str(exc)) from None
