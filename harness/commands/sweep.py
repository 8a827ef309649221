"""``harness sweep``: measure backends over a preset's cases, write the run's files, draw, summarise."""
from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import kernels

from ..errors import EXIT_INTERRUPTED, UsageError
from ..peak import check_peak_file
from ..plugins import unimportable_backends
from ..results import RunFiles, read_metadata, read_table
from ..settings import SweepSettings, resolve_cases
from .common import check_baseline, writable_dir, writing

#: Options ``--resume`` accepts besides itself: where files go, what is printed, how points are run.
RESUME_OPTIONS = ("--resume", "--results-dir", "--plots-dir", "--quiet", "--no-plots", "--no-report", "--plugin",
                  "--timeout-s", "--in-process", "--history")


def resume_conflicts(argv: list[str]) -> list[str]:
    """The options in ``argv`` that ``--resume`` cannot honour (the run keeps its own settings)."""
    given = [a.split("=", 1)[0] for a in argv if a.startswith("--")]
    return list(dict.fromkeys(a for a in given if a not in RESUME_OPTIONS))


def resume_settings(files: RunFiles) -> tuple[SweepSettings, dict]:
    """The settings and metadata of run ``files`` to continue it; UsageError when it cannot be resumed."""
    from ..plugins import PluginError, load_plugin

    try:
        meta = read_metadata(files.metadata)
        settings = SweepSettings.from_dict(meta["settings"]) if isinstance(meta.get("settings"), dict) else None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot resume {files.run_id!r}: {exc}") from None
    if settings is None:
        if files.lock.exists():  # a sweep that has not written its metadata yet: name it rather than the file
            lock_run(files).release()
        raise UsageError(f"cannot resume {files.run_id!r}: no {files.metadata} with the run's settings")
    try:
        for ref in settings.plugins:
            load_plugin(ref)
    except PluginError as exc:
        raise UsageError(str(exc)) from None
    unknown = [b for b in settings.backends if b not in kernels.list_backends()]
    if unknown:
        raise UsageError(f"cannot resume {files.run_id!r}: backend(s) {', '.join(unknown)} are not registered")
    return settings, meta


def cases_or_usage_error(settings: SweepSettings):
    """(preset, cases) of ``settings``; a bad layer file or thread count is a UsageError."""
    try:
        return resolve_cases(settings)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise UsageError(f"{type(exc).__name__}: {exc}" if isinstance(exc, RecursionError) else str(exc)) from None


def check_scheduler(address: str | None, args) -> None:
    """Before anything is written: refuse a malformed ``--scheduler``, a missing Dask, an unreachable
    scheduler, or one without a worker that can take the points (the message says how to start one)."""
    if not address:
        return
    from ..cluster import check_dask, parse_scheduler
    from ..cluster_checks import ClusterOptions, preflight

    try:
        kind, where = parse_scheduler(address)
        check_dask()
        for warning in preflight(kind, where, ClusterOptions.from_args(args)):
            sys.stderr.write(f"harness: warning: {warning}\n")
    except (ValueError, ImportError) as exc:
        raise UsageError(str(exc)) from None


def default_run_id(args) -> str:
    """PRESET-DATE-TIME (or LAYERFILE-...), with anything outside the run-id alphabet made a '-'."""
    stem = Path(args.layers).stem if args.layers else args.preset
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_") or "run"
    return f"{stem[:80]}-{dt.datetime.now():%Y%m%d-%H%M%S}"


def lock_run(files: RunFiles):
    """Hold the run's lock for this process; UsageError naming the holder when another live sweep has it."""
    from ..durable import RunLock, RunLockedError

    try:
        return RunLock(files.lock).acquire()
    except RunLockedError as exc:
        raise UsageError(f"run {files.run_id!r} is being written by another live sweep ({exc}); wait for it "
                         "or choose another --run-id") from None
    except OSError as exc:
        raise UsageError(f"--results-dir {files.results_dir}: cannot write there ({exc.strerror})") from None


