"""``harness plot RESULTS.csv``: redraw a saved run's figures, reduction table and page from disk."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..results import RunFiles, read_metadata, read_table
from .common import check_baseline, writable_dir


def run(args) -> int:
    """Redraw everything a sweep draws, without re-running anything."""
    from ..outputs import write_outputs

    check_baseline(args.baseline)
    try:
        files = RunFiles.from_table(Path(args.table), args.plots_dir)
        read_table(files.table)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    writable_dir(args.plots_dir, "--plots-dir")
    write_outputs(files, read_metadata(files.metadata), baseline=args.baseline, plots=True, report=True, quiet=False)
    return 0
