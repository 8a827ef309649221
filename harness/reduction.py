"""The reduction study: does a 1x1 reduce in front of a kxk convolution save as much time as FLOPs?

For every backend and branch (e.g. "3a 5x5") and every batch/dtype/threads
combination, compare the direct kxk layer with the reduce (1x1) + conv (kxk)
pair: ``flop_saving = flops_direct / flops_reduced``, ``time_saving =
time_direct_s / time_reduced_s``, ``efficiency = time_saving / flop_saving``
(1.0: the FLOP saving is fully realised as time).
"""
from __future__ import annotations

REDUCTION_COLUMNS = ["backend", "branch", "N", "dtype", "threads", "flops_direct", "flops_reduced",
                     "flop_saving", "time_direct_s", "time_reduced_s", "time_saving", "efficiency"]
GROUP = ["backend", "branch", "N", "dtype", "threads"]


def reduction_table(table):
    """Build the reduction table from a run table (only branches whose three layers are all ``ok``)."""
    import pandas as pd

    if "role" not in table.columns:
        return pd.DataFrame(columns=REDUCTION_COLUMNS)
    rows = []
    ok = table[(table["status"] == "ok") & table["branch"].notna()]
    for key, group in ok.groupby(GROUP, sort=False):
        roles = {role: group[group["role"] == role] for role in ("direct", "reduce", "conv")}
        if any(len(part) != 1 for part in roles.values()):
            continue
        direct, reduce, conv = (roles[r].iloc[0] for r in ("direct", "reduce", "conv"))
        flops_reduced = reduce["flops"] + conv["flops"]
        time_reduced = reduce["time_s"] + conv["time_s"]
        flop_saving = direct["flops"] / flops_reduced
        time_saving = direct["time_s"] / time_reduced
        rows.append(dict(zip(GROUP, key), flops_direct=int(direct["flops"]), flops_reduced=int(flops_reduced),
                         flop_saving=flop_saving, time_direct_s=direct["time_s"], time_reduced_s=time_reduced,
                         time_saving=time_saving, efficiency=time_saving / flop_saving))
    return pd.DataFrame(rows, columns=REDUCTION_COLUMNS)


def reduction_of_run(table):
    """The reduction table of a run, or None when the run holds no reduce/direct branches."""
    if "role" not in table.columns or not table["role"].notna().any():
        return None
    return reduction_table(table)


def verdict_lines(reduction) -> list[str]:
    """One sentence per branch (and batch/dtype/threads when they vary), backends fastest-saving first."""
    if reduction is None or reduction.empty:
        return []
    lines = []
    varying = [c for c in ("N", "dtype", "threads") if reduction[c].nunique() > 1]
    for key, group in reduction.groupby(["branch"] + varying, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        where = ", ".join(f"{c}={v}" for c, v in zip(varying, key[1:]))
        saving = group["flop_saving"].iloc[0]
        per_backend = ", ".join(f"{r.time_saving:.1f}x on {r.backend}"
                                for r in group.sort_values("time_saving", ascending=False).itertuples())
        label = f"{key[0]} branch" + (f" ({where})" if where else "")
        lines.append(f"{label}: {saving:.1f}x fewer FLOPs; time saved {per_backend}")
    return lines
