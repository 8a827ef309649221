"""The Python API for notebooks and scripts: ``harness.sweep``, ``harness.load``, ``harness.compare``, ``Run``.

The CLI is a thin layer over the same code: ``harness.sweep(...)`` runs exactly
what ``python -m harness sweep ...`` runs (it calls the same command with the
same settings) and returns the run read back from disk, so the API and the CLI
always give the same tables.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from .errors import EXIT_INTERRUPTED
from .results import RunFiles, check_run_id, read_metadata
from .settings import DEFAULT_PRESET

#: Figures ``Run.plot`` can draw (the PNG names of a run's plots folder).
FIGURE_KINDS = ("gflops", "speedup", "reduction", "breakdown", "roofline", "time_vs_work", "threads")


class Run:
    """A measured run, read from its files: table (sweep order), samples, metadata, reduction, figures, page."""

    def __init__(self, files: RunFiles):
        from .outputs import view_of_run

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
        """The 1x1-reduction study with intervals (a DataFrame), or None for runs without reduce/direct pairs."""
        return self.view.reduction

    @property
    def verdicts(self) -> list[str]:
        """The reduction study in sentences."""
        return list(self.view.verdicts)

    @property
    def totals(self):
        """Count-weighted network totals per backend (time per image), see :func:`harness.totals.network_totals`."""
        from .totals import network_totals

        return network_totals(self.table)

    def plot(self, kind: str = "gflops"):
        """Draw figure ``kind`` (one of ``FIGURE_KINDS``) and return the matplotlib Figure (nothing is saved)."""
        from .render.figures import figure_of

        if kind not in FIGURE_KINDS:
            raise ValueError(f"unknown figure {kind!r}; choose from: {', '.join(FIGURE_KINDS)}")
        fig = figure_of(kind, self.view)
        if fig is None:
            raise ValueError(f"run {self.run_id!r} has nothing to draw as {kind!r} (e.g. no timed rows, no "
                             "reduce/direct pairs, or one thread count)")
        return fig

    def report(self) -> Path:
        """Write the run's one-file HTML page (figures embedded) and return its path."""
        from .outputs import write_outputs

        write_outputs(self.files, self.metadata, baseline=(self.metadata.get("settings") or {}).get(
            "baseline", "numpy"), plots=True, report=True, quiet=True)
        return self.files.plots / "index.html"

    def _repr_html_(self) -> str:
        """The summary table, trust banner, totals and verdicts, for Jupyter."""
        from .render.html import run_summary_html

        return run_summary_html(self.view, self.totals)

    def __repr__(self) -> str:
        counts = self.table["status"].value_counts().to_dict() if len(self.table) else {}
        return f"<Run {self.run_id!r}: {len(self.table)} rows {counts}>"


def sweep(preset: str = DEFAULT_PRESET, *, backends=None, layers=None, axes=None, budget_s=None, run_id=None,
          results_dir="results", plots_dir="plots", plots=True, report=True, quiet=True, **options) -> Run:
    """Measure like ``python -m harness sweep`` and return the :class:`Run`.

    Args:
        preset: a preset name (``harness list``), ignored when ``layers`` is given.
        backends: backend names (default: every default backend).
        layers: a layer file (.toml, .csv, or benchdnn descriptor lines).
        axes: ``{"N": [1, 8], "dtype": ["float32"]}`` overrides, as ``--axis``.
        budget_s / run_id / results_dir / plots_dir: as the CLI options of the same names.
        plots / report: draw the figures / write the page. quiet: no progress bar and no summary.
        options: any other sweep option by its CLI name with ``_`` (``repeats=1``, ``settle_s=0.5``,
            ``target_rel_ci=0.05``, ``threads=2``, ``cold=True``, ``fresh_peak=True``...).

    Raises:
        ValueError: a bad request (the same one-line message the CLI prints).
        KeyboardInterrupt: when interrupted; what was measured is on disk (``--resume``).
    """
    from .cli import main

    argv = ["sweep", "--results-dir", str(results_dir), "--plots-dir", str(plots_dir)]
    argv += ["--layers", str(layers)] if layers else ["--preset", preset]
    if backends:
        argv += ["--backends", ",".join([backends] if isinstance(backends, str) else backends)]
    for name, values in (axes or {}).items():
        values = values if isinstance(values, (list, tuple)) else [values]
        argv += ["--axis", f"{name}={','.join(map(str, values))}"]
    if budget_s is not None:
        argv += ["--budget-s", str(budget_s)]
    if run_id is None:
        import datetime as dt

        run_id = f"{Path(str(layers)).stem if layers else preset}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    argv += ["--run-id", check_run_id(run_id)]
    argv += [] if plots else ["--no-plots"]
    argv += [] if report else ["--no-report"]
    argv += ["--quiet"] if quiet else []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (False, None):
            argv += [flag, str(value)]
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = main(argv)
    if code == EXIT_INTERRUPTED:
        raise KeyboardInterrupt(errors.getvalue().strip())
    if code != 0:
        message = re.sub(r"^harness( \w+)?: error: ", "", errors.getvalue().strip())
        raise ValueError(message or f"sweep exited with code {code}")
    return Run(RunFiles(results_dir, run_id, plots_dir))


def load(run_id_or_path, results_dir="results", plots_dir="plots") -> Run:
    """A saved run, by id (under ``results_dir``) or by the path of its table (``results/RUN_ID.csv``)."""
    files = RunFiles.of(run_id_or_path, results_dir, plots_dir)
    if not files.table.is_file():
        raise ValueError(f"no such run: {run_id_or_path!r} (looked for {files.table})")
    return Run(files)


def compare(base, new, *, threshold=None, alpha=None, results_dir="results"):
    """The comparison table of two runs (``Run`` objects, run ids or table paths), worst first.

    ``result.attrs["noise_floor"]`` holds the run-to-run noise floor; :func:`harness.comparison.exit_code`
    turns the table into the CLI's exit code.
    """
    from . import settings
    from .comparison import compare_tables

    runs = [r if isinstance(r, Run) else load(r, results_dir) for r in (base, new)]
    return compare_tables(runs[0].table, runs[0].samples, runs[1].table, runs[1].samples,
                          settings.THRESHOLD if threshold is None else threshold,
                          settings.ALPHA if alpha is None else alpha)
