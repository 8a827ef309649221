"""What a finished (or redrawn) run shows and writes besides its tables: reduction table, figures, page, summary.

Sits above the core and the views: reads the run back from disk, derives the
reduction study (with intervals from the samples) and the trust banner, and
hands them to :mod:`harness.render`. Used by ``sweep``, ``plot``, ``report`` and
the Python API alike, so they can never show different things.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .passgroups import with_pass_medians
from .reduction import reduction_of_run
from .render.console import print_summary
from .render.figure_kinds import draw_all
from .render.html import write_run_report
from .render.totals_text import totals_block
from .render.verdicts import verdict_lines
from .roof import ROOF_COLUMNS, roof_columns, roof_summary
from .results import DRAWN_COLUMNS, RunFiles, check_measured, read_samples, read_table
from .settings import TARGET_REL_CI
from .trust import trust_banner, with_trust


@dataclass
class RunView:
    """A run as every view sees it: table (with trust columns), samples, reduction, verdicts, banner."""

    files: RunFiles
    meta: dict
    table: object
    samples: object
    reduction: object = None
    verdicts: list = field(default_factory=list)
    banner: str | None = None
    totals: list = field(default_factory=list)
    roof: list = field(default_factory=list)

    @property
    def target_rel_ci(self) -> float:
        """The CI target the run was measured against."""
        return float((self.meta.get("settings") or {}).get("target_rel_ci", TARGET_REL_CI))


def view_of_run(files: RunFiles, meta: dict) -> RunView:
    """Read run ``files`` and derive everything its views show (trust flags too, for runs older than them)."""
    import pandas as pd

    table = read_table(files.table)
    check_measured(table, files.table, DRAWN_COLUMNS)
    samples = with_pass_medians(read_samples(files.samples), files.passes)
    view = RunView(files, meta, table, samples)
    unchecked = "trusted" not in table.columns or table["trusted"].isna().all()
    if unchecked:  # a run from before the trust columns (or written by other tools): judge it now
        rows = [with_trust(r, view.target_rel_ci, meta.get("peak")) for r in table.to_dict("records")]
        view.table = table = pd.DataFrame(rows, columns=list(table.columns) + [
            c for c in ("flags", "trusted") if c not in table.columns])
    if "peak_fraction" not in table.columns:  # a run from before the roof columns: place it under its roof now
        roofs = [roof_columns(r, meta.get("peak")) for r in view.table.to_dict("records")]
        for column in ROOF_COLUMNS:
            view.table[column] = [r[column] for r in roofs]
    view.table["flags"] = ["" if not isinstance(f, str) else f for f in view.table["flags"]]
    view.roof = roof_summary(view.table)
    view.reduction = reduction_of_run(table, samples, meta.get("peak"))
    view.verdicts = verdict_lines(view.reduction)
    view.banner = trust_banner(table, view.target_rel_ci, (meta.get("load_before"), meta.get("load_after")))
    view.totals = totals_block(table, str(meta.get("preset") or files.run_id), meta.get("preset"))
    return view


def write_outputs(files: RunFiles, meta: dict, *, baseline: str, plots: bool, report: bool,
                  quiet: bool, inputs_written: bool = True) -> list[Path]:
    """Write the reduction table, the figures (``plots``), the page (``report``); print the summary unless quiet.

    The paths returned (and printed) include the run's table, samples and metadata when ``inputs_written``
    (a sweep wrote them; ``plot`` only reads them)."""
    view = view_of_run(files, meta)
    paths = [p for p in (files.table, files.samples, files.metadata) if inputs_written and p.is_file()]
    if view.reduction is not None:
        view.reduction.to_csv(files.reduction, index=False)
        paths.append(files.reduction)
    if plots:
        paths += draw_all(view.table, meta, files.plots, baseline=baseline, reduction=view.reduction)
    if report:
        paths.append(write_run_report(view))
    if not quiet:
        print_summary(view.table, title=f"GFLOP/s, run {files.run_id} (best per case highlighted; ! = untrusted)",
                      verdicts=view.verdicts, paths=paths, banner=view.banner, totals=view.totals,
                      roof=view.roof, reduction=view.reduction)
    return paths
