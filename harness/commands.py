"""What each CLI command does (argument parsing lives in :mod:`harness.cli`)."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import kernels

from .cli import UsageError

#: Default per-point time budgets (seconds) for timing and for correctness-only checks.
SWEEP_BUDGET_S = 0.5
CHECK_BUDGET_S = 5.0


def _cases(settings: dict, default_threads: int):
    from .cases import build_cases
    from .layerfile import LayerFileError, layers_preset
    from .presets import get_preset
    from .threads import max_threads

    try:
        preset = layers_preset(settings["layers"]) if settings.get("layers") else get_preset(settings["preset"])
    except LayerFileError as exc:
        raise UsageError(str(exc)) from None
    overrides = {name: tuple(values) for name, values in settings["axes"]}
    if settings.get("dtype"):
        overrides["dtype"] = (settings["dtype"],)
    if settings.get("threads"):
        overrides["threads"] = (settings["threads"],)
    for t in overrides.get("threads", ()):
        if t > max_threads():
            raise UsageError(f"threads={t} exceeds the {max_threads()} threads Numba can use here (NUMBA_NUM_THREADS)")
    return preset, build_cases(preset, overrides, default_threads=default_threads)


def _settings(args, budget_s: float) -> dict:
    return dict(preset=args.preset, layers=getattr(args, "layers", None), plugins=getattr(args, "plugin", []),
                backends=args.backends or kernels.default_backends(),
                axes=[[name, list(values)] for name, values in args.axis], dtype=args.dtype,
                threads=args.threads, budget_s=args.budget_s or budget_s,
                target_rel_ci=getattr(args, "target_rel_ci", 0.02), baseline=getattr(args, "baseline", "numpy"),
                repeats=getattr(args, "repeats", 1), cold=getattr(args, "cold", False),
                scheduler=getattr(args, "scheduler", None))


def _resume_settings(files) -> dict:
    from .results import read_metadata

    from .plugins import PluginError, load_plugin

    meta = read_metadata(files.metadata)
    if not meta.get("settings") or not files.table.is_file():
        raise UsageError(f"cannot resume {files.run_id!r}: no {files.metadata} with settings and {files.table}")
    try:
        for ref in meta["settings"].get("plugins", []):
            load_plugin(ref)
    except PluginError as exc:
        raise UsageError(str(exc)) from None
    unknown = [b for b in meta["settings"]["backends"] if b not in kernels.list_backends()]
    if unknown:
        raise UsageError(f"cannot resume {files.run_id!r}: backend(s) {', '.join(unknown)} are not registered")
    return meta


def sweep(args, argv) -> int:
    """``harness sweep``: measure, write table/samples/metadata/reduction, draw plots, print the summary."""
    from .console import SweepProgress
    from .metadata import collect_metadata, now_iso
    from .peak import load_peak, measure_peak, save_peak
    from .results import ResultsWriter, RunFiles, drop_orphan_samples
    from .sweep import run_sweep
    from .threads import max_threads
    from .timing import TimingConfig

    stem = Path(args.layers).stem if args.layers else args.preset
    run_id = args.resume or args.run_id or f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    try:
        files = RunFiles(args.results_dir, run_id, args.plots_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.resume:
        meta = _resume_settings(files)
        settings = meta["settings"]
        meta.setdefault("resumed_at", []).append(now_iso())
    else:
        if files.table.exists():
            raise UsageError(f"run {run_id!r} already exists ({files.table}); continue it with --resume {run_id} "
                             "or choose another --run-id")
        settings = _settings(args, SWEEP_BUDGET_S)
        meta = None
    _check_baseline(settings["baseline"])
    preset, cases = _cases(settings, max_threads())
    if args.scheduler or settings.get("scheduler"):
        from .cluster import check_dask, parse_scheduler
        from .cluster_checks import ClusterOptions, preflight

        try:  # before any file is written: an unreachable scheduler or one without bench workers leaves nothing
            kind, where = parse_scheduler(args.scheduler or settings["scheduler"])
            check_dask()
            for warning in preflight(kind, where, ClusterOptions.from_args(args)):
                sys.stderr.write(f"harness: warning: {warning}\n")
        except (ValueError, ImportError) as exc:
            raise UsageError(str(exc)) from None
    config = TimingConfig(budget_s=settings["budget_s"], target_rel_ci=settings["target_rel_ci"],
                          cold=settings.get("cold", False))
    writer = ResultsWriter(files)
    peak = load_peak(args.results_dir)
    if peak is None:
        peak = measure_peak(seconds=0.25)
        save_peak(args.results_dir, peak)
    if meta is None:
        meta = collect_metadata(run_id=run_id, command=["python", "-m", "harness", *argv], preset=preset.name,
                                backends=settings["backends"], peak=peak)
        meta["settings"] = settings
    meta["status"] = "running"
    writer.write_metadata(meta)
    done = drop_orphan_samples(files) if args.resume else set()
    repeats = settings.get("repeats", 1)
    total = (len(cases) * len(settings["backends"]) - len(done)) * repeats
    scheduler = args.scheduler or settings.get("scheduler")
    try:
        with SweepProgress(total, quiet=args.quiet) as progress:
            if scheduler:
                from .cluster import sweep_on_cluster
                from .cluster_checks import ClusterOptions

                stats = sweep_on_cluster(scheduler, cases, settings, config, writer, run_id, done, progress, meta,
                                         options=ClusterOptions.from_args(args))
            else:
                stats = run_sweep(cases, settings["backends"], config, writer, run_id=run_id, done=done,
                                  repeats=repeats, on_start=progress.start, on_step=progress.step,
                                  on_done=progress.done)
    except KeyboardInterrupt:
        meta.update(status="interrupted", interrupted_at=now_iso())
        writer.write_metadata(meta)
        sys.stderr.write(f"harness: interrupted; finished points are in {files.table}; "
                         f"continue with: python -m harness sweep --resume {run_id}\n")
        return 130
    _finish_metadata(meta, stats)
    writer.write_metadata(meta)
    finish_run(files, meta, baseline=settings["baseline"], plots=not args.no_plots, quiet=args.quiet,
               report=not args.no_report)
    if not args.quiet:
        print(f"{stats.wall_s:.1f} s; points: " + ", ".join(f"{n} {s}" for s, n in stats.by_status.items())
              + (f"; {stats.already_done} kept from before" if stats.already_done else ""))
    return 0


def _check_baseline(name: str) -> None:
    if name not in kernels.list_backends():
        raise UsageError(f"unknown baseline {name!r}; choose from: {', '.join(kernels.list_backends())}")


def _finish_metadata(meta: dict, stats) -> None:
    import numba

    from .metadata import now_iso

    try:
        meta["numba_threading_layer"] = numba.threading_layer()
    except ValueError:
        pass
    meta.update(status="complete", finished_at=now_iso(), wall_s=round(stats.wall_s, 3),
                points=dict(stats.by_status))


def finish_run(files, meta: dict, *, baseline: str, plots: bool, quiet: bool, report: bool = True) -> list[Path]:
    """After measuring (or for ``plot``): reduction table, plots, HTML page, and the printed summary."""
    from .console import print_summary
    from .plots import draw_all
    from .reduction import run_reduction, verdict_lines
    from .report import write_run_report
    from .results import read_table

    table = read_table(files.table)
    paths = [files.table, files.samples, files.metadata]
    reduction = run_reduction(table)
    if reduction is not None:
        reduction.to_csv(files.reduction, index=False)
        paths.append(files.reduction)
    if plots:
        paths += draw_all(table, meta, files.plots, baseline=baseline, reduction=reduction)
    if report:
        paths.append(write_run_report(files, meta, table, verdict_lines(reduction)))
    if not quiet:
        print_summary(table, title=f"GFLOP/s, run {files.run_id} (best per case highlighted)",
                      verdicts=verdict_lines(reduction), paths=paths)
    return paths


def check(args, argv) -> int:
    """``harness check``: every backend once per case against the reference; exit 1 on wrong/failed."""
    from rich.table import Table

    from .console import STATUS_STYLE, console
    from .results import MemoryWriter
    from .sweep import run_sweep
    from .threads import max_threads
    from .timing import TimingConfig

    settings = _settings(args, CHECK_BUDGET_S)
    _, cases = _cases(settings, max_threads())
    writer = MemoryWriter()
    run_sweep(cases, settings["backends"], TimingConfig(budget_s=settings["budget_s"]), writer, run_id="check",
              timed=False)
    table = Table(title=f"Correctness vs float64 reference, preset {settings['preset']}", title_justify="left")
    for col in ("case", "backend", "status", "max_abs_err", "tolerance", "reason"):
        table.add_column(col)
    for row in writer.rows:
        err = row.get("max_abs_err")
        table.add_row(row["case"], row["backend"], f"[{STATUS_STYLE[row['status']]}]{row['status']}[/]",
                      f"{err:.2e}" if err is not None else "",
                      f"{row['tolerance']:.2e}" if row.get("tolerance") else "",
                      row["reason"])
    console().print(table)
    bad = [r for r in writer.rows if r["status"] in ("wrong", "failed")]
    return 1 if bad else 0


def plot(args, argv) -> int:
    """``harness plot RESULTS.csv``: redraw a saved run's plots (and reduction table) from disk."""
    from .results import RunFiles, read_metadata, read_table

    _check_baseline(args.baseline)
    table_path = Path(args.table)
    try:
        files = RunFiles.from_table(table_path, args.plots_dir)
        read_table(files.table)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finish_run(files, read_metadata(files.metadata), baseline=args.baseline, plots=True, quiet=False)
    return 0


