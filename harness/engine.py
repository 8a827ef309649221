"""The sweep engine: a run's settings in, its files on disk out, through the one sweep loop.

Used by ``harness sweep``, ``harness check``, ``harness calibrate`` and :func:`harness.sweep`
alike (no argv, no parser): :func:`open_executor` starts the executor the settings ask
for (this process, a worker per backend, or a Dask cluster) before any file is
written; :func:`claim_run` takes the run's id and lock (a fresh ``STEM-DATE-TIME``
id, ``-2``, ``-3``... when another run or another thread has it); :func:`sweep_locked`
writes the metadata, runs :func:`harness.sweeploop.run_sweep` and records how the
run ended. Bad requests are :class:`harness.errors.UsageError`; a lost cluster is
:class:`harness.cluster_checks.ClusterLost`, after the metadata says so.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re
import time

from .cluster import DaskExecutor, dask_client
from .cluster_checks import ClusterLost, ClusterOptions
from .durable import RunLock, RunLockedError
from .errors import UsageError
from .executor import InProcessExecutor, WorkerExecutor, WorkerStartError
from .metadata import collect_metadata, finish_metadata, now_iso, recorded_s
from .plan import count_points
from .results import RUN_SCHEMA_VERSION, ResultsWriter, RunFiles, read_table
from .rows import unsupported_rows
from .settings import SweepSettings
from .settle import load_average
from .sweeploop import SweepStats, run_sweep
from .timing import TimingConfig
from .trust import with_trust


def timing_config(settings: SweepSettings) -> TimingConfig:
    """The :class:`TimingConfig` of one point (all its passes) under ``settings``."""
    return TimingConfig(budget_s=settings.budget_s, target_rel_ci=settings.target_rel_ci, cold=settings.cold,
                        settle_s=settings.settle_s, clock=settings.clock)


@contextlib.contextmanager
def open_executor(settings: SweepSettings, settler=None, on_status=None):
    """The started executor ``settings`` ask for, closed on exit; UsageError when its workers cannot start."""
    with contextlib.ExitStack() as stack:
        try:
            if settings.scheduler and not settings.in_process:  # --in-process wins: resuming a cluster's run here
                client = stack.enter_context(dask_client(settings.scheduler, settings.connect_timeout_s))
                executor = DaskExecutor(client, settings.plugins, ClusterOptions.of(settings), on_status)
            elif settings.in_process:
                executor = InProcessExecutor(settler=settler)
            else:
                executor = WorkerExecutor(settings.plugins, settings.point_timeout_s(), settler=settler)
            executor.start(settings.backends)
        except (WorkerStartError, ValueError, ImportError) as exc:
            raise UsageError(str(exc)) from None
        stack.callback(executor.close)
        yield executor


def lock_run(files: RunFiles) -> RunLock:
    """Hold the run's lock for this process; UsageError naming the holder when another live sweep has it."""
    try:
        return RunLock(files.lock).acquire()
    except RunLockedError as exc:
        raise UsageError(f"run {files.run_id!r} is being written by another live sweep ({exc}); wait for it "
                         "or choose another --run-id") from None
    except OSError as exc:
        raise UsageError(f"--results-dir {files.results_dir}: cannot write there ({exc.strerror})") from None


def taken_message(files: RunFiles) -> str:
    """Why a new run may not take ``files``' id."""
    taken = files.existing()
    how = f"continue it with --resume {files.run_id} or" if files.metadata.exists() else \
        f"(without {files.metadata.name} it cannot be resumed: remove the leftovers, or)"
    return f"run {files.run_id!r} already exists ({taken[0]}); {how} choose another --run-id"


def claim_run(results_dir, plots_dir, run_id: str | None, stem: str, *, resume: bool) -> tuple[RunFiles, RunLock]:
    """The run's files and its held lock. A named new run must be free; with no ``run_id`` the first free one of
    ``STEM-DATE-TIME``, ``-2``, ``-3``... is taken - atomically, so sweeps started at once never share one."""
    if run_id is not None:
        try:
            files = RunFiles(results_dir, run_id, plots_dir, new=not resume)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        lock = lock_run(files)
        if not resume and files.existing():
            lock.release()
            raise UsageError(taken_message(files))
        return files, lock
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:80] or "run"
    base = f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    for n in range(1, 10_000):
        files = RunFiles(results_dir, base if n == 1 else f"{base}-{n}", plots_dir, new=True)
        try:
            lock = RunLock(files.lock).acquire()
        except RunLockedError:
            continue
        except OSError as exc:
            raise UsageError(f"--results-dir {results_dir}: cannot write there ({exc.strerror})") from None
        if not files.existing():
            return files, lock
        lock.release()
    raise UsageError(f"no free run id {base}-N in {results_dir}")  # pragma: no cover - 10,000 runs in a second


