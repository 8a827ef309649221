"""``harness report RUN`` / ``harness report --index``: write HTML pages from saved runs."""
from __future__ import annotations

from ..errors import UsageError
from ..outputs import view_of_run
from ..render.html import write_index, write_run_report
from ..results import read_metadata
from .common import existing_dir, run_files, writable_dir, writing


def run(args) -> int:
    """Write one run's page, or the index of every run in the results directory (which must exist: an index of
    no folder would replace the page with an empty one)."""
    if args.index:
        if args.run:
            raise UsageError(f"report --index lists every run: drop {args.run!r} (or drop --index)")
        existing_dir(args.results_dir, "--results-dir")
        writable_dir(args.plots_dir, "--plots-dir")
        with writing("the index page"):
            print(f"wrote {write_index(args.results_dir, args.plots_dir)}")
        return 0
    if not args.run:
        raise UsageError("report needs a RUN (results/RUN_ID.csv or a run id) or --index")
    files = run_files(args.run, args.results_dir, args.plots_dir)
    writable_dir(args.plots_dir, "--plots-dir")
    try:
        view = view_of_run(files, read_metadata(files.metadata))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with writing(f"the page of run {files.run_id}"):
        page = write_run_report(view)
    print(f"wrote {page}")
    return 0
