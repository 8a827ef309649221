"""How a comparison looks: a rich table on the terminal, Markdown for CI comments, a ratio-with-CI figure."""
from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table

from ..comparison import INCONCLUSIVE, REGRESSIONS
from .console import console, safe
from .fmt import fmt_seconds, fmt_value, md_escape
from .plotting import plain, pyplot, save_figure

VERDICT_STYLE = {"broken": "bold red", "slower": "red", "inconclusive": "yellow", "only-in-one": "dim",
                 "unavailable": "dim", "same": "",
                 "faster": "green"}


def print_compare(result, base: str, new: str, threshold: float, alpha: float) -> None:
    """The comparison table, worst first, and a one-line verdict."""
    table = Table(title=f"{safe(base)} -> {safe(new)}  (regression: > {threshold:.0%} slower and p < {alpha:g})",
                  title_justify="left")
    for col, justify in (("verdict", "left"), ("backend", "left"), ("case", "left"), ("dtype", "left"),
                         ("threads", "right"), ("base", "right"), ("new", "right"), ("new/base", "right"),
                         ("p", "right"), ("note", "left")):
        table.add_column(col, justify=justify)
    for r in result.itertuples():
        style = VERDICT_STYLE.get(r.verdict, "")
        table.add_row(f"[{style}]{r.verdict}[/]" if style else r.verdict, safe(r.backend), safe(r.case),
                      safe(r.dtype), str(r.threads), fmt_seconds(r.base_time_s), fmt_seconds(r.new_time_s),
                      fmt_value(r.ratio, ".3f"), fmt_value(r.p_value, ".2g"), safe(r.note))
    con = console()
    con.print(table)
    floor = result.attrs.get("noise_floor", 0.0)
    con.print(f"run-to-run noise floor estimated from the matched rows: +/-{floor:.0%} "
              f"(changes inside it are 'inconclusive', not regressions)")
    regressions = result[result["verdict"].isin(REGRESSIONS)]
    unjudged = result[result["verdict"] == INCONCLUSIVE]
    if len(regressions):
        names = ", ".join(f"{r.backend} | {r.case}" for r in regressions.itertuples())
        con.print(f"[bold red]{len(regressions)} regression(s):[/] {safe(names)}")
    elif len(unjudged):
        names = ", ".join(f"{r.backend} | {r.case}" for r in unjudged.itertuples())
        con.print(f"[bold yellow]inconclusive:[/] no regression found, but {len(unjudged)} of "
                  f"{int(result['ratio'].notna().sum())} matched points could not be judged at a {threshold:.0%} "
                  f"threshold: {safe(names)} (raise --budget-s, quiet the machine, or raise --threshold; "
                  "--allow-inconclusive exits 0)")
    else:
        con.print("[green]no regression[/]")


def to_markdown(result, warnings: list[str], base: str, new: str) -> str:
    """The comparison as a Markdown document (for CI comments)."""
    n_reg = int(result["verdict"].isin(REGRESSIONS).sum())
    n_inc = int((result["verdict"] == INCONCLUSIVE).sum())
    floor = result.attrs.get("noise_floor", 0.0)
    lines = [f"### convbench compare: {md_escape(base)} -> {md_escape(new)}", "",
             f"**{n_reg} regression(s)**, {n_inc} inconclusive, among {len(result)} rows; "
             f"run-to-run noise floor +/-{floor:.0%}.", ""]
    lines += [f"> warning: {md_escape(w)}" for w in warnings] + ([""] if warnings else [])
    lines += ["| verdict | backend | case | dtype | threads | base | new | new/base | p |",
              "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in result.itertuples():
        lines.append(f"| {r.verdict} | {md_escape(r.backend)} | {md_escape(r.case)} | {r.dtype} | {r.threads} | {fmt_seconds(r.base_time_s)} | "
                     f"{fmt_seconds(r.new_time_s)} | {fmt_value(r.ratio, '.3f')} | {fmt_value(r.p_value, '.2g')} |")
    return "\n".join(lines) + "\n"


def plot_compare(result, path: Path, base: str, new: str, threshold: float) -> Path:
    """Per-row NEW/BASE ratio with its confidence interval (log x), coloured by verdict."""
    plt = pyplot()
    rows = result[result["ratio"].notna()]
    colors = {"slower": "#d62728", "faster": "#2ca02c", "same": "#7f7f7f", "inconclusive": "#ff7f0e"}
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.28 * max(len(rows), 1)))
    for i, r in enumerate(rows.itertuples()):
        lo, hi = r.ratio - r.ratio_lo, r.ratio_hi - r.ratio
        ax.errorbar(r.ratio, i, xerr=[[max(lo, 0)], [max(hi, 0)]], fmt="o", color=colors.get(r.verdict, "black"),
                    capsize=3)
    for verdict, color in colors.items():
        ax.plot([], [], "o", color=color, label=verdict)
    ax.set_yticks(range(len(rows)), [plain(f"{r.backend} | {r.case}") for r in rows.itertuples()], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", lw=1)
    ax.axvspan(1 / (1 + threshold), 1 + threshold, color="grey", alpha=0.15, label=f"within {threshold:.0%}")
    ax.set_xscale("log")
    if len(rows):
        span = max(abs(math.log(v)) for v in list(rows["ratio_lo"]) + list(rows["ratio_hi"]) if v > 0)
        ax.set_xlim(math.exp(-span - 0.1), math.exp(span + 0.1))
    ax.set_xlabel("time ratio NEW / BASE with 95% CI of the medians (>1: NEW is slower; log scale)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(plain(f"compare {base} -> {new}"), fontsize=10)
    return save_figure(fig, path)
