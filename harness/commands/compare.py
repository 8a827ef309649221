"""``harness compare BASE NEW``: match two runs row by row and flag real slowdowns (statistics in harness.comparison)."""
from __future__ import annotations

import sys

from ..durable import atomic_write_text
from ..comparison import compare_data, exit_code, read_run, resolve_run
from ..storedfloor import left_out_lines, store_calibrated_floor
from ..errors import UsageError
from ..render.compare_view import plot_compare, print_compare, to_markdown
from ..render.html import write_compare_html
from .common import floor_target, writable_file, writing


def run(args) -> int:
    """Print the comparison; optionally write Markdown, a figure and a page.

    Exit 0: nothing regressed; 1: a regression; 3: inconclusive (no regression found, but a matched point
    could not be judged; ``--allow-inconclusive`` makes it 0); 2 (via UsageError): nothing to compare.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    markdown = writable_file(args.markdown, "--markdown", (".md", ".markdown"))
    figure = writable_file(args.plot, "--plot", tuple(f".{ext}" for ext in FigureCanvasBase.get_supported_filetypes()))
    page = writable_file(args.html, "--html", (".html", ".htm"))
    if args.save_floor:
        floor_target(args.results_dir)
    try:
        refs = resolve_run(args.base, args.results_dir), resolve_run(args.new, args.results_dir)
        base, new = read_run(refs[0]), read_run(refs[1])
        result = compare_data(base, new, args.threshold, args.alpha, args.results_dir)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if args.save_floor and max(result.attrs["files"]) > 1:
        raise UsageError("--save-floor stores one benchmark file's spread against another's: name one file a side "
                         "(several files a side are judged against their own spread)")
    warnings = list(result.attrs["warnings"])
    if args.min_delta_s is not None:
        warnings.append("--min-delta-s is retired and ignored: a change whose interval lies beyond the threshold "
                        "counts at any kernel size (the run-to-run noise floor is measured; see docs/compare.md)")
    for w in warnings:
        sys.stderr.write(f"harness compare: warning: {w}\n")
    base_id, new_id = base[0], new[0]
    print_compare(result, base_id, new_id, args.threshold, args.alpha)
    if markdown:
        with writing(f"--markdown {markdown}"):
            atomic_write_text(markdown, to_markdown(result, warnings, base_id, new_id), follow_symlink=True)
        print(f"wrote {markdown}")
    if figure:
        with writing(f"--plot {figure}"):
            plot_compare(result, figure, base_id, new_id, args.threshold)
        print(f"wrote {figure}")
    if page:
        with writing(f"--html {page}"):
            write_compare_html(result, page, base_id, new_id, args.threshold, args.alpha, warnings)
        print(f"wrote {page}")
    if args.save_floor:
        try:
            stored, entry = store_calibrated_floor(*refs, args.results_dir)
        except (OSError, ValueError) as exc:
            raise UsageError(f"could not store the noise floor: {exc}") from None
        print(f"stored the spread of this A/A pair as the noise floor of {', '.join(sorted(entry['backends']))} "
              f"in {stored}")
        for line in left_out_lines(entry):
            print(line)
    return exit_code(result, allow_inconclusive=args.allow_inconclusive)
