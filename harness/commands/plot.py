"""``harness plot RESULTS.csv``: redraw a saved run's figures, reduction table and page from disk."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..outputs import write_outputs
from ..results import DRAWN_COLUMNS, RunFiles, check_measured, read_metadata, read_samples, read_table
from .common import check_baseline, writable_dir, writing


def run(args) -> int:
    """Redraw everything a sweep draws, without re-running anything."""
    check_baseline(args.baseline)
    ref = Path(args.table)
    if ref.is_file() and ref.suffix != ".csv":
        raise UsageError(f"{ref}: plot takes a run table (results/RUN_ID.csv) or a run id, not a "
                         f"{ref.suffix or 'suffix-less'} file")
    try:
        files = RunFiles.of(args.table, args.results_dir, args.plots_dir)  # a table, or a run id
        table = read_table(files.table)
        check_measured(table, files.table, DRAWN_COLUMNS)
        empty = table.empty
        read_samples(files.samples)
        meta = read_metadata(files.metadata)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if empty:
        raise UsageError(f"{files.table}: no rows to plot (a run stopped before its first point: --resume it)")
    writable_dir(args.plots_dir, "--plots-dir")
    with writing(f"the plots of run {files.run_id}"):
        write_outputs(files, meta, baseline=args.baseline, plots=True, report=True, quiet=False, inputs_written=False)
    return 0
