"""The Python API for notebooks and scripts: ``harness.sweep``, ``harness.load``, ``harness.compare``, ``Run``.

The CLI is a thin layer over the same code: ``harness.sweep(...)`` builds the
same settings ``python -m harness sweep ...`` builds and calls the same engine
(:func:`harness.commands.sweep.execute`; no argv, no parser), then returns the
run read back from disk, so the API and the CLI always give the same tables.
"""
from __future__ import annotations

import math
import numbers
import sys
import time
import warnings
from pathlib import Path

from .abhalves import build_of, split_ref
from .api_args import (axis_settings, backend_names, call_text, folder_argument, keyword_settings, layer_file_argument,
                       on_off)
from .commands.sweep import execute
from .benchfiles import is_file_list, listed_files
from .comparison import BaseBuild, compare_data, read_run, resolve_run
from .outputs import view_of_run, write_outputs
from .render.figure_kinds import KINDS, figure_of
from .render.html import run_summary_html
from .results import RunFiles, check_run_id, read_metadata
from .settings import (ALPHA, DEFAULT_PRESET, PLOTS_DIR, RESULTS_DIR, SWEEP_BUDGET_S, THRESHOLD, RunOptions,
                       SweepSettings)
from .totals import network_totals

#: Figures ``Run.plot`` can draw (the PNG names of a run's plots folder): the one registry's names.
FIGURE_KINDS = KINDS


class Run:
    """A measured run, read from its files: table (sweep order), samples, metadata, reduction, figures, page."""

    def __init__(self, files: RunFiles):
        self.files = files
        self.view = view_of_run(files, read_metadata(files.metadata))

    @property
    def run_id(self) -> str:
        """The run's id (the stem of its files)."""
        return self.files.run_id

    @property
    def table(self):
        """One row per backend x case, in sweep order, with the trust columns (a pandas DataFrame)."""
        return self.view.table

    @property
    def samples(self):
        """One row per timed round: run_id, backend, case, round, time_s (per call)."""
        return self.view.samples

    @property
    def metadata(self) -> dict:
        """Command, settings, machine, library versions, peak, settling and load of the run."""
        return self.view.meta

    @property
    def reduction(self):
        """The 1x1-reduction study with intervals (a DataFrame), or None for runs without reduce/direct pairs (an
        axis that turned a preset's 1x1 reduce into a kxk leaves none either)."""
        study = self.view.reduction
        return None if study is None or study.empty else study

    @property
    def verdicts(self) -> list[str]:
        """The reduction study in sentences."""
        return list(self.view.verdicts)

    @property
    def totals(self):
        """Count-weighted network totals per backend (time per image), see :func:`harness.totals.network_totals`."""
        return network_totals(self.table)

    def plot(self, kind: str = "gflops"):
        """Draw figure ``kind`` and return the matplotlib Figure (nothing is saved). ``kind`` is one of
        ``FIGURE_KINDS``: reduction, gflops, breakdown, speedup, roofline, time_vs_work, threads."""
        if kind not in FIGURE_KINDS:
            raise ValueError(f"unknown figure {kind!r}; choose from: {', '.join(FIGURE_KINDS)}")
        fig = figure_of(kind, self.view)
        if fig is None:
            raise ValueError(f"run {self.run_id!r} has nothing to draw as {kind!r} (e.g. no timed rows, no "
                             "reduce/direct pairs, or one thread count)")
        return fig

    def report(self) -> Path:
        """Write the run's one-file HTML page (figures embedded) and return its path; ValueError when its plots
        folder (``plots_dir``/RUN_ID) or a folder above it is a file."""
        folders = (self.files.plots, *self.files.plots.parents)
        blocked = next((p for p in folders if p.exists() and not p.is_dir()), None)
        if blocked is not None:
            raise ValueError(f"cannot write the page of run {self.run_id!r} in {self.files.plots}: {blocked} is a "
                             "file, not a folder (give another plots_dir)")
        write_outputs(self.files, self.metadata, baseline=(self.metadata.get("settings") or {}).get(
            "baseline", "numpy"), plots=True, report=True, quiet=True)
        return self.files.plots / "index.html"

    def _repr_html_(self) -> str:
        """The summary table, trust banner, totals and verdicts, for Jupyter."""
        return run_summary_html(self.view, self.totals)

    def __repr__(self) -> str:
        counts = self.table["status"].value_counts().to_dict() if len(self.table) else {}
        return f"<Run {self.run_id!r}: {len(self.table)} rows {counts}>"


