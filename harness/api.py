"""The Python API for notebooks and scripts: ``harness.sweep``, ``harness.load``, ``harness.compare``, ``Run``.

The CLI is a thin layer over the same code: ``harness.sweep(...)`` runs exactly
what ``python -m harness sweep ...`` runs (it calls the same command with the
same settings) and returns the run read back from disk, so the API and the CLI
always give the same tables.
"""
from __future__ import annotations

import contextlib
import io
import math
import numbers
import re
import sys
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
          results_dir="results", plots_dir="plots", plots=True, report=True, quiet=True, resume=None,
          **options) -> Run:
    """Measure like ``python -m harness sweep`` and return the :class:`Run`.

    Args:
        preset: a preset name (``harness list``), ignored when ``layers`` is given.
        backends: backend names (default: every default backend).
        layers: a layer file (.toml, .csv, or benchdnn descriptor lines).
        axes: ``{"N": [1, 8], "dtype": ["float32"]}`` overrides, as ``--axis``.
        budget_s / run_id / results_dir / plots_dir: as the CLI options of the same names.
        plots / report: draw the figures / write the page. quiet: no progress bar and no summary.
        resume: the id of an interrupted run to finish with its own settings (``--resume``).
        options: any other sweep option by its CLI name with ``_`` (``repeats=1``, ``settle_s=0.5``,
            ``target_rel_ci=0.05``, ``threads=2``, ``cold=True``, ``fresh_peak=True``,
            ``plugin=["a.py", "b.py"]``...).

    In a script, call it under ``if __name__ == "__main__":``: worker processes import the script again.

    Raises:
        ValueError: a bad request (the same one-line message the CLI prints).
        RuntimeError: called while a worker process imports the script (no ``__main__`` guard).
        KeyboardInterrupt: when interrupted; what was measured is on disk (``resume=RUN_ID``).
    """
    from .cli import main

    if "__mp_main__" in sys.modules and sys.modules.get("__main__") is not sys.modules["__mp_main__"]:
        raise RuntimeError("harness.sweep() was called while a worker process imported the main script: call it "
                           "under `if __name__ == \"__main__\":`")
    for name, value, kinds in (("preset", preset, (str,)), ("results_dir", results_dir, (str, Path)),
                               ("plots_dir", plots_dir, (str, Path))):
        if not isinstance(value, kinds):
            raise TypeError(f"harness.sweep(): {name} must be a {' or a '.join(k.__name__ for k in kinds)}, "
                            f"got {type(value).__name__}")
    argv = ["sweep", "--results-dir", str(results_dir), "--plots-dir", str(plots_dir)]
    if resume is not None:
        run_id = str(resume)
        argv += ["--resume", run_id]
    elif layers:
        argv += ["--layers", str(layers)]
    else:
        argv += ["--preset", preset]
    if backends is not None:
        names = [backends] if isinstance(backends, str) else list(backends)
        if not names:
            raise ValueError("backends is empty: name at least one backend, or leave it out for the default ones")
        argv += ["--backends", ",".join(names)]
    argv += axis_options(axes)
    if budget_s is not None:
        argv += ["--budget-s", str(budget_s)]
    if resume is None:
        run_id = check_run_id(run_id) if run_id is not None else fresh_run_id(
            Path(str(layers)).stem if layers else preset, results_dir)
        argv += ["--run-id", run_id]
    argv += [] if plots else ["--no-plots"]
    argv += [] if report else ["--no-report"]
    argv += ["--quiet"] if quiet else []
    known = sweep_options()
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        kind = known.get(flag) if name.isidentifier() and flag not in OWN_FLAGS else None
        if kind is None:
            raise TypeError(f"harness.sweep() got an unknown option {name!r} (the sweep options: "
                            f"{', '.join(sorted(f[2:].replace('-', '_') for f in known if f not in OWN_FLAGS))}; "
                            "and its own parameters)")
        if value is None:
            continue
        if kind == "flag":
            if not isinstance(value, bool):
                raise TypeError(f"harness.sweep(): {name} is an on/off option: pass True or False, got {value!r}")
            argv += [flag] if value else []
        elif kind == "repeat":  # plugin="a.py" or plugin=["a.py", "b.py"]
            for item in [value] if isinstance(value, (str, Path)) else value:
                argv += [flag, str(item)]
        elif isinstance(value, (bool, list, tuple, dict, set)):
            raise TypeError(f"harness.sweep(): {name} takes one value, got {value!r}")
        else:  # 0 is a value (settle_s=0), checked like any other
            argv += [flag, str(value)]
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = main(argv)
    if code == EXIT_INTERRUPTED:
        raise KeyboardInterrupt(errors.getvalue().strip())
    if code != 0:
        message = re.sub(r"^harness( \w+)?: error: ", "", errors.getvalue().strip())
        raise ValueError(message or f"sweep exited with code {code}")
    sys.stderr.write(errors.getvalue())  # warnings of a sweep that ran (a partial cluster, a repaired file)
    return Run(RunFiles(results_dir, run_id, plots_dir))


