"""The answer at a glance: one table per reduction study, branch x backend, for every view.

A study is one batch/dtype/threads combination of a run's reduction table (one
table when none of them varies). Each row: the FLOP saving, the saving the
roofline predicts from the measured peak, the measured time saving with its 95%
interval, the share of the FLOP saving realised as time, and whether the rows
behind it are trusted (with their flags). A fused chain backend gets its own row
after its unfused twin. The terminal prints these tables last and the HTML page
first; the verdict sentences follow them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..trust import is_trusted
from .fmt import fmt_ratio
from .verdicts import backend_order

COLUMNS = ("branch", "backend", "FLOP saving", "roof-predicted saving", "time saving [95% CI]", "% realised",
           "trusted")


@dataclass(frozen=True)
class AnswerTable:
    """One study: its title and rows of text cells (``COLUMNS``), with each row's trust as a bool."""

    title: str
    rows: tuple[tuple[str, ...], ...]
    trusted: tuple[bool, ...]
    columns: tuple[str, ...] = COLUMNS


def saving_cell(value, lo, hi) -> str:
    """"7.3x [7.2, 7.5]"; "5.8x [0.04, 1850]" (small and large ends readable); "7.3x [no interval]" without
    samples; "" without a value."""
    if not isinstance(value, float) or not math.isfinite(value):
        return ""
    interval = f"[{fmt_ratio(lo)}, {fmt_ratio(hi)}]" if isinstance(lo, float) and math.isfinite(lo) \
        else "[no interval]"
    return f"{fmt_ratio(value)}x {interval}"


def trust_cell(trusted, flags) -> str:
    """"yes", or "no: noisy, passes-disagree" - the flags of the rows behind the saving (from ``role:flag``
    tokens; the run table's flags column names the rows)."""
    if is_trusted({"trusted": trusted}):
        return "yes"
    tokens = [t.split(":")[-1] for t in str(flags).split(";") if t] if isinstance(flags, str) else []
    return "no: " + ", ".join(dict.fromkeys(tokens)) if tokens else "no"


def predicted_cell(value) -> str:
    """"8.2x", or "-" where there is none (no peak, or a GPU backend the CPU's roof does not bound)."""
    return f"{fmt_ratio(value)}x" if isinstance(value, float) and math.isfinite(value) else "-"


def study_rows(study, order: list[str]) -> tuple[list[tuple[str, ...]], list[bool]]:
    """The rows of one study: branches in table order, backends in registry order, fused after their twin."""
    rows, trusted = [], []
    study = study.assign(_o=study["backend"].map(order.index)).sort_values("_o", kind="stable")
    for branch in dict.fromkeys(study["branch"]):
        for r in study[study["branch"] == branch].to_dict("records"):
            head = (str(branch), str(r["backend"]), f"{r['flop_saving']:.1f}x",
                    predicted_cell(r.get("predicted_saving")))
            cell = trust_cell(r["trusted"], r.get("flags"))
            rows.append(head + (saving_cell(r["time_saving"], r["time_saving_lo"], r["time_saving_hi"]),
                                f"{r['efficiency']:.0%}", cell))
            trusted.append(cell == "yes")
            fused = r.get("time_saving_fused")
            if isinstance(fused, float) and math.isfinite(fused):
                cell = trust_cell(r.get("fused_trusted"), r.get("fused_flags"))
                rows.append((str(branch), f"{r['fused_backend']} (fused)") + head[2:] + (
                    saving_cell(fused, r["time_saving_fused_lo"], r["time_saving_fused_hi"]),
                    f"{r['efficiency_fused']:.0%}", cell))
                trusted.append(cell == "yes")
    return rows, trusted


def answer_tables(reduction) -> list[AnswerTable]:
    """One :class:`AnswerTable` per study of ``reduction`` (:func:`harness.reduction.reduction_of_run`)."""
    if reduction is None or reduction.empty:
        return []
    varying = [c for c in ("N", "dtype", "threads") if reduction[c].nunique() > 1]
    order = backend_order(reduction["backend"])
    tables = []
    for key, study in reduction.groupby(varying or (lambda _: 0), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        where = f" ({', '.join(f'{c}={v}' for c, v in zip(varying, key))})" if varying else ""
        rows, trusted = study_rows(study, order)
        tables.append(AnswerTable(f"The answer{where}: does the 1x1 reduction save as much time as it saves FLOPs?",
                                  tuple(rows), tuple(trusted)))
    return tables
