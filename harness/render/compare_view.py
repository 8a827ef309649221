"""How a comparison looks: a rich table on the terminal, Markdown for CI comments, a ratio-with-CI figure."""
from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ..compare_rule import fmt_ratio
from ..compare_summary import summary_lines, verdict_line
from .axes import (clip_interval, clipped_legend_entry, log_limits, mark_clipped, plain_log_ticks,
                   whisker_lengths)
from .console import console, safe
from .fmt import fmt_seconds, fmt_value, is_missing, md_escape
from .plotting import plain, pyplot, save_figure

VERDICT_STYLE = {"broken": "bold red", "slower": "red", "inconclusive": "yellow", "only-in-one": "dim",
                 "unavailable": "dim", "same": "",
                 "faster": "green"}
KIND_STYLE = {"regression": "bold red", "inconclusive": "bold yellow", "ok": "green"}


def interval(r) -> str:
    """``[lo, hi]`` of a row's ratio interval ("" for a row that was not judged)."""
    return "" if is_missing(r.ratio_lo) else f"[{fmt_ratio(r.ratio_lo)}, {fmt_ratio(r.ratio_hi)}]"


def detectable(r) -> str:
    """A row's ``detectable`` ratio as text ("" for a row that was not judged)."""
    return "" if is_missing(r.detectable) else fmt_ratio(r.detectable)


def shown(result):
    """The rows a table shows: all but ``unavailable`` ones (those are counted per backend below it)."""
    return result[result["verdict"] != "unavailable"]


def print_compare(result, base: str, new: str, threshold: float, alpha: float) -> None:
    """The comparison table, worst first, the noise floor, the power and a one-line verdict."""
    table = Table(title=f"{safe(base)} -> {safe(new)}  (regression: the interval of new/base lies above {1 + threshold:.2f}, "
                        f"alpha {alpha:g})", title_justify="left")
    for col, justify in (("verdict", "left"), ("backend", "left"), ("case", "left"), ("dtype", "left"),
                         ("threads", "right"), ("base", "right"), ("new", "right"), ("new/base", "right"),
                         ("interval", "right"), ("detectable", "right"), ("note", "left")):
        table.add_column(col, justify=justify)
    for r in shown(result).itertuples():
        style = VERDICT_STYLE.get(r.verdict, "")
        table.add_row(f"[{style}]{r.verdict}[/]" if style else r.verdict, safe(r.backend), safe(r.case),
                      safe(r.dtype), str(r.threads), fmt_seconds(r.base_time_s), fmt_seconds(r.new_time_s),
                      fmt_value(r.ratio, ".3f"), interval(r), detectable(r), safe(r.note))
    con = console()
    con.print(table)
    for line in summary_lines(result):
        con.print(safe(line))
    kind, text = verdict_line(result)
    con.print(f"[{KIND_STYLE[kind]}]{safe(text)}[/]")


def to_markdown(result, warnings: list[str], base: str, new: str) -> str:
    """The comparison as a Markdown document (for CI comments)."""
    _, verdict = verdict_line(result)
    lines = [f"### convbench compare: {md_escape(base)} -> {md_escape(new)}", "", f"**{md_escape(verdict)}**", ""]
    lines += [f"- {md_escape(line)}" for line in summary_lines(result)] + [""]
    lines += [f"> warning: {md_escape(w)}" for w in warnings] + ([""] if warnings else [])
    lines += ["| verdict | backend | case | dtype | threads | base | new | new/base | interval | detectable | note |",
              "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in shown(result).itertuples():
        lines.append(f"| {r.verdict} | {md_escape(r.backend)} | {md_escape(r.case)} | {r.dtype} | {r.threads} | "
                     f"{fmt_seconds(r.base_time_s)} | {fmt_seconds(r.new_time_s)} | {fmt_value(r.ratio, '.3f')} | "
                     f"{md_escape(interval(r))} | {detectable(r)} | {md_escape(r.note)} |")
    return "\n".join(lines) + "\n"


def plot_compare(result, path: Path, base: str, new: str, threshold: float) -> Path:
    """Per-row NEW/BASE ratio with its confidence interval (log x from the ratios and the threshold band;
    whiskers beyond the axis cut with an arrow), coloured by verdict."""
    plt = pyplot()
    rows = result[result["ratio"].notna()]
    colors = {"slower": "#d62728", "faster": "#2ca02c", "same": "#7f7f7f", "inconclusive": "#ff7f0e"}
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.28 * max(len(rows), 1)))
    band = (1 / (1 + threshold), 1 + threshold)
    limits = log_limits(list(rows["ratio"]) + [1.0, *band], list(rows["ratio_lo"]) + list(rows["ratio_hi"]))
    clipped = 0
    for i, r in enumerate(rows.itertuples()):
        color = colors.get(r.verdict, "black")
        lo, hi, below, above = clip_interval([r.ratio_lo], [r.ratio_hi], limits)
        ax.errorbar(r.ratio, i, xerr=whisker_lengths([r.ratio], lo, hi), fmt="o", color=color, capsize=3)
        clipped += mark_clipped(ax, [i], limits, below, above, horizontal=True, color=color)
    for verdict, color in colors.items():
        ax.plot([], [], "o", color=color, label=verdict)
    if clipped:
        clipped_legend_entry(ax)
    ax.set_yticks(range(len(rows)), [plain(f"{r.backend} | {r.case}") for r in rows.itertuples()], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", lw=1)
    ax.axvspan(*band, color="grey", alpha=0.15, label=f"within {threshold:.0%}")
    ax.set_xscale("log")
    ax.set_xlim(*limits)
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("time ratio NEW / BASE with its interval: rounds + run-to-run floor (>1: NEW is slower; log scale)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(plain(f"compare {base} -> {new}"), fontsize=10)
    return save_figure(fig, path)
