"""The summary grid of a run (case x backend GFLOP/s, status words where not timed), for every view.

The terminal table and the HTML page render the same grid, so they can never
disagree about a cell or about which backend was best. A backend none of whose
rows ran (each skipped or unavailable: no GPU, too slow for these layers) gets no
column; :func:`not_run` says why, in one line under the grid.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Statuses of a row whose kernel never ran: a backend with nothing but these has no column in the grid.
NOT_RUN = ("skipped", "unavailable")


@dataclass(frozen=True)
class Cell:
    """One case x backend cell: its text, the row's status ("" when the backend has no row), best flag, and
    the row's trust flags (a timed cell whose row is untrusted ends in "!")."""

    text: str
    status: str
    best: bool = False
    flags: str = ""

    @property
    def untrusted(self) -> bool:
        """A timed cell whose number carries a trust flag."""
        return self.status == "ok" and bool(self.flags)


@dataclass(frozen=True)
class SummaryRow:
    """One case: its name, its work in MFLOP (text) and one cell per backend."""

    case: str
    mflop: str
    cells: tuple[Cell, ...]


def not_run(table) -> dict[str, str]:
    """``{backend: why}`` for the backends none of whose rows ran (each skipped or unavailable, or failed as an
    ``invalid case``: a shape no backend can run, as a kernel larger than its padded input), in table order.

    ``why`` is the status and reason when every row shares them (``unavailable: no CUDA GPU found``), else
    the first row's with the number of cases (``skipped on all 16 cases, e.g. 3a 1x1: estimated ...``)."""
    out = {}
    for backend, part in table.groupby("backend", sort=False):
        impossible = part["status"].eq("failed") & part["reason"].astype(str).str.startswith("invalid case:")
        if not (part["status"].isin(NOT_RUN) | impossible).all():
            continue
        part = part[~impossible] if (~impossible).any() else part  # a shape no backend can run says nothing of it
        first = part.iloc[0]
        if part["status"].nunique() == 1 and part["reason"].astype(str).nunique() == 1:
            out[backend] = f"{first['status']}: {first['reason']}"
        else:
            out[backend] = f"{first['status']} on all {len(part)} cases, e.g. {first['case']}: {first['reason']}"
    return out


def summary_grid(table) -> tuple[list[str], list[SummaryRow]]:
    """(backends in table order, one row per case in table order); best = highest GFLOP/s when >= 2 ran.

    Backends that ran nowhere (see :func:`not_run`) get no column."""
    skipped = not_run(table)
    backends = [b for b in dict.fromkeys(table["backend"]) if b not in skipped]
    rows = []
    for case, part in table.groupby("case", sort=False):
        ok = part[part["status"] == "ok"]
        best = ok.loc[ok["gflops"].idxmax(), "backend"] if len(ok) > 1 else None
        by_backend = {r["backend"]: r for r in part.to_dict("records")}
        cells = []
        for backend in backends:
            r = by_backend.get(backend)
            if r is None:
                cells.append(Cell("", ""))
            elif r["status"] == "ok":
                flags = r.get("flags") if isinstance(r.get("flags"), str) else ""
                text = f"{r['gflops']:.3g}" + ("!" if flags else "")
                cells.append(Cell(text, "ok", best=backend == best, flags=flags))
            else:
                cells.append(Cell(r["status"], r["status"]))
        flops = part["flops"].dropna()
        rows.append(SummaryRow(str(case), f"{flops.iloc[0] / 1e6:.4g}" if len(flops) else "?", tuple(cells)))
    return backends, rows
