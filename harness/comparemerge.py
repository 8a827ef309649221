"""Two run tables matched point by point for ``harness compare``: the outer merge, the rounds each matched point
is judged on, and the verdict of a point that was not timed in both runs.

A point's key is its backend, case, shape, dtype and threads (:data:`harness.results.KEY_COLUMNS`), compared as
text so that a case named ``1`` in one table and ``1.0`` in the other (a table read back from CSV) still match;
columns added to the run table after a run was made are unknown (NaN) there rather than missing.
"""
from __future__ import annotations

from .compare_rule import MIN_ROUNDS
from .layers import key_text
from .passgroups import median_pass_by_point
from .results import KEY_COLUMNS, LATER_COLUMNS, samples_by_point


def merge_points(base_table, new_table):
    """The outer merge of two run tables on the point key (``_merge`` says where each point is)."""
    tables = [base_table.copy(), new_table.copy()]
    for t in tables:
        t["_key"] = list(zip(*(t[c].map(key_text) for c in KEY_COLUMNS)))  # 1 and 1.0 alike
        for column in LATER_COLUMNS:  # a run from before the column: unknown there, and still NAME_base / NAME_new
            if column not in t:
                t[column] = float("nan")
    merged = tables[0].merge(tables[1], on="_key", how="outer", suffixes=("_base", "_new"), indicator=True)
    if not (merged["_merge"] == "both").any():
        raise ValueError("the runs have no point in common (same backend, case, shape, dtype and threads): "
                         "nothing to compare")
    return merged.reset_index(drop=True)


def untimed_verdict(r, side: str) -> dict:
    """``verdict`` and ``note`` of a merged point that is not timed in both runs (``side``: where its names are)."""
    if r["_merge"] != "both":
        return dict(verdict="only-in-one", note=f"only in {'BASE' if side == '_base' else 'NEW'}")
    if r["status_base"] == "ok":
        return dict(verdict="broken", note=f"NEW is {r['status_new']}: {r['reason_new']}")
    if r["status_new"] != "ok":
        return dict(verdict="unavailable", note=f"timed in neither (BASE {r['status_base']}, NEW {r['status_new']})")
    return dict(verdict="only-in-one", note=f"timed only in NEW (BASE {r['status_base']})")


def matched_samples(merged, base_samples, new_samples, pooled_out: set | None = None) -> dict:
    """``{row index of merged: (base samples, new samples)}`` of the points timed (``ok``) in both runs: the rounds
    of each side's median pass (:mod:`harness.passgroups`) for a backend all of whose matched points have one
    of at least ``MIN_ROUNDS`` rounds in both runs, else the rounds each row pooled - one kind per backend, since
    its rows' spread is the floor that judges each of them; ``pooled_out`` receives the backends judged on pooled
    rounds."""
    samples = [samples_by_point(base_samples), samples_by_point(new_samples)]
    medians = [median_pass_by_point(base_samples), median_pass_by_point(new_samples)]
    matched, pooled, lacking = {}, {}, set()
    for i, r in merged.iterrows():
        if r["_merge"] == "both" and r["status_base"] == "ok" and r["status_new"] == "ok":
            key = (r["backend_base"], r["case_base"])
            b, n = samples[0].get(key), samples[1].get(key)
            if b is None or n is None or len(b) < 2 or len(n) < 2:
                raise ValueError(f"samples missing for {key[0]} | {key[1]}: the samples file does not match its table")
            pooled[i] = (b, n)
            rounds = [m.get(pass_key(*key)) for m in medians]
            if all(x is not None and len(x) >= MIN_ROUNDS for x in rounds):
                matched[i] = tuple(rounds)
            else:
                lacking.add(key[0])
    if pooled_out is not None:
        pooled_out |= lacking
    return {i: pooled[i] if merged.at[i, "backend_base"] in lacking else matched[i] for i in pooled}


def pass_key(backend, case) -> tuple:
    """The key of a point in a run's passes (:mod:`harness.passgroups`): the case as text, as the passes file
    holds it (a table read back holds a case named "1" as the number 1)."""
    return backend, str(case)
