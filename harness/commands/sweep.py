"""``harness sweep``: measure backends over a preset's cases, write the run's files, draw, summarise."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import kernels

from ..errors import EXIT_INTERRUPTED, UsageError
from ..results import RunFiles, read_metadata
from ..settings import SweepSettings, resolve_cases
from .common import check_baseline, writable_dir


def resume_settings(files: RunFiles) -> tuple[SweepSettings, dict]:
    """The settings and metadata of run ``files`` to continue it; UsageError when it cannot be resumed."""
    from ..plugins import PluginError, load_plugin

    meta = read_metadata(files.metadata)
    if not meta.get("settings") or not files.table.is_file():
        raise UsageError(f"cannot resume {files.run_id!r}: no {files.metadata} with settings and {files.table}")
    settings = SweepSettings.from_dict(meta["settings"])
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
    except ValueError as exc:
        raise UsageError(str(exc)) from None


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


def run(args) -> int:
    """Measure, write table/samples/metadata/reduction, draw plots, print the summary."""
    from ..metadata import collect_metadata, finish_metadata, now_iso
    from ..outputs import write_outputs
    from ..peak import cached_peak
    from ..render.console import SweepProgress
    from ..results import ResultsWriter, drop_orphan_samples
    from ..rows import unsupported_rows
    from ..settings import unsupported_layers
    from ..trust import with_trust
    from ..settle import Settler, load_average
    from ..executor import run_sweep
    from ..fused import fused_points, run_fused_points

    stem = Path(args.layers).stem if args.layers else args.preset
    run_id = args.resume or args.run_id or f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    try:
        files = RunFiles(args.results_dir, run_id, args.plots_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    writable_dir(args.results_dir, "--results-dir", create=False)
    writable_dir(args.plots_dir, "--plots-dir", create=False)
    if args.resume:
        settings, meta = resume_settings(files)
        meta.setdefault("resumed_at", []).append(now_iso())
    else:
        if files.table.exists():
            raise UsageError(f"run {run_id!r} already exists ({files.table}); continue it with --resume {run_id} "
                             "or choose another --run-id")
        settings, meta = SweepSettings.from_args(args), None
    check_baseline(settings.baseline)
    preset, cases = cases_or_usage_error(settings)
    check_scheduler(settings.scheduler, args)
    writer = ResultsWriter(files)
    peak = cached_peak(args.results_dir, fresh=getattr(args, "fresh_peak", False))
    if meta is None:
        meta = collect_metadata(run_id=run_id, command=["python", "-m", "harness", *args.argv], preset=preset.name,
                                backends=settings.backends, peak=peak)
        meta["settings"] = settings.to_dict()
    meta.update(status="running", load_before=load_average())
    writer.write_metadata(meta)
    settler = Settler(settings.settle_s)
    done = drop_orphan_samples(files) if args.resume else set()
    if not args.resume:
        first, unsupported_count = (cases[0] if cases else None), 0
        for row in unsupported_rows(run_id, settings.backends, unsupported_layers(settings),
                                    dtype=first.dtype if first else "float32", threads=first.threads if first else 1):
            row["point"] = len(cases) * len(settings.backends) + unsupported_count  # after the measured points
            unsupported_count += 1
            writer.append(with_trust(row, settings.target_rel_ci), ())
    chains = fused_points(cases, settings.backends) if settings.fused and not settings.scheduler else []
    total = (len(cases) * len(settings.backends) - len(done)) * settings.repeats + len(chains)
    try:
        with SweepProgress(total, quiet=args.quiet) as progress:
            if settings.scheduler:
                from ..cluster import sweep_on_cluster
                from ..cluster_checks import ClusterOptions

                stats = sweep_on_cluster(settings.scheduler, cases, settings, writer, run_id, done, progress, meta,
                                         options=ClusterOptions.from_args(args))
            else:
                stats = run_sweep(cases, settings.backends, settings.timing_config(), writer, run_id=run_id,
                                  done=done, repeats=settings.repeats, peak=peak, settler=settler,
                                  on_start=progress.start, on_step=progress.step, on_done=progress.done)
                run_fused_points(chains, settings.timing_config(), writer, run_id=run_id, done=done, peak=peak,
                                 settler=settler, first_point=len(cases) * len(settings.backends) + 10**6,
                                 on_step=progress.step, on_done=progress.done, stats=stats)
    except KeyboardInterrupt:
        meta.update(status="interrupted", interrupted_at=now_iso())
        writer.write_metadata(meta)
        sys.stderr.write(f"harness: interrupted; finished points are in {files.table}; "
                         f"continue with: python -m harness sweep --resume {run_id}\n")
        return EXIT_INTERRUPTED
    finish_metadata(meta, stats)
    meta.update(load_after=load_average(), settling=settler.summary())
    writer.write_metadata(meta)
    write_outputs(files, meta, baseline=settings.baseline, plots=not args.no_plots, report=not args.no_report,
                  quiet=args.quiet)
    if not args.quiet:
        print(f"{stats.wall_s:.1f} s; points: " + ", ".join(f"{n} {s}" for s, n in stats.by_status.items())
              + (f"; {stats.already_done} kept from before" if stats.already_done else ""))
    return 0
