"""The seed question per machine: the reduction study of every machine in the history, side by side.

For each machine the newest run that measured a branch (a reduce/conv pair and its
direct layer) gives that branch's row of the reduction study
(:func:`harness.reduction.reduction_table`, intervals bootstrapped from the stored
per-round samples); where a machine ran a branch at several thread counts, the
largest (all cores) is kept. The result is one long table - machine x backend x
branch x batch x dtype - that the terminal table and the figure pivot by machine.
"""
from __future__ import annotations

from .reduction import REDUCTION_COLUMNS, reduction_table
from .results import SAMPLE_COLUMNS

MACHINE_COLUMNS = ["machine", "machine_label", "run_id", "started_at", "git_commit"]
#: A branch's row is identified by these (besides the machine); threads are the largest the machine ran.
BRANCH_KEY = ["backend", "branch", "N", "dtype"]


def run_samples(rows):
    """The samples table of one stored run (rows with ``samples_s`` arrays), as a run's samples file reads."""
    import pandas as pd

    records = [{"run_id": r["run_id"], "backend": r["backend"], "case": r["case"], "round": i, "time_s": float(t)}
               for r in rows.to_dict("records") for i, t in enumerate(r["samples_s"])]
    return pd.DataFrame(records, columns=SAMPLE_COLUMNS)


def reduction_by_machine(history):
    """One reduction row per machine, backend, branch, batch and dtype (newest run; most threads), with the
    machine's fingerprint and label, the run id, date and commit; empty when no run holds reduce/direct pairs.

    ``history`` is :func:`harness.historydb.read_history` with ``samples=True``."""
    import pandas as pd

    columns = MACHINE_COLUMNS + REDUCTION_COLUMNS
    if "samples_s" not in history.columns:
        raise ValueError("the reduction study per machine needs the stored samples (read_history(samples=True))")
    has_roles = history[history["role"].notna() & history["branch"].notna()]
    parts = []
    for _, rows in history[history["run"].isin(has_roles["run"].unique())].groupby("run", sort=False):
        reduction = reduction_table(rows.reset_index(drop=True), run_samples(rows))
        if reduction.empty:
            continue
        first = rows.iloc[0]
        parts.append(reduction.assign(**{c: first[c] for c in MACHINE_COLUMNS}))
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True)[columns]
    table = table.sort_values(["started_at", "threads"], kind="stable")
    table = table.drop_duplicates(["machine", *BRANCH_KEY], keep="last")  # newest run, then most threads
    return table.sort_values(["branch", "N", "dtype", "backend", "machine_label"]).reset_index(drop=True)


def side_by_side(table):
    """The per-machine reduction table pivoted for reading: one row per branch, batch, dtype and backend, one
    column per machine holding ``time saving [lo, hi] = efficiency`` (``-`` where the machine did not run it)."""
    import pandas as pd

    if table.empty:
        return pd.DataFrame(columns=["branch", "N", "dtype", "backend", "flop_saving"])
    cells = table.assign(cell=[cell_text(r) for r in table.to_dict("records")])
    wide = cells.pivot_table(index=["branch", "N", "dtype", "backend", "flop_saving"], columns="machine_label",
                             values="cell", aggfunc="first").reset_index()
    wide.columns.name = None
    return wide.fillna("-")


def cell_text(row: dict) -> str:
    """``1.62x [1.61-1.63] 94% 2t`` (time saving, its interval, efficiency - ``!`` when untrusted - and the CPU
    threads of the run)."""
    import math

    interval = f" [{row['time_saving_lo']:.2f}-{row['time_saving_hi']:.2f}]" \
        if isinstance(row["time_saving_lo"], float) and math.isfinite(row["time_saving_lo"]) else ""
    mark = "" if row.get("trusted") is True or row.get("trusted") == 1 else "!"
    threads = f" {int(row['threads'])}t" if isinstance(row.get("threads"), (int, float)) and row["threads"] == \
        row["threads"] else ""
    return f"{row['time_saving']:.2f}x{interval} {row['efficiency']:.0%}{mark}{threads}"