#: Sweep options that ``sweep()`` sets from its own parameters: not accepted again as keywords.
OWN_FLAGS = frozenset({"--results-dir", "--plots-dir", "--layers", "--preset", "--backends", "--axis", "--budget-s",
                       "--run-id", "--resume", "--no-plots", "--no-report", "--quiet", "--help"})


def sweep_options() -> dict[str, str]:
    """``{"--flag": "flag" | "repeat" | "value"}`` of the sweep command's options, from its parser."""
    from .cli import make_parser

    return {s: "flag" if a.nargs == 0 else "repeat" if isinstance(a.default, list) else "value"
            for a in make_parser().commands["sweep"]._actions for s in a.option_strings if s.startswith("--")}


def axis_options(axes) -> list[str]:
    """``--axis NAME=V1,V2`` options for ``{name: value or iterable of values}``; TypeError for anything else."""
    if axes is None:
        return []
    if not isinstance(axes, dict):
        raise TypeError(f"axes must be a dict of axis name -> values, got {type(axes).__name__}")
    argv = []
    for name, values in axes.items():
        if isinstance(values, (str, bytes, int, float)) or not hasattr(values, "__iter__"):
            values = [values]
        elif isinstance(values, (dict, set)) or getattr(values, "ndim", 1) != 1:
            raise TypeError(f"axes[{name!r}] must be a value or a flat sequence of values, got {values!r}")
        argv += ["--axis", f"{name}={','.join(str(v.item() if hasattr(v, 'item') else v) for v in values)}"]
    return argv


def fresh_run_id(stem: str, results_dir) -> str:
    """``STEM-YYYYmmdd-HHMMSS``, with ``-2``, ``-3``... when a run of that name is already in ``results_dir``."""
    import datetime as dt

    base = check_run_id(f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}")
    run_id, n = base, 1
    while RunFiles(results_dir, run_id).existing():  # the same test the sweep refuses a taken id by
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def load(run_id_or_path, results_dir="results", plots_dir="plots") -> Run:
    """A saved run, by id (under ``results_dir``) or by the path of its table (``results/RUN_ID.csv``)."""
    if not isinstance(run_id_or_path, (str, Path)):
        raise TypeError(f"harness.load takes a run id or a table path, got {type(run_id_or_path).__name__}")
    files = RunFiles.of(run_id_or_path, results_dir, plots_dir)
    if not files.table.is_file():
        raise ValueError(f"no such run: {run_id_or_path!r} (looked for {files.table})")
    return Run(files)


def compare(base, new, *, threshold=None, alpha=None, results_dir="results"):
    """The comparison table of two runs (``Run`` objects, run ids or table paths), worst first.

    ``result.attrs`` holds what the CLI prints: ``warnings`` (different machines, versions, no stored noise
    floor; also issued with :func:`warnings.warn`), ``noise_floors`` (per backend);
    :func:`harness.comparison.exit_code` turns the table into the CLI's exit code and
    :func:`harness.compare_summary.summary_lines` into its summary.
    """
    import warnings

    from . import settings
    from .comparison import compare_data

    for name, run in (("base", base), ("new", new)):
        if not isinstance(run, (Run, str, Path)):
            raise TypeError(f"harness.compare: {name} must be a Run, a run id or a table path, "
                            f"got {type(run).__name__}")
    threshold = settings.THRESHOLD if threshold is None else threshold
    alpha = settings.ALPHA if alpha is None else alpha
    for name, value, top in (("threshold", threshold, math.inf), ("alpha", alpha, 1.0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"harness.compare: {name} must be a number (0.1 for 10%), got {value!r}")
        if not 0 < value < top:
            raise ValueError(f"harness.compare: {name} must be > 0" + (" and < 1" if top == 1.0 else "")
                             + f", got {value!r}")
    runs = [r if isinstance(r, Run) else load(r, results_dir) for r in (base, new)]
    result = compare_data(*[(r.run_id, r.table, r.samples, r.metadata) for r in runs], threshold, alpha, results_dir)
    for message in result.attrs["warnings"]:  # shown in a notebook, as the CLI prints them
        warnings.warn(f"harness.compare: {message}", stacklevel=2)
    return result
