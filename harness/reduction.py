"""The reduction study: does a 1x1 reduce in front of a kxk convolution save as much time as FLOPs?

For every backend and branch (e.g. "3a 5x5") and every batch/dtype/threads
combination, compare the direct kxk layer with the reduce (1x1) + conv (kxk)
pair: ``flop_saving = flops_direct / flops_reduced``, ``time_saving =
time_direct_s / time_reduced_s``, ``efficiency = time_saving / flop_saving``
(1.0: the FLOP saving is fully realised as time).

Each saving carries a 95% confidence interval from a percentile bootstrap over
the three points' per-round samples: every resample draws each point's rounds
with replacement and recomputes the medians and the ratio. Rounds are the unit
the harness measures (each a block of calls), so this treats rounds as
exchangeable; correlated interference between rounds makes the interval
optimistic, which is why rows also carry trust flags and a branch is
``trusted`` only when its three rows are.
"""
from __future__ import annotations

import numpy as np

from .backends import unfused_twin
from .breakdown import add_parts
from .results import samples_by_point
from .trust import is_trusted

REDUCTION_COLUMNS = ["backend", "branch", "N", "dtype", "threads", "flops_direct", "flops_reduced",
                     "flop_saving", "time_direct_s", "time_reduced_s", "time_saving", "time_saving_lo",
                     "time_saving_hi", "efficiency", "efficiency_lo", "efficiency_hi", "trusted",
                     "gflops_direct", "gflops_reduce", "gflops_conv", "time_reduce_s", "time_conv_s",
                     "flops_reduce", "flops_conv", "bytes_direct", "bytes_reduce", "bytes_conv",
                     "fused_backend", "time_fused_s", "time_saving_fused", "time_saving_fused_lo",
                     "time_saving_fused_hi", "efficiency_fused", "fused_trusted", "flags", "fused_flags"]
GROUP = ["backend", "branch", "N", "dtype", "threads"]
ROLES = ("direct", "reduce", "conv")
#: Bootstrap resamples per branch and backend (seeded: the same run always gives the same interval).
BOOTSTRAP = 2000


def bootstrap_medians(samples_s, n: int = BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``n`` medians of resamples (with replacement) of ``samples_s``."""
    xs = np.asarray(samples_s, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(xs), size=(n, len(xs)))
    return np.median(xs[idx], axis=1)


def saving_interval(direct_s, reduce_s, conv_s, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(direct) / (median(reduce) + median(conv)) from per-round samples
    (``conv_s`` may be a single 0 when one fused call replaces the pair)."""
    if min(len(direct_s), len(reduce_s)) < 2 or len(conv_s) < 1:
        return float("nan"), float("nan")
    ratios = bootstrap_medians(direct_s, seed=1) / (bootstrap_medians(reduce_s, seed=2) +
                                                    bootstrap_medians(conv_s, seed=3))
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return float(lo), float(hi)


def role_flags(rows: dict) -> str:
    """The trust flags of a branch's rows, each named by its role: ``"direct:noisy;reduce:passes-disagree"``."""
    return ";".join(f"{role}:{flag}" for role, r in rows.items()
                    for flag in (r.get("flags") if isinstance(r.get("flags"), str) else "").split(";") if flag)


def reduction_table(table, samples=None):
    """Build the reduction table from a run table (only branches whose three layers are all ``ok``).

    ``samples`` (the run's per-round samples) gives the confidence intervals; without it they are NaN.
    """
    import pandas as pd

    if "role" not in table.columns:
        return pd.DataFrame(columns=REDUCTION_COLUMNS)
    by_point = samples_by_point(samples)
    rows = []
    ok = table[(table["status"] == "ok") & table["branch"].notna()]
    for key, group in ok.groupby(GROUP, sort=False):
        parts = {role: group[group["role"] == role] for role in ROLES}
        if any(len(part) != 1 for part in parts.values()):
            continue
        direct, reduce, conv = (parts[r].iloc[0] for r in ROLES)
        flops_reduced = reduce["flops"] + conv["flops"]
        time_reduced = reduce["time_s"] + conv["time_s"]
        flop_saving = direct["flops"] / flops_reduced
        time_saving = direct["time_s"] / time_reduced
        lo, hi = saving_interval(*(by_point.get((r["backend"], r["case"]), ()) for r in (direct, reduce, conv)))
        rows.append(dict(zip(GROUP, key), flops_direct=int(direct["flops"]), flops_reduced=int(flops_reduced),
                         flop_saving=flop_saving, time_direct_s=direct["time_s"], time_reduced_s=time_reduced,
                         time_saving=time_saving, time_saving_lo=lo, time_saving_hi=hi,
                         efficiency=time_saving / flop_saving, efficiency_lo=lo / flop_saving,
                         efficiency_hi=hi / flop_saving,
                         trusted=all(is_trusted(r) for r in (direct, reduce, conv)),
                         flags=role_flags(dict(zip(ROLES, (direct, reduce, conv)))),
                         gflops_direct=direct["gflops"], gflops_reduce=reduce["gflops"], gflops_conv=conv["gflops"],
                         time_reduce_s=reduce["time_s"], time_conv_s=conv["time_s"],
                         flops_reduce=int(reduce["flops"]), flops_conv=int(conv["flops"]),
                         bytes_direct=int(direct["bytes"]), bytes_reduce=int(reduce["bytes"]),
                         bytes_conv=int(conv["bytes"])))
    return pd.DataFrame(add_fused(rows, table, by_point), columns=REDUCTION_COLUMNS)


def add_fused(rows: list[dict], table, by_point: dict) -> list[dict]:
    """Fill the fused columns of reduction ``rows``: a ``role == "fused"`` row of a chain backend
    (``numba-cpu-fused``) goes beside the branch's row of its unfused twin (``numba-cpu``); its saving's
    interval bootstraps the direct layer's rounds against the fused call's; it is trusted when both rows are."""
    if "role" not in table.columns:
        return rows
    fused = table[(table["status"] == "ok") & (table["role"].astype(str) == "fused")]
    for f in fused.to_dict("records"):
        base = unfused_twin(f["backend"])
        for r in rows:
            if (r["backend"], r["branch"], r["N"], r["dtype"], str(r["threads"])) != (
                    base, f["branch"], f["N"], f["dtype"], str(f["threads"])):
                continue
            direct = table[(table["backend"] == base) & (table["branch"] == f["branch"]) &
                           (table["role"] == "direct") & (table["N"] == f["N"]) & (table["dtype"] == f["dtype"])]
            direct_s = by_point.get((base, direct["case"].iloc[0]), ()) if len(direct) else ()
            lo, hi = saving_interval(direct_s, by_point.get((f["backend"], f["case"]), ()), np.zeros(1))
            saving = r["time_direct_s"] / f["time_s"]
            behind = {"direct": direct.iloc[0], "fused": f} if len(direct) else {"fused": f}
            r.update(fused_backend=f["backend"], time_fused_s=f["time_s"], time_saving_fused=saving,
                     time_saving_fused_lo=lo, time_saving_fused_hi=hi, efficiency_fused=saving / r["flop_saving"],
                     fused_trusted=all(is_trusted(x) for x in behind.values()), fused_flags=role_flags(behind))
    return rows


def reduction_of_run(table, samples=None, peak: dict | None = None):
    """The reduction table of a run with where the saving went (:mod:`harness.breakdown`), or None when the
    run holds no reduce/direct branches."""
    if "role" not in table.columns or not table["role"].notna().any():
        return None
    return add_parts(reduction_table(table, samples), table, peak)
