"""``harness sweep``: measure backends over a preset's cases, write the run's files, draw, summarise.

:func:`execute` is the sweep of the CLI and of :func:`harness.sweep` alike: settings and run
options in, the run's files out. A bad request is a :class:`harness.errors.UsageError`
raised before any file is written (the executor's workers start first, so one that cannot
start is a bad request too); an interrupt is a ``KeyboardInterrupt`` and a lost cluster a
:class:`harness.cluster_checks.ClusterLost`, each saying how to ``--resume``. :func:`run` is
the CLI's: parsed arguments in, exit code out.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from ..backends import sweep_backend_names
from ..cases import most_threads
from ..cluster_checks import ClusterLost
from ..engine import claim_run, lock_run, new_metadata, open_executor, sweep_locked
from ..errors import EXIT_CLUSTER_LOST, EXIT_INTERRUPTED, UsageError
from ..metadata import now_iso
from ..outputs import write_outputs
from ..peak_store import cached_peak, check_peak_file
from ..plan import iter_points, planned_passes, unsupported_layers
from ..plugins import PluginError
from ..probe import FIRST_PROBE, PROBE_VERSION
from ..render.console import SweepProgress
from ..results import RUN_SCHEMA_VERSION, RunFiles, check_run_id, read_metadata
from ..resume import Progress, load_progress
from ..settings import RunOptions, SweepSettings
from ..settle import Settler, busy_machine
from .common import writable_dir, writing
from .history import check_history_target, record_run
from .sweep_request import (checked_settings, load_plugins, options_of_args, prepare_sweep, resume_conflicts,
                            settings_of_args)


#: A layer file this big takes a second or more to read (a million layers: a few): the sweep says so first.
BIG_LAYER_FILE_BYTES = 4 << 20


def say_reading(layers: str | None, quiet: bool) -> None:
    """One line on stderr before a big layer file is read, so that a huge sweep says at once what it is doing."""
    path = Path(layers) if layers else None
    size = path.stat().st_size if path is not None and path.is_file() else 0
    if not quiet and size >= BIG_LAYER_FILE_BYTES:
        sys.stderr.write(f"harness: reading the layers of {path} ({size / 1e6:.0f} MB)\n")


def resume_settings(files: RunFiles) -> tuple[SweepSettings, dict]:
    """The settings and metadata of run ``files`` to continue it; UsageError when it cannot be resumed."""
    try:
        meta = read_metadata(files.metadata)
        settings = SweepSettings.from_dict(meta["settings"]) if isinstance(meta.get("settings"), dict) else None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot resume {files.run_id!r}: {exc}") from None
    if settings is None:
        if files.lock.exists():  # a sweep that has not written its metadata yet: name it rather than the file
            lock_run(files).release()
        raise UsageError(f"cannot resume {files.run_id!r}: no {files.metadata} with the run's settings")
    version = meta.get("schema_version") or 1
    if isinstance(version, bool) or not isinstance(version, int):
        raise UsageError(f"cannot resume {files.run_id!r}: its schema_version in {files.metadata} is not a whole "
                         f"number: {version!r}")
    if version > RUN_SCHEMA_VERSION:
        raise UsageError(f"cannot resume {files.run_id!r}: written by a newer convbench (schema version "
                         f"{version} > {RUN_SCHEMA_VERSION})")
    try:
        settings.check()  # a hand-edited or damaged run file: refused before the run is claimed or touched
    except (TypeError, ValueError) as exc:
        raise UsageError(f"cannot resume {files.run_id!r}: its stored settings in {files.metadata} are unusable: "
                         f"{exc}") from None
    try:
        load_plugins(settings, probe=True)  # an A/B run's base build too, unpacked again if its copy was cleared
    except (PluginError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    unknown = [b for b in settings.backends if b not in sweep_backend_names()]
    if unknown:
        raise UsageError(f"cannot resume {files.run_id!r}: backend(s) {', '.join(unknown)} are not registered")
    return settings, meta


def execute(settings: SweepSettings | None, options: RunOptions) -> RunFiles:
    """Measure ``settings`` (None with ``options.resume``: the run's own), write and show the run; its files."""
    started_at = options.started_at or time.time()
    writable_dir(options.results_dir, "--results-dir", create=False)
    writable_dir(options.plots_dir, "--plots-dir", create=False)
    try:
        check_peak_file(options.results_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.resume is not None:
        return resume(options, started_at)
    if options.run_id is not None:
        try:
            check_run_id(options.run_id, new=True)  # before the results folder is made for it
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    settings = checked_settings(settings)
    say_reading(settings.layers, options.quiet)
    preset, cases = prepare_sweep(settings)
    writable_dir(options.results_dir, "--results-dir")  # the lock file goes there
    with open_executor(settings, Settler(settings.settle_s)) as executor:
        stem = Path(settings.layers).stem if settings.layers else settings.preset
        files, lock = claim_run(options.results_dir, options.plots_dir, options.run_id, stem, resume=False)
        try:
            peak = run_roof(options)
            meta = new_metadata(files, settings, preset, options.command or ["python", "-m", "harness", "sweep"],
                                peak)
            measure(files, settings, meta, Progress(), cases, executor, peak, options, started_at,
                    unsupported=unsupported_layers(settings))
        finally:
            lock.release()
    return files


def resume(options: RunOptions, started_at: float) -> RunFiles:
    """Continue run ``options.resume`` with its own settings (``options.resume_with`` may change how it runs)."""
    try:
        files = RunFiles(options.results_dir, options.resume, options.plots_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    settings, meta = resume_settings(files)
    for name, value in options.resume_with.items():
        setattr(settings, name, getattr(settings, name) or value if isinstance(value, bool) else value)
    say_reading(settings.layers, options.quiet)
    _, cases = prepare_sweep(settings)
    files, lock = claim_run(options.results_dir, options.plots_dir, options.resume, "", resume=True)
    try:
        try:
            progress = load_progress(files)
        except (ValueError, OSError) as exc:
            raise UsageError(str(exc)) from None
        for warning in progress.warnings:
            warnings.warn(warning, stacklevel=2)
        if meta.get("status") == "complete" and all(p.key in progress.done
                                                    for p in iter_points(cases, settings.backends)):
            print(f"run {files.run_id} is complete: nothing to resume ({files.table}); `harness report "
                  f"{files.run_id}` redraws its page")
            return files
        check_probe(files, meta)
        meta.setdefault("resumed_at", []).append(now_iso())
        with open_executor(settings, Settler(settings.settle_s)) as executor:
            peak = run_roof(options)
            measure(files, settings, meta, progress, cases, executor, peak, options, started_at)
    finally:
        lock.release()
    return files


def check_probe(files: RunFiles, meta: dict) -> None:
    """UsageError when run ``files`` was begun with another pace probe than this convbench's (``versions["probe"]``,
    none recorded: before version 2): its passes' readings and the rest's would be other loops side by side."""
    probe = (meta.get("versions") if isinstance(meta.get("versions"), dict) else {}).get("probe")
    if str(probe or FIRST_PROBE) != PROBE_VERSION:
        begun = f"with pace probe version {probe}" if probe else f"before pace probe version {PROBE_VERSION}"
        raise UsageError(f"cannot resume {files.run_id!r}: it was begun {begun} (harness.probe), and its readings "
                         "cannot be judged beside this convbench's; start a new run")


def measure(files: RunFiles, settings: SweepSettings, meta: dict, progress, cases, executor, peak, options,
            started_at: float, unsupported=()) -> None:
    """The sweep proper, with the run's lock held and its executor started; then its outputs and summary."""
    busy = None if options.quiet else busy_machine(most_threads(cases), settings.clock)
    if busy:  # before the progress bar: the first thing a user sees of a sweep on a busy machine
        warnings.warn(busy, stacklevel=2)
    try:
        with SweepProgress(None, quiet=options.quiet, description="counting the passes to measure") as bar:
            # a resumed run's count walks its plan (seconds for a million points): the bar is up meanwhile
            bar.set_total(planned_passes(cases, settings.backends, settings.repeats, progress.done, progress.kept))
            executor.on_status = bar.status
            stats = sweep_locked(files, settings, meta, progress, cases, executor, peak=peak, started_at=started_at,
                                 unsupported=unsupported,
                                 callbacks=dict(on_start=bar.start, on_step=bar.step, on_done=bar.done))
    except (KeyboardInterrupt, ClusterLost) as exc:
        kept = [str(p) for p in (files.table, files.passes) if p.is_file()]
        what = str(exc) if isinstance(exc, ClusterLost) else "interrupted"
        raise type(exc)(f"{what}; kept: {', '.join(kept) or 'no finished pass yet'}; continue with: "
                        f"{files.resume_command()}") from None
    if not options.quiet:  # before the outputs, whose summary ends with the answer
        waited = f" ({meta['quiet_wait_s']:.1f} s of it waiting for library threads to park)" \
            if meta.get("quiet_wait_s", 0) >= 0.05 else ""
        print(f"{meta['wall_s']:.1f} s{waited}; points: " + ", ".join(f"{n} {s}" for s, n in stats.by_status.items())
              + (f"; {stats.already_done} kept from before" if stats.already_done else ""))
        if settings.against:
            print(f"A/B run: the base build's kernels ({settings.against}) ran as NAME@base beside this build's; "
                  f"judge them: python -m harness compare {files.run_id}@base {files.run_id}")
    with writing(f"the outputs of run {files.run_id} (its table and metadata are complete in {files.table.parent}; "
                 f"`harness plot {files.table}` redraws them)"):
        write_outputs(files, meta, baseline=settings.baseline, plots=options.plots, report=options.report,
                      quiet=options.quiet)


def run_roof(options: RunOptions) -> dict:
    """This machine's roof for a run (:func:`harness.peak_store.cached_peak`); a warning when it was measured on
    a busy machine (it then serves this run only)."""
    peak = cached_peak(options.results_dir, fresh=options.fresh_peak)
    if peak.get("problems"):
        warnings.warn("the machine was busy while its roof was measured; the roof serves this run only and is not "
                      f"stored ({'; '.join(peak['problems'])})", stacklevel=2)
    return peak


def run(args) -> int:
    """``harness sweep``: measure, write table/samples/metadata/reduction, draw plots, print the summary."""
    if args.resume is not None and resume_conflicts(args.argv):
        raise UsageError(f"--resume {args.resume} continues the run with its own settings; drop "
                         f"{', '.join(resume_conflicts(args.argv))} (or start a new run)")
    settings = None if args.resume is not None else settings_of_args(args)
    if getattr(args, "history", None) is not None:  # sweep --history: refuse a bad database before measuring
        check_history_target(args.history, args.results_dir)
    try:
        files = execute(settings, options_of_args(args))
    except KeyboardInterrupt as exc:
        sys.stderr.write(f"harness: {exc}\n")
        return EXIT_INTERRUPTED
    except ClusterLost as exc:
        sys.stderr.write(f"harness: error: {exc}\n")
        return EXIT_CLUSTER_LOST
    if getattr(args, "history", None) is not None:
        record_run(files, args.history)
    return 0
