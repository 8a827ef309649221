"""Terminal output with rich: the sweep's progress bar and the summary tables.

Every text that comes from data (labels, backend names, file names, exception messages) goes through
:func:`safe`: rich markup in it is shown literally, and terminal control characters (ESC: clear the screen,
recolour) are shown as ``\\xNN``.
"""
from __future__ import annotations

import math
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table

from ..errors import one_line
from .answer import answer_tables
from .summary import not_run, summary_grid

STATUS_STYLE = {"ok": "green", "skipped": "yellow", "unavailable": "dim", "failed": "red", "wrong": "bold red"}


def safe(text) -> str:
    """``text`` for a rich console: one line, control characters as ``\\xNN``, markup escaped."""
    return escape(one_line(text))


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), plain when not a terminal."""
    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=False,
                   width=None if sys.stdout.isatty() else 160)


class SweepProgress:
    """A progress bar over a sweep's points; silent when ``quiet``."""

    def __init__(self, total: int | None, quiet: bool = False, description: str = "starting"):
        self.quiet = quiet
        self._progress = Progress(TextColumn("[bold]{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=console(stderr=True), transient=False,
                                  disable=quiet)
        self._task = self._progress.add_task(description, total=total)
        self._printed = (float("-inf"), "")

    def set_total(self, total: int) -> None:
        """The bar's total, once counted (a bar made with ``total=None`` shows the sweep has begun meanwhile)."""
        self._progress.update(self._task, total=total, description="starting")

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def start(self, backend: str, case) -> None:
        """Show the point being measured."""
        self._progress.update(self._task, description=safe(f"{backend} | {case.name}"[:44]))

    def status(self, text: str, every_s: float = 30.0) -> None:
        """Show a status line (a cluster's queue and workers) as the description; where the bar cannot
        redraw (not a terminal), print it as a line when it changed, at most every ``every_s`` seconds."""
        self._progress.update(self._task, description=safe(text))
        now = time.monotonic()
        if (not self.quiet and not self._progress.console.is_interactive and text != self._printed[1]
                and now - self._printed[0] >= every_s):
            self._progress.console.print(safe(text))
            self._printed = (now, text)

    def step(self, n: int) -> None:
        """Advance the bar by ``n`` measurements."""
        self._progress.advance(self._task, n)

    def done(self, result) -> None:
        """Print a line for a finished point that did not end ok (wrong or failed)."""
        row = result.row
        if row["status"] not in ("ok", "unavailable", "skipped") and not self.quiet:
            self._progress.console.print(
                f"[{STATUS_STYLE[row['status']]}]{row['status']}[/]: "
                + safe(f"{row['backend']} | {row['case']}: {row['reason']}"))


def gflops_table(table, title: str) -> Table:
    """Backend x case GFLOP/s (status words where not ok); the best backend per case in bold."""
    backends, grid = summary_grid(table)
    out = Table(title=safe(title), title_justify="left", show_lines=False)
    out.add_column("case", style="bold")
    out.add_column("MFLOP", justify="right")
    for backend in backends:
        out.add_column(safe(backend), justify="right")
    for row in grid:
        cells = []
        for cell in row.cells:
            if cell.status in ("ok", ""):
                text = f"[yellow]{escape(cell.text)}[/]" if cell.untrusted else escape(cell.text)
            else:
                text = f"[{STATUS_STYLE.get(cell.status, '')}]{safe(cell.text)}[/]"
            cells.append(f"[bold reverse]{text}[/]" if cell.best else text)
        out.add_row(safe(row.case), row.mflop, *cells)
    return out


def print_check(rows: list[dict], title: str) -> None:
    """The correctness table of ``harness check``: error, tolerance and margin per case and backend."""
    table = Table(title=safe(title), title_justify="left")
    for col in ("case", "backend", "status", "max_abs_err", "tolerance", "err/tol", "reason"):
        table.add_column(col)
    for row in rows:
        err, tol, margin = row.get("max_abs_err"), row.get("tolerance"), row.get("error_margin")
        table.add_row(safe(row["case"]), safe(row["backend"]),
                      f"[{STATUS_STYLE[row['status']]}]{row['status']}[/]",
                      f"{err:.2e}" if err is not None else "", f"{tol:.2e}" if tol else "",
                      f"{margin:.2f}" if margin is not None else "", safe(row["reason"]))
    con = console()
    con.print(table)
    con.print(check_counts(rows))


def check_counts(rows: list[dict]) -> str:
    """``N ok, N wrong, N not run`` of ``harness check``'s rows (``N failed`` too when a backend raised)."""
    counts = {status: sum(row["status"] == status for row in rows) for status in STATUS_STYLE}
    failed = [f"{counts['failed']} failed"] if counts["failed"] else []
    return ", ".join([f"{counts['ok']} ok", f"{counts['wrong']} wrong", *failed,
                      f"{counts['skipped'] + counts['unavailable']} not run"])


def answer_table(answer) -> Table:
    """An :class:`harness.render.answer.AnswerTable` as a rich table (untrusted rows yellow)."""
    out = Table(title=answer.title, title_justify="left", title_style="bold")
    for i, col in enumerate(answer.columns):
        out.add_column(col, justify="left" if i in (0, 1, len(answer.columns) - 1) else "right")
    for cells, trusted in zip(answer.rows, answer.trusted):
        out.add_row(*(safe(c) for c in cells), style=None if trusted else "yellow")
    return out


def print_summary(table, *, title: str, verdicts: list[str], paths: list, reasons: bool = True,
                  banner: str | None = None, totals: list[str] = (), roof: list[str] = (), reduction=None) -> None:
    """The end-of-sweep report: GFLOP/s table, reasons for rows that were not measured, trust banner, how close
    each backend came to the FMA roof, paths, network totals, the verdict sentences - and last, the answer: one table per
    reduction study."""
    con = console()
    con.print(gflops_table(table, title))
    absent = not_run(table)
    if absent:
        con.print("  [dim]not run:[/] " + safe("; ".join(f"{b} ({why})" for b, why in absent.items())))
    if reasons:
        others = table[(table["status"] != "ok") & ~table["backend"].isin(list(absent))]
        for (backend, status), part in others.groupby(["backend", "status"], sort=False):
            row = part.iloc[0]
            more = f" (and {len(part) - 1} more)" if len(part) > 1 else ""
            con.print(f"  [{STATUS_STYLE.get(status, '')}]{status}[/] "
                      + safe(f"{backend} | {row['case']}: {row['reason']}{more}"))
    if banner:
        con.print(f"\n[bold yellow]How far to trust these numbers:[/] {safe(banner)}; "
                  "untrusted cells end in '!' (the table's flags column says why)")
    if roof:
        con.print("\n[bold]Against this machine's FMA roof (peak_fraction):[/]")
        for line in roof:
            con.print(f"  {safe(line)}")
    if paths:
        con.print("\n[bold]Wrote:[/]")
        for path in paths:
            con.print(f"  {safe(path)}")
    if totals:
        con.print("\n[bold]Network totals (count-weighted; ! = untrusted rows behind the total):[/]")
        for line in totals:
            con.print(f"  {safe(line)}")
    if verdicts:
        con.print("\n[bold]The 1x1 reduction, measured (the answer tables below sum it up):[/]")
        for line in verdicts:
            con.print(f"  {safe(line)}")
    for answer in answer_tables(reduction):
        con.print()
        con.print(answer_table(answer))


def print_calibration(rows: list[dict], preset: str) -> None:
    """The A/A calibration table: false alarms and inconclusive points per threshold, and a suggestion."""
    table = Table(title=f"A/A calibration: preset {preset} measured twice, unchanged code", title_justify="left")
    for col in ("threshold", "points", "false alarms", "rate", "inconclusive", "rate "):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['threshold']:.0%}", str(r["points"]), str(r["false_alarms"]), f"{r['false_alarm_rate']:.1%}",
                      str(r["inconclusive"]), f"{r['inconclusive_rate']:.1%}")
    con = console()
    con.print(table)
    floor = rows[0]["noise_floor"] if rows else 0.0
    good = [r for r in rows if r["false_alarms"] == 0 and r["inconclusive_rate"] <= 0.1]
    con.print(f"run-to-run noise floor on this machine: +/-{floor:.0%}")
    if good:
        con.print(f"smallest threshold with no false alarm and <= 10% inconclusive points: "
                  f"[bold]{good[0]['threshold']:.0%}[/] (compare --threshold {good[0]['threshold']:g})")
    else:
        con.print("[yellow]no threshold here gave zero false alarms with few inconclusive points: quiet the machine "
                  "or raise --budget-s[/]")