def run(args) -> int:
    """Measure, write table/samples/metadata/reduction, draw plots, print the summary."""
    run_id = next((r for r in (args.resume, args.run_id) if r is not None), None) or default_run_id(args)
    if args.resume == "" or args.run_id == "":
        run_id = ""
    try:
        files = RunFiles(args.results_dir, run_id, args.plots_dir, new=args.resume is None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.resume and resume_conflicts(args.argv):
        raise UsageError(f"--resume {run_id} continues the run with its own settings; drop "
                         f"{', '.join(resume_conflicts(args.argv))} (or start a new run)")
    writable_dir(args.results_dir, "--results-dir", create=False)
    writable_dir(args.plots_dir, "--plots-dir", create=False)
    try:
        check_peak_file(args.results_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.resume is not None:
        settings, meta = resume_settings(files)
    else:
        settings, meta = SweepSettings.from_args(args), None
    check_baseline(settings.baseline)
    interactive = [] if settings.in_process else unimportable_backends(settings.backends)
    if interactive:
        raise UsageError(f"backend(s) {', '.join(interactive)} were defined in this notebook or REPL, which worker "
                         "processes cannot import: save the class to a .py file and pass it as a plugin "
                         "(plugin=PATH / --plugin PATH), or measure in this process (in_process=True / --in-process)")
    preset, cases = cases_or_usage_error(settings)
    check_scheduler(settings.scheduler, args)
    if getattr(args, "history", None) is not None:  # sweep --history: refuse a bad database before measuring
        from .history import check_history_target
        check_history_target(args.history, args.results_dir)
    writable_dir(args.results_dir, "--results-dir")  # the lock file goes there
    lock = lock_run(files)  # only now: a bad request leaves no file behind
    try:
        progress = start_run(args, files, settings, meta)
        return sweep_locked(args, files, settings, meta, progress, preset, cases)
    finally:
        lock.release()


def start_run(args, files: RunFiles, settings: SweepSettings, meta: dict | None):
    """The run's progress on disk (repaired after a kill); UsageError before anything is written."""
    from ..metadata import now_iso
    from ..resume import Progress, load_progress

    if meta is not None:
        try:
            progress = load_progress(files)
        except (ValueError, OSError) as exc:
            raise UsageError(str(exc)) from None
        meta.setdefault("resumed_at", []).append(now_iso())
        if args.timeout_s is not None:
            settings.timeout_s = args.timeout_s
        settings.in_process = settings.in_process or args.in_process
        return progress
    taken = files.existing()
    if taken:
        how = f"continue it with --resume {files.run_id} or" if files.metadata.exists() else \
            f"(without {files.metadata.name} it cannot be resumed: remove the leftovers, or)"
        raise UsageError(f"run {files.run_id!r} already exists ({taken[0]}); {how} choose another --run-id")
    return Progress()


def sweep_locked(args, files: RunFiles, settings: SweepSettings, meta: dict | None, progress, preset,
                 cases) -> int:
    """The sweep proper, with the run's lock held."""
    from ..metadata import collect_metadata, finish_metadata, now_iso
    from ..outputs import write_outputs
    from ..peak import cached_peak
    from ..render.console import SweepProgress
    from ..fused import fused_points, run_fused_points
    from ..results import ResultsWriter
    from ..rows import unsupported_rows
    from ..settings import unsupported_layers
    from ..settle import Settler, load_average
    from ..sweeploop import run_sweep
    from ..trust import with_trust

    run_id = files.run_id
    for warning in progress.warnings:
        sys.stderr.write(f"harness: warning: {warning}\n")
    if meta is not None and meta.get("status") == "complete" \
            and len(progress.done) >= len(cases) * len(settings.backends):  # nothing to do: touch nothing
        print(f"run {run_id} is complete: nothing to resume ({files.table}); `harness report {run_id}` redraws "
              "its page")
        return 0
    writer = ResultsWriter(files)
    peak = cached_peak(args.results_dir, fresh=getattr(args, "fresh_peak", False))
    if meta is None:
        meta = collect_metadata(run_id=run_id, command=["python", "-m", "harness", *args.argv], preset=preset.name,
                                backends=settings.backends, peak=peak)
        meta["settings"] = settings.to_dict()
    meta.update(status="running", load_before=load_average())
    try:
        writer.write_metadata(meta)
    except OSError as exc:
        raise UsageError(f"--results-dir {args.results_dir}: cannot write {files.metadata} ({exc.strerror})") from None
    done = progress.done
    settler = Settler(settings.settle_s)
    if meta.get("resumed_at") is None:  # a new run: the layer file's convolutions the kernels cannot run
        first = cases[0] if cases else None
        for i, row in enumerate(unsupported_rows(run_id, settings.backends, unsupported_layers(settings),
                                                 dtype=first.dtype if first else "float32",
                                                 threads=first.threads if first else 1)):
            row["point"] = len(cases) * len(settings.backends) + i  # after the measured points
            writer.append(with_trust(row, settings.target_rel_ci), ())
    chains = fused_points(cases, settings.backends) if settings.fused and not settings.scheduler else []
    total = (len(cases) * len(settings.backends) - len(done)) * settings.repeats \
        - sum(len(v) for v in progress.kept.values()) + len(chains)
    try:
        with SweepProgress(max(total, 0), quiet=args.quiet) as bar:
            if settings.scheduler:
                from ..cluster import sweep_on_cluster
                from ..cluster_checks import ClusterOptions

                stats = sweep_on_cluster(settings.scheduler, cases, settings, writer, run_id, done, bar, meta,
                                         options=ClusterOptions.from_args(args))
            else:
                stats = run_sweep(cases, settings.backends, settings.timing_config(), writer, run_id=run_id,
                                  done=done, kept=progress.kept, repeats=settings.repeats,
                                  executor=settings.executor(), peak=peak, settler=settler,
                                  on_start=bar.start, on_step=bar.step, on_done=bar.done)
                run_fused_points(chains, settings.timing_config(), writer, run_id=run_id, done=done, peak=peak,
                                 settler=settler, first_point=len(cases) * len(settings.backends) + 10**6,
                                 on_step=bar.step, on_done=bar.done, stats=stats)
    except KeyboardInterrupt:
        meta.update(status="interrupted", interrupted_at=now_iso())
        writer.write_metadata(meta)
        kept = [str(p) for p in (files.table, files.passes) if p.is_file()]
        sys.stderr.write(f"harness: interrupted; kept: {', '.join(kept) or 'no finished pass yet'}; "
                         f"continue with: python -m harness sweep --resume {run_id}\n")
        return EXIT_INTERRUPTED
    earlier_s = float(meta.get("wall_s") or 0) if meta.get("resumed_at") else 0.0
    finish_metadata(meta, stats)
    if meta.get("resumed_at"):  # the whole run, not only this session
        meta["wall_s"] = round(earlier_s + stats.wall_s, 3)
        meta["points"] = read_table(files.table)["status"].value_counts().to_dict()
    meta.update(load_after=load_average(), settling=settler.summary())
    writer.write_metadata(meta)
    with writing(f"the outputs of run {run_id} (its table and metadata are complete in {files.table.parent}; "
                 f"`harness plot {files.table}` redraws them)"):
        write_outputs(files, meta, baseline=settings.baseline, plots=not args.no_plots,
                      report=not args.no_report, quiet=args.quiet)
    if not args.quiet:
        print(f"{stats.wall_s:.1f} s; points: " + ", ".join(f"{n} {s}" for s, n in stats.by_status.items())
              + (f"; {stats.already_done} kept from before" if stats.already_done else ""))
    if getattr(args, "history", None) is not None:
        from .history import record_run
        record_run(files, args.history)
    return 0