def sweep(preset: str = DEFAULT_PRESET, *, backends=None, layers=None, axes=None, budget_s=None, run_id=None,
          results_dir=RESULTS_DIR, plots_dir=PLOTS_DIR, plots=True, report=True, quiet=True, resume=None,
          **options) -> Run:
    """Measure like ``python -m harness sweep`` and return the :class:`Run`.

    Args:
        preset: a preset name (``harness list``), ignored when ``layers`` is given.
        backends: backend names, convolution or fused chain ones (default: every default backend and the
            fused chains of those).
        layers: a layer file (.toml, .csv, or benchdnn descriptor lines).
        axes: ``{"N": [1, 8], "dtype": ["float32"]}`` overrides, as ``--axis``.
        budget_s / run_id / results_dir / plots_dir: as the CLI options of the same names.
        plots / report: draw the figures / write the page. quiet: no progress bar and no summary.
        resume: the id of an interrupted run to finish with its own settings (``--resume``).
        options: any other sweep setting by its CLI name with ``_`` (``repeats=1``, ``settle_s=0.5``,
            ``target_rel_ci=0.05``, ``threads=2``, ``cold=True``, ``clock="process"``, ``fresh_peak=True``,
            ``plugin=["a.py", "b.py"]``, ``no_fused=True``, ``scheduler="local:2"``, ``against="HEAD~1"``...).

    In a script, call it under ``if __name__ == "__main__":``: worker processes import the script again.
    Several threads may call it at once: each run gets its own run id.

    Raises:
        ValueError: a bad request, before anything is written (the same one-line message the CLI prints),
            including worker processes that cannot start.
        TypeError: a keyword or value of the wrong kind.
        RuntimeError: called while a worker process imports the script (no ``__main__`` guard); a Dask
            scheduler that went away mid-sweep (``harness.cluster_checks.ClusterLost``: ``resume=RUN_ID``).
        KeyboardInterrupt: when interrupted; what was measured is on disk (``resume=RUN_ID``).
    """
    if "__mp_main__" in sys.modules and sys.modules.get("__main__") is not sys.modules["__mp_main__"]:
        raise RuntimeError("harness.sweep() was called while a worker process imported the main script: call it "
                           "under `if __name__ == \"__main__\":`")
    if not isinstance(preset, str):
        raise TypeError(f"harness.sweep(): preset must be a str, got {type(preset).__name__}")
    results_dir, plots_dir = (folder_argument("sweep", name, value) for name, value in
                              (("results_dir", results_dir), ("plots_dir", plots_dir)))
    given, fresh_peak = keyword_settings(options)
    on_off("sweep", plots=plots, report=report, quiet=quiet)
    for name, value in (("run_id", run_id), ("resume", resume)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"harness.sweep(): {name} must be a str (a run id), got {type(value).__name__}")
    run = RunOptions(results_dir=str(results_dir), plots_dir=str(plots_dir), resume=resume, plots=plots,
                     report=report, quiet=quiet, fresh_peak=fresh_peak, started_at=time.time(),
                     run_id=check_run_id(run_id) if run_id is not None else None)
    if resume is not None:
        run.resume = str(resume)
        settings = None
        own = [n for n, v in (("backends", backends), ("layers", layers), ("axes", axes), ("budget_s", budget_s))
               if v is not None] + [n for n in given if n not in RunOptions.RESUMABLE]
        if own:
            raise ValueError(f"resume={resume!r} continues the run with its own settings; drop {', '.join(own)}")
        run.resume_with = given
    else:
        settings = SweepSettings(preset=preset, layers=layer_file_argument(layers),
                                 backends=backend_names(backends), axes=axis_settings(axes),
                                 budget_s=SWEEP_BUDGET_S if budget_s is None else budget_s, **given).check()
    call = call_text(preset, dict(backends=backends, layers=layers, axes=axes, budget_s=budget_s, resume=resume,
                                  **options))
    run.command = ["python", "-c", f"import harness; harness.sweep({call})"]
    return Run(execute(settings, run))


