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
    from ..comparison import compare_tables, environment_warnings, exit_code, read_run, resolve_run
    from ..render.compare_view import plot_compare, print_compare, to_markdown
    from ..render.html import write_compare_html

    from matplotlib.backend_bases import FigureCanvasBase

    markdown = writable_file(args.markdown, "--markdown", (".md", ".markdown"))
    figure = writable_file(args.plot, "--plot", tuple(f".{ext}" for ext in FigureCanvasBase.get_supported_filetypes()))
    page = writable_file(args.html, "--html", (".html", ".htm"))
    try:
        base_id, base_table, base_samples, base_meta = read_run(resolve_run(args.base, args.results_dir))
        new_id, new_table, new_samples, new_meta = read_run(resolve_run(args.new, args.results_dir))
        result = compare_tables(base_table, base_samples, new_table, new_samples, args.threshold, args.alpha,
                                args.min_delta_s)
        warnings = environment_warnings(base_meta, new_meta, base_table, new_table)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for w in warnings:
        sys.stderr.write(f"harness compare: warning: {w}\n")
    print_compare(result, base_id, new_id, args.threshold, args.alpha)
    if markdown:
        markdown.write_text(to_markdown(result, warnings, base_id, new_id))
        print(f"wrote {markdown}")
    if figure:
        plot_compare(result, figure, base_id, new_id, args.threshold)
        print(f"wrote {figure}")
    if page:
        write_compare_html(result, page, base_id, new_id, args.threshold, args.alpha, warnings)
        print(f"wrote {page}")
    return exit_code(result, allow_inconclusive=args.allow_inconclusive)
