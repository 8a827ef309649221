"""What a finished (or redrawn) run writes besides its tables: reduction table, figures, HTML page, summary.

Sits above the core and the views: reads the run back from disk, derives the
reduction study, and hands both to :mod:`harness.render`. Used by ``sweep``,
``plot`` and the Python API alike, so they can never write different things.
"""
from __future__ import annotations

from pathlib import Path

from .reduction import reduction_of_run, verdict_lines
from .results import RunFiles, read_table


def write_outputs(files: RunFiles, meta: dict, *, baseline: str, plots: bool, report: bool,
                  quiet: bool) -> list[Path]:
    """Write the reduction table, the figures (``plots``), the page (``report``); print the summary unless quiet."""
    from .render.console import print_summary
    from .render.figures import draw_all
    from .render.html import write_run_report

    table = read_table(files.table)
    paths = [files.table, files.samples, files.metadata]
    reduction = reduction_of_run(table)
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