def print_drift(summary, seconds: float) -> None:
    """The ``calibrate --drift-s`` table (:func:`harness.drift.drift_summary`) and what it means for a gate."""
    from ..drift import TOLERANCE, WINDOW_S

    table = Table(title=f"this machine's speed over {seconds:g} s: one thread, CPU time, {WINDOW_S:g} s windows in "
                  "turn", title_justify="left")
    for col in ("workload", "windows", "median per call", "p5", "p95", "sd (log)", f"pairs within +/-{TOLERANCE:.0%}",
                "moves with the others"):
        table.add_column(col, justify="left" if col == "workload" else "right")
    for r in summary.itertuples():
        table.add_row(safe(r.workload), str(r.windows), f"{r.median_per_call_s * 1e6:.0f} us", f"{r.p5_ratio:.2f}x",
                      f"{r.p95_ratio:.2f}x", f"{r.sd_log:.3f}", f"{r.pairs_within:.0%}",
                      "-" if math.isnan(r.co_movement) else f"{r.co_movement:.2f}")
    con = console()
    con.print(table)
    worst = summary["pairs_within"].min() if len(summary) else float("nan")
    con.print(f"two {WINDOW_S:g} s timings of an unchanged kernel agree within +/-{TOLERANCE:.0%} in {worst:.0%} of "
              "pairs (worst workload); about what two runs of a pytest-benchmark benchmark that short can expect "
              "here. Medians over longer runs, passes spread over the run (harness sweep) and compare's backend "
              "move average the drift out.")