def report(args, argv) -> int:
    """``harness report RUN`` / ``harness report --index``: write HTML pages from saved runs."""
    from .reduction import run_reduction, verdict_lines
    from .report import write_index, write_run_report
    from .results import RunFiles, read_metadata, read_table

    if args.index:
        print(f"wrote {write_index(args.results_dir, args.plots_dir)}")
        return 0
    if not args.run:
        raise UsageError("report needs a RUN (results/RUN_ID.csv or a run id) or --index")
    path = Path(args.run)
    try:
        files = RunFiles.from_table(path, args.plots_dir) if path.suffix == ".csv" else \
            RunFiles(args.results_dir, args.run, args.plots_dir)
        table = read_table(files.table)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    reduction = run_reduction(table)
    page = write_run_report(files, read_metadata(files.metadata), table, verdict_lines(reduction))
    print(f"wrote {page}")
    return 0


def peak(args, argv) -> int:
    """``harness peak``: measure and store peak GEMM GFLOP/s and copy bandwidth."""
    from .peak import measure_peak, save_peak

    result = measure_peak(seconds=args.seconds)
    path = save_peak(args.results_dir, result)
    flops = ", ".join(f"{dt}: {v:.1f} GFLOP/s" for dt, v in result["gemm_gflops"].items())
    print(f"peak on {result['cpu_model']} ({result['threads']} threads): GEMM {flops}; "
          f"copy {result['copy_gbytes_per_s']:.1f} GB/s\nwrote {path}")
    return 0


def compare(args, argv) -> int:
    """``harness compare BASE NEW``: see :mod:`harness.compare`."""
    from .compare import run_compare

    try:
        return run_compare(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def list_(args, argv) -> int:
    """``harness list``: see :mod:`harness.listing`."""
    from .listing import list_command

    return list_command(args)


COMMANDS = {"sweep": sweep, "list": list_, "check": check, "plot": plot, "report": report, "peak": peak,
            "compare": compare}


def run(args, argv) -> int:
    """Dispatch ``args.command`` to its function."""
    try:
        command = COMMANDS[args.command]
    except KeyError:
        raise UsageError(f"unknown command {args.command!r}; choose from: {', '.join(COMMANDS)}") from None
    return command(args, argv)
