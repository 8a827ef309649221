"""The history in words: the change-point check and the machines table on the terminal, and the history page."""
from __future__ import annotations

import html
import os
from pathlib import Path

from rich.table import Table

from ..crossmachine import side_by_side
from ..durable import atomic_write_text
from .console import console, safe
from .fmt import fmt_value

VERDICT_STYLE = {"slower": "red", "inconclusive": "yellow", "short": "dim", "faster": "green", "same": ""}
#: Series of these verdicts are listed one per line; the others are counted.
LISTED = ("slower", "faster")


def where(row: dict) -> str:
    """``run h10 (commit 901a5458b, 2026-12-02T06:37:40+00:00)``."""
    commit = (row["git_commit"] or "?")[:9] + ("+dirty" if str(row["git_commit"]).endswith("+dirty") else "")
    return f"run {row['run_id']} (commit {commit}, {row['started_at']})"


def change_text(row: dict) -> str:
    """``+31% [+24%, +38%]`` (the newest change as a relative step with its 95% interval)."""
    return f"{row['ratio'] - 1:+.0%} [{row['ratio_lo'] - 1:+.0%}, {row['ratio_hi'] - 1:+.0%}]"


def print_history_check(result, threshold: float) -> None:
    """The series whose newest change point is a slowdown (or a speed-up), then a count of every verdict."""
    con = console()
    listed = result[result["verdict"].isin(LISTED)]
    if len(listed):
        table = Table(title=f"newest change points beyond {threshold:.0%}", title_justify="left")
        for col, justify in (("verdict", "left"), ("machine", "left"), ("backend", "left"), ("case", "left"),
                             ("threads", "right"), ("change [95% CI]", "right"), ("where", "left"),
                             ("runs before/after", "right"), ("found by", "left")):
            table.add_column(col, justify=justify)
        for r in listed.to_dict("records"):
            style = VERDICT_STYLE[r["verdict"]]
            table.add_row(f"[{style}]{r['verdict']}[/]", safe(str(r["machine_label"])), safe(str(r["backend"])),
                          safe(str(r["case"])), fmt_value(r["threads"], ".0f"), change_text(r), safe(where(r)),
                          f"{r['runs_before']}/{r['runs_after']}", safe(str(r.get("test") or "")))
        con.print(table)
    counts = result["verdict"].value_counts().to_dict()
    con.print(f"{len(result)} series: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    unjudged = result[result["verdict"].isin(["inconclusive", "short"])]
    if (result["verdict"] == "slower").any():
        con.print(f"[bold red]{int((result['verdict'] == 'slower').sum())} series slowed down[/] beyond "
                  f"{threshold:.0%} at their newest change point")
    elif len(unjudged):
        noisiest = unjudged.assign(_short=unjudged["verdict"] == "short").sort_values(
            ["_short", "detectable"], ascending=[True, False]).head(3)  # the noisy ones say more than the short
        names = "; ".join(f"{r['backend']} | {r['case']} ({why_unjudged(r, threshold)})"
                          for r in noisiest.to_dict("records"))
        con.print(f"[bold yellow]inconclusive:[/] no slowdown found, but {len(unjudged)} series are too short or "
                  f"too noisy to judge at {threshold:.0%}, e.g. {safe(names)} (record more runs, raise --budget-s, "
                  "or --allow-inconclusive exits 0)")
    else:
        con.print("[green]no slowdown[/]")


def why_unjudged(row: dict, threshold: float) -> str:
    """Why a series could not be judged, in a few words."""
    if row["verdict"] == "short":
        return f"{row['runs']} run{'s' if row['runs'] != 1 else ''}: too few"
    if row["detectable"] <= threshold and row["ratio"] == row["ratio"] and row["run_id"]:
        # seen, beyond the threshold, but the runs since did not all keep it (harness.changepoints.lasting)
        return f"a {row['ratio'] - 1:+.0%} step at run {row['run_id']} that not every run since has kept"
    return f"steps below {row['detectable']:.0%} are lost in its noise"


def print_machines(machines, table) -> None:
    """The machines of the database, then the reduction study with one column per machine."""
    con = console()
    listing = Table(title="machines in the history", title_justify="left")
    for col in ("fingerprint", "machine", "runs", "first run", "last run"):
        listing.add_column(col)
    for m in machines.to_dict("records"):
        listing.add_row(safe(m["machine"]), safe(str(m["label"])), str(m["runs"]), safe(m["first_run"] or ""),
                        safe(m["last_run"] or ""))
    con.print(listing)
    if table.empty:
        con.print("no run in the history has reduce/direct branches (e.g. `harness sweep --preset inception3a`): "
                  "no reduction study to show")
        return
    wide = side_by_side(table)
    grid = Table(title="1x1 reduction per machine: time saving [95% CI], the share of the FLOP saving it "
                 "realises (! untrusted), CPU threads", title_justify="left")
    for col in wide.columns:
        grid.add_column(safe(str(col)), justify="left" if col in ("branch", "dtype", "backend") else "right")
    for r in wide.to_dict("records"):
        grid.add_row(*(f"{v:.1f}x" if k == "flop_saving" else safe(str(v)) for k, v in r.items()))
    con.print(grid)


def write_history_page(path: Path, result, figures: list[Path], threshold: float,
                       machines_figure: Path | None = None) -> Path:
    """A one-file HTML page: the verdict counts, the changed series, the figures (linked, not embedded), and the
    reduction study across machines when there is one."""
    changed = result[result["verdict"].isin(LISTED)]
    rows = "".join(
        f"<tr class='{r['verdict']}'><td>{r['verdict']}</td><td>{html.escape(str(r['machine_label']))}</td>"
        f"<td>{html.escape(str(r['backend']))}</td><td>{html.escape(str(r['case']))}</td>"
        f"<td>{html.escape(change_text(r))}</td><td>{html.escape(where(r))}</td></tr>"
        for r in changed.to_dict("records"))
    counts = ", ".join(f"{n} {v}" for v, n in result["verdict"].value_counts().items())
    images = "".join(f"<figure><img src='{html.escape(os.path.relpath(f, path.parent))}' alt='{html.escape(f.stem)}'>"
                     f"<figcaption>{html.escape(f.stem)}</figcaption></figure>" for f in figures)
    if machines_figure:
        images += (f"<h2>The 1x1 reduction on every machine</h2><figure><img src='{html.escape(machines_figure.name)}'"
                   " alt='reduction study per machine'></figure>")
    text = f"""<!doctype html><html><head><meta charset="utf-8"><title>convbench history</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}
tr.slower{{color:#b00}}tr.faster{{color:#070}}img{{max-width:100%}}</style></head><body>
<h1>convbench history</h1><p>{len(result)} series: {html.escape(counts)}. A change point counts when the runs after
it moved beyond {threshold:.0%} and beyond the series' run-to-run noise.</p>
<table><tr><th>verdict</th><th>machine</th><th>backend</th><th>case</th><th>change [95% CI]</th><th>where</th></tr>
{rows or "<tr><td colspan=6>no series changed at its newest change point</td></tr>"}</table>{images}</body></html>
"""
    atomic_write_text(path, text)
    return path
