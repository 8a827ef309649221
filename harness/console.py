"""Terminal output with rich: the sweep's progress bar and the summary tables."""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

STATUS_STYLE = {"ok": "green", "skipped": "yellow", "unavailable": "dim", "failed": "red", "wrong": "bold red"}


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), plain when not a terminal."""
    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=False,
                   width=None if sys.stdout.isatty() else 160)


class SweepProgress:
    """A progress bar over a sweep's points; silent when ``quiet``."""

    def __init__(self, total: int, quiet: bool = False):
        self.quiet = quiet
        self._progress = Progress(TextColumn("[bold]{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=console(stderr=True), transient=False,
                                  disable=quiet)
        self._task = self._progress.add_task("starting", total=total)
        self._printed = (float("-inf"), "")

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def start(self, backend: str, case) -> None:
        """Show the point being measured."""
        self._progress.update(self._task, description=f"{backend} | {case.name}"[:44])

    def status(self, text: str, every_s: float = 30.0) -> None:
        """Show a status line (a cluster's queue and workers) as the description; where the bar cannot
        redraw (not a terminal), print it as a line when it changed, at most every ``every_s`` seconds."""
        self._progress.update(self._task, description=text)
        now = time.monotonic()
        if (not self.quiet and not self._progress.console.is_interactive and text != self._printed[1]
                and now - self._printed[0] >= every_s):
            self._progress.console.print(text)
            self._printed = (now, text)

    def step(self, n: int) -> None:
        """Advance the bar by ``n`` measurements."""
        self._progress.advance(self._task, n)

    def done(self, result) -> None:
        """Print a line for a finished point that did not end ok (wrong or failed)."""
        row = result.row
        if row["status"] not in ("ok", "unavailable", "skipped") and not self.quiet:
            self._progress.console.print(
                f"[{STATUS_STYLE[row['status']]}]{row['status']}[/]: {row['backend']} | {row['case']}: {row['reason']}")


def _cell(row) -> str:
    if row.status == "ok":
        return f"{row.gflops:.3g}"
    return f"[{STATUS_STYLE.get(row.status, '')}]{row.status}[/]"


def gflops_table(table, title: str) -> Table:
    """Backend x case GFLOP/s (status words where not ok); the best backend per case in bold."""
    backends = list(dict.fromkeys(table["backend"]))
    out = Table(title=title, title_justify="left", show_lines=False)
    out.add_column("case", style="bold")
    out.add_column("MFLOP", justify="right")
    for backend in backends:
        out.add_column(backend, justify="right")
    for case, part in table.groupby("case", sort=False):
        by_backend = {r.backend: r for r in part.itertuples()}
        ok = part[part["status"] == "ok"]
        best = ok.loc[ok["gflops"].idxmax(), "backend"] if len(ok) else None
        cells = []
        for backend in backends:
            row = by_backend.get(backend)
            text = _cell(row) if row is not None else ""
            cells.append(f"[bold reverse]{text}[/]" if backend == best and len(ok) > 1 else text)
        flops = part["flops"].dropna()
        out.add_row(str(case), f"{flops.iloc[0] / 1e6:.4g}" if len(flops) else "?", *cells)
    return out


def print_summary(table, *, title: str, verdicts: list[str], paths: list, reasons: bool = True) -> None:
    """The end-of-sweep report: GFLOP/s table, reasons for rows that were not measured, verdict, paths."""
    con = console()
    con.print(gflops_table(table, title))
    if reasons:
        others = table[table["status"] != "ok"]
        for (backend, status), part in others.groupby(["backend", "status"], sort=False):
            row = part.iloc[0]
            more = f" (and {len(part) - 1} more)" if len(part) > 1 else ""
            con.print(f"  [{STATUS_STYLE.get(status, '')}]{status}[/] {backend} | {row['case']}: {row['reason']}{more}")
    if verdicts:
        con.print("\n[bold]The 1x1 reduction, measured:[/]")
        for line in verdicts:
            con.print(f"  {line}")
    if paths:
        con.print("\n[bold]Wrote:[/]")
        for path in paths:
            con.print(f"  {path}")


