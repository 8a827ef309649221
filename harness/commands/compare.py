"""``harness compare BASE NEW``: match two runs row by row and flag real slowdowns (statistics in harness.comparison)."""
from __future__ import annotations

import sys

from ..errors import UsageError
from .common import writable_file


def run(args) -> int:
    """Print the comparison; optionally write Markdown, a figure and a page.

    Exit 0: nothing regressed; 1: a regression; 3: inconclusive (no regression found, but a matched point
    could not be judged; ``--allow-inconclusive`` makes it 0); 2 (via UsageError): nothing to compare.
    """
    from ..comparison import compare_runs, environment_warnings, exit_code, resolve_run
    from ..render.compare_view import plot_compare, print_compare, to_markdown
    from ..render.html import write_compare_html
    from ..results import read_metadata, read_table

    markdown = writable_file(args.markdown, "--markdown")
    figure = writable_file(args.plot, "--plot")
    page = writable_file(args.html, "--html")
    try:
        base, new = resolve_run(args.base, args.results_dir), resolve_run(args.new, args.results_dir)
        result = compare_runs(base, new, args.threshold, args.alpha, args.min_delta_s)
        warnings = environment_warnings(read_metadata(base.metadata), read_metadata(new.metadata),
                                        read_table(base.table), read_table(new.table))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for w in warnings:
        sys.stderr.write(f"harness compare: warning: {w}\n")
    print_compare(result, base.run_id, new.run_id, args.threshold, args.alpha)
    if markdown:
        markdown.write_text(to_markdown(result, warnings, base.run_id, new.run_id))
        print(f"wrote {markdown}")
    if figure:
        plot_compare(result, figure, base.run_id, new.run_id, args.threshold)
        print(f"wrote {figure}")
    if page:
        write_compare_html(result, page, base.run_id, new.run_id, args.threshold, args.alpha, warnings)
        print(f"wrote {page}")
    return exit_code(result, allow_inconclusive=args.allow_inconclusive)