def load(run_id_or_path, results_dir=RESULTS_DIR, plots_dir=PLOTS_DIR) -> Run:
    """A saved run, by id (under ``results_dir``) or by the path of its table (``results/RUN_ID.csv``); TypeError for
    an argument of the wrong kind, ValueError for an invalid id, a file that is not a run's table or no such run."""
    if not isinstance(run_id_or_path, (str, Path)):
        raise TypeError(f"harness.load takes a run id or a table path, got {type(run_id_or_path).__name__}")
    results_dir, plots_dir = (folder_argument("load", name, value) for name, value in
                              (("results_dir", results_dir), ("plots_dir", plots_dir)))
    files = RunFiles.of(run_id_or_path, results_dir, plots_dir)
    if not files.table.is_file():
        raise ValueError(f"no such run: {run_id_or_path!r} (looked for {files.table})")
    return Run(files)


def compare(base, new, *, threshold=None, alpha=None, results_dir=RESULTS_DIR):
    """The comparison table of two runs (``Run`` objects, run ids or table paths), worst first; ``"RUN@base"``
    is the base build of an A/B run (``sweep(against=...)``), and an A/B run itself stands for its own build.
    Either may also be a pytest-benchmark ``.json`` file, or several of them of one build (a list, a
    comma-separated string or a glob such as ``"base-*.json"``: each file one process, :mod:`harness.benchfiles`).

    ``result.attrs`` holds what the CLI prints: ``warnings`` (different machines, versions, no stored noise
    floor; also issued with :func:`warnings.warn`), ``noise_floors`` and ``backend_moves`` (per backend: its
    floor, and its move as a whole with a verdict, :mod:`harness.backendmove`), ``pace_slopes`` (the backends
    whose passes were judged at a common pace of the machine, :mod:`harness.pace`, with their slopes; several
    benchmark files a side carry ``files`` per side, ``within_pace_slopes_by_side`` and ``pace_moved_between``
    instead, :mod:`harness.filepace`), ``pace_across`` (why the pace's move between two sweeps was left in the
    times, None where it was divided out: :mod:`harness.pacetrust`), ``machine_ratio`` (how far the machine's own
    speed, its probe, moved between the runs: :func:`harness.interference.machine_demoted`);
    :func:`harness.comparison.exit_code` turns the table into the CLI's exit code and
    :func:`harness.compare_summary.summary_lines` into its summary.
    """
    for name, run in (("base", base), ("new", new)):
        listed = isinstance(run, (list, tuple)) and all(isinstance(p, (str, Path)) for p in run)
        if not (isinstance(run, (Run, str, Path)) or listed):
            raise TypeError(f"harness.compare: {name} must be a Run, a run id, a table path or a list of "
                            f"pytest-benchmark files, got {type(run).__name__}")
    results_dir = folder_argument("compare", "results_dir", results_dir)
    threshold = THRESHOLD if threshold is None else threshold
    alpha = ALPHA if alpha is None else alpha
    for name, value, top in (("threshold", threshold, math.inf), ("alpha", alpha, 1.0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"harness.compare: {name} must be a number (0.1 for 10%), got {value!r}")
        if not 0 < value < top:
            raise ValueError(f"harness.compare: {name} must be > 0" + (" and < 1" if top == 1.0 else "")
                             + f", got {value!r}")
    builds = []
    for run in (base, new):  # "RUN@base": the base build of an A/B run (sweep against=...)
        if isinstance(run, (list, tuple)):  # several benchmark files of one build, each name as it is
            files, base_build = listed_files(run)
            builds.append(read_run(BaseBuild(files) if base_build else files))
            continue
        ref, base_build = (run, False) if isinstance(run, Run) else split_ref(str(run))
        if not isinstance(run, Run) and (is_file_list(ref) or str(ref).lower().endswith(".json")):  # benchmark files
            builds.append(read_run(resolve_run(str(run), results_dir)))
            continue
        run = run if isinstance(run, Run) else load(ref, results_dir)
        builds.append(build_of((run.run_id, run.table, run.samples, run.metadata), base_build))
    result = compare_data(*builds, threshold, alpha, results_dir)
    for message in result.attrs["warnings"]:  # shown in a notebook, as the CLI prints them
        warnings.warn(f"harness.compare: {message}", stacklevel=2)
    return result