def new_metadata(files: RunFiles, settings: SweepSettings, preset, command: list, peak: dict | None) -> dict:
    """The metadata of a new run (schema version, machine, versions, settings)."""
    meta = collect_metadata(run_id=files.run_id, command=command, preset=preset.name, backends=settings.backends,
                            peak=peak)
    return dict(schema_version=RUN_SCHEMA_VERSION, **meta, settings=settings.to_dict())


def write_unsupported_rows(writer: ResultsWriter, files: RunFiles, settings: SweepSettings, cases, unsupported,
                           first_point: int) -> None:
    """``skipped`` rows, after the measured points, for the layer file's convolutions the kernels cannot run."""
    first = cases[0] if cases else None
    rows = unsupported_rows(files.run_id, settings.backends, unsupported, dtype=first.dtype if first else "float32",
                            threads=first.threads if first else 1)
    for i, row in enumerate(rows):
        writer.append(with_trust(dict(row, point=first_point + i), settings.target_rel_ci), ())


def sweep_locked(files: RunFiles, settings: SweepSettings, meta: dict, progress, cases, executor, *,
                 peak: dict | None, started_at: float, callbacks: dict, unsupported=()) -> SweepStats:
    """Write the metadata, run the sweep loop, record how it ended (``callbacks``: on_start/on_step/on_done).

    ``unsupported`` (a new run's layer-file convolutions the kernels cannot run) become ``skipped`` rows.

    An interrupt or a lost cluster marks the run ``interrupted`` (its finished passes and points are on
    disk for ``--resume``) and propagates.
    """
    writer = ResultsWriter(files)
    resumed = bool(meta.get("resumed_at"))
    earlier_s = recorded_s(meta, "wall_s") if resumed else 0.0  # 0 for a damaged value, not a crash on resume
    earlier_wait_s = recorded_s(meta, "quiet_wait_s") if resumed else 0.0  # like wall_s: the whole run's
    meta.update(status="running", load_before=load_average())
    try:
        writer.write_metadata(meta)
    except OSError as exc:
        raise UsageError(f"--results-dir {files.results_dir}: cannot write {files.metadata} ({exc.strerror})") from None
    write_unsupported_rows(writer, files, settings, cases, unsupported, count_points(cases, settings.backends))
    try:
        stats = run_sweep(cases, settings.backends, timing_config(settings), writer, run_id=files.run_id,
                          done=progress.done, kept=progress.kept, repeats=settings.repeats, executor=executor,
                          peak=peak, probes=progress.probes, fresh_workers=settings.fresh_workers, **callbacks)
    except (KeyboardInterrupt, ClusterLost) as exc:
        meta.update(status="interrupted", interrupted_at=now_iso(),
                    interrupted_by="lost cluster" if isinstance(exc, ClusterLost) else "interrupt")
        writer.write_metadata_after_failure(meta)  # never raises: a full disk must not hide the interrupt
        raise
    except OSError as exc:  # a run file could not be written: a full disk, a folder made read-only
        raise stopped_writing(exc, files, meta, writer) from None
    finish_metadata(meta, stats, wall_s=earlier_s + time.time() - started_at,
                    quiet_wait_s=earlier_wait_s + stats.quiet_wait_s, versions=executor.versions())
    if resumed:  # the whole run, not only this session
        meta["points"] = read_table(files.table)["status"].value_counts().to_dict()
    if isinstance(executor, DaskExecutor):
        meta.update(hosts=executor.hosts, bench_resource=settings.bench_resource)
    meta.update(load_after=load_average(), settling=executor.settler.summary() if getattr(executor, "settler", None)
                else None)
    try:
        writer.write_metadata(meta)
    except OSError as exc:
        raise stopped_writing(exc, files, meta, writer) from None
    return stats


def stopped_writing(exc: OSError, files: RunFiles, meta: dict, writer: ResultsWriter) -> UsageError:
    """A run file that could not be written mid-run: the run recorded as interrupted where the disk still lets
    us, and the one-line error saying so. What was written stays, and ``--resume`` continues from it."""
    meta.update(status="interrupted", interrupted_at=now_iso(), stopped_by=f"{exc.strerror or exc}")
    recorded = writer.write_metadata_after_failure(meta)
    what = f"{exc.filename}: " if exc.filename else ""
    return UsageError(f"cannot write the run's files ({what}{exc.strerror or exc}); the sweep stopped"
                      f"{'' if recorded else f' ({files.metadata.name} still says running)'}; what it wrote is kept: "
                      f"free space or make {files.results_dir} writable, then `{files.resume_command()}`")
