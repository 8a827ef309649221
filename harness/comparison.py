"""``harness compare BASE NEW``: match two runs row by row and flag real slowdowns, only real ones.

A row regresses when NEW is slower than BASE by more than ``threshold`` *and* the
per-round samples differ significantly (two-sided Mann-Whitney U, ``alpha``) *and*
the best round moved as well as the median (see :func:`judge`).
Verdicts: slower, faster, same (change and its CI within the threshold),
inconclusive (the point cannot be judged at this threshold: a change that is not
significant or is inside the run-to-run noise floor, or a CI or noise floor wider
than the threshold), broken (ok in BASE, not ok in NEW), unavailable (timed in
neither run), only-in-one. Regressions are ``slower`` and ``broken`` rows; a
comparison with inconclusive rows and no regression exits 3, so a gate that
cannot see anything never passes green.

Per-round samples of one run are correlated (same process, same memory layout,
same neighbours on a shared machine), so a significant difference can still be
run-to-run noise. The comparison therefore also estimates that noise from the
data (an empirical null): the robust spread (1.4826 x MAD) of the log time
ratios over all matched rows. A change must exceed both the threshold and
``NOISE_Z`` times that spread to count; the floor is reported with the result.
"""
from __future__ import annotations

import math
from pathlib import Path

from .results import KEY_COLUMNS, RunFiles, read_metadata, read_samples, read_table, samples_by_point
from .settings import ALPHA, MIN_DELTA_S, THRESHOLD

REGRESSIONS = ("slower", "broken")
INCONCLUSIVE = "inconclusive"
#: How many robust standard deviations of the run-to-run log-ratio spread a change must exceed.
NOISE_Z = 3.0
#: Fewer matched timed rows than this and the spread is not estimated (the threshold alone applies).
MIN_ROWS_FOR_NOISE = 8
VERDICT_ORDER = {"broken": 0, "slower": 1, "inconclusive": 2, "only-in-one": 3, "unavailable": 4, "same": 5,
                 "faster": 6}
COMPARE_COLUMNS = ["verdict", "backend", "case", "dtype", "threads", "base_time_s", "new_time_s", "ratio",
                   "ratio_lo", "ratio_hi", "p_value", "note"]


def resolve_run(ref: str, results_dir: str | Path) -> RunFiles | Path:
    """A run given as ``path/RUN_ID.csv``, as a run id under ``results_dir``, or as a pytest-benchmark ``.json``."""
    path = Path(ref)
    if path.suffix == ".json":
        if not path.is_file():
            raise ValueError(f"no such pytest-benchmark file: {ref}")
        return path
    files = RunFiles.of(ref, results_dir)
    if not files.table.is_file():
        raise ValueError(f"no such run: {ref!r} (looked for {files.table})")
    if not files.samples.is_file():
        raise ValueError(f"run {ref!r} has no samples file {files.samples}; compare needs per-round samples")
    return files


def read_run(run: RunFiles | Path) -> tuple:
    """``(label, table, samples, metadata)`` of a run's files or of a pytest-benchmark JSON file."""
    if isinstance(run, RunFiles):
        return run.run_id, read_table(run.table), read_samples(run.samples), read_metadata(run.metadata)
    from .benchjson import benchmark_metadata, benchmark_tables, read_benchmark_json, run_id_of

    doc = read_benchmark_json(run)
    return (Path(run).name, *benchmark_tables(doc, run_id_of(run)), benchmark_metadata(doc))


def judge(base_s, new_s, threshold: float, alpha: float, noise_floor: float = 0.0,
          min_delta_s: float = 0.0) -> tuple[str, float, float]:
    """Verdict, NEW/BASE median ratio and Mann-Whitney p-value for two sets of per-call samples.

    A change counts (slower/faster) only when the samples differ significantly
    (p < ``alpha``) and both the median and the minimum moved beyond the larger of
    ``threshold`` and ``noise_floor`` (relative changes, 0.1 = 10%), in the same
    direction, and the medians differ by at least ``min_delta_s`` seconds.
    Interference on a shared machine inflates medians but rarely the best case,
    while a real slowdown moves both; and microsecond kernels differ from process
    to process by a few microseconds of call overhead. A change above the threshold
    that fails these tests is ``inconclusive``. ``same`` needs the change, the CI
    of the ratio of medians and the noise floor all inside the threshold; when
    they are not, a small change is ``inconclusive`` too.
    """
    import numpy as np
    from scipy.stats import mannwhitneyu

    from .timing import median_ci

    ratio = float(np.median(new_s) / np.median(base_s))
    ratio_min = float(np.min(new_s) / np.min(base_s))
    p_value = float(mannwhitneyu(base_s, new_s, alternative="two-sided").pvalue) if len(base_s) and len(new_s) \
        else 1.0
    band = math.log1p(threshold)
    if abs(math.log(ratio)) <= band:
        (b_lo, b_hi), (n_lo, n_hi) = median_ci(base_s), median_ci(new_s)
        ci_inside = math.log(n_hi / b_lo) <= band and math.log(b_hi / n_lo) <= band
        return ("same" if ci_inside and noise_floor <= threshold else INCONCLUSIVE), ratio, p_value
    bar = math.log1p(max(threshold, noise_floor))
    moved = min(abs(math.log(ratio)), abs(math.log(ratio_min))) > bar and (ratio > 1) == (ratio_min > 1)
    moved = moved and abs(float(np.median(new_s)) - float(np.median(base_s))) >= min_delta_s
    if p_value >= alpha or not moved:
        return INCONCLUSIVE, ratio, p_value
    return ("slower" if ratio > 1 else "faster"), ratio, p_value


def noise_floor(log_ratios) -> float:
    """Run-to-run noise as a relative change: exp(NOISE_Z * 1.4826 * MAD(log ratios)) - 1 (0 if too few rows)."""
    import numpy as np

    values = np.asarray([v for v in log_ratios if np.isfinite(v)], dtype=float)
    if len(values) < MIN_ROWS_FOR_NOISE:
        return 0.0
    mad = float(np.median(np.abs(values - np.median(values))))
    return math.expm1(NOISE_Z * 1.4826 * mad)


def compare_runs(base: RunFiles | Path, new: RunFiles | Path, threshold: float = THRESHOLD, alpha: float = ALPHA,
                 min_delta_s: float = MIN_DELTA_S):
    """The comparison of two runs on disk or pytest-benchmark JSON files (see :func:`compare_tables`)."""
    (_, base_table, base_samples, _), (_, new_table, new_samples, _) = read_run(base), read_run(new)
    return compare_tables(base_table, base_samples, new_table, new_samples, threshold, alpha, min_delta_s)


def compare_tables(base_table, base_samples, new_table, new_samples, threshold: float = THRESHOLD,
                   alpha: float = ALPHA, min_delta_s: float = MIN_DELTA_S):
    """The comparison table (one row per matched or unmatched point), worst first.

    Raises ValueError for a NaN or negative threshold, and when the runs have no
    point in common (nothing to compare is a usage error, not a pass).
    """
    import pandas as pd

    from .timing import median_ci

    if not threshold >= 0 or not alpha > 0:
        raise ValueError(f"threshold must be a number >= 0 and alpha > 0, got {threshold!r} and {alpha!r}")
    tables = [base_table.copy(), new_table.copy()]
    samples = [samples_by_point(base_samples), samples_by_point(new_samples)]
    for t in tables:
        t["_key"] = list(map(tuple, t[KEY_COLUMNS].astype(str).to_numpy()))
    merged = tables[0].merge(tables[1], on="_key", how="outer", suffixes=("_base", "_new"), indicator=True)
    if not (merged["_merge"] == "both").any():
        raise ValueError("the runs have no point in common (same backend, case, shape, dtype and threads): "
                         "nothing to compare")
    both_ok = merged[(merged["_merge"] == "both") & (merged["status_base"] == "ok") & (merged["status_new"] == "ok")]
    log_ratios = [(b, math.log(tn / tb)) for b, tb, tn in
                  zip(both_ok["backend_base"], both_ok["time_s_base"], both_ok["time_s_new"])]
    # each backend is judged against the noise of the *other* backends' rows (so a regression of all its
    # rows cannot inflate its own floor) and against the scatter of its own rows around their common
    # shift (MAD around their median: a uniform slowdown leaves it small, while a backend whose rows move
    # apart from process to process - e.g. with where its buffers land - is not judged by quieter ones)
    floors = {b: max(noise_floor([lr for other, lr in log_ratios if other != b]),
                     noise_floor([lr for other, lr in log_ratios if other == b])) for b, _ in log_ratios}
    rows = []
    for r in merged.to_dict("records"):
        side = "_base" if r["_merge"] != "right_only" else "_new"
        row = dict(backend=r[f"backend{side}"], case=r[f"case{side}"], dtype=r[f"dtype{side}"],
                   threads=r[f"threads{side}"], base_time_s=r.get("time_s_base"), new_time_s=r.get("time_s_new"),
                   ratio=math.nan, ratio_lo=math.nan, ratio_hi=math.nan, p_value=math.nan, note="")
        if r["_merge"] != "both":
            row.update(verdict="only-in-one", note=f"only in {'BASE' if side == '_base' else 'NEW'}")
        elif r["status_base"] == "ok" and r["status_new"] != "ok":
            row.update(verdict="broken", note=f"NEW is {r['status_new']}: {r['reason_new']}")
        elif r["status_base"] != "ok" and r["status_new"] != "ok":
            row.update(verdict="unavailable", note=f"timed in neither (BASE {r['status_base']}, "
                                                   f"NEW {r['status_new']})")
        elif r["status_base"] != "ok":
            row.update(verdict="only-in-one", note=f"timed only in NEW (BASE {r['status_base']})")
        else:
            key = (row["backend"], row["case"])
            b, n = samples[0].get(key), samples[1].get(key)
            if b is None or n is None or len(b) < 2 or len(n) < 2:
                raise ValueError(f"samples missing for {key[0]} | {key[1]}: the samples file does not match its table")
            floor = floors.get(row["backend"], 0.0)
            verdict, ratio, p_value = judge(b, n, threshold, alpha, floor, min_delta_s)
            (b_lo, b_hi), (n_lo, n_hi) = median_ci(b), median_ci(n)
            row.update(verdict=verdict, ratio=ratio, p_value=p_value, ratio_lo=n_lo / b_hi, ratio_hi=n_hi / b_lo)
            if verdict == INCONCLUSIVE:
                row["note"] = why_inconclusive(row, threshold, floor, p_value, alpha)
        rows.append(row)
    out = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    out["_order"] = out["verdict"].map(VERDICT_ORDER)
    out = out.sort_values(["_order", "ratio"], ascending=[True, False], na_position="last").drop(columns="_order")
    out.attrs["noise_floor"] = noise_floor([lr for _, lr in log_ratios])
    return out.reset_index(drop=True)


def why_inconclusive(row: dict, threshold: float, floor: float, p_value: float, alpha: float) -> str:
    """A short note on why a matched point could not be judged."""
    reasons = []
    if floor > threshold:
        reasons.append(f"noise floor +/-{floor:.0%} > threshold {threshold:.0%}")
    width = max(row["ratio_hi"] - 1, 1 - row["ratio_lo"])
    if width > threshold:
        reasons.append(f"CI of the ratio [{row['ratio_lo']:.2f}, {row['ratio_hi']:.2f}] wider than the threshold")
    if p_value >= alpha:
        reasons.append(f"not significant (p={p_value:.2g})")
    return "; ".join(reasons) or "best round and median disagree (interference?)"


def exit_code(result, allow_inconclusive: bool = False) -> int:
    """0 nothing regressed, 1 a regression, 3 inconclusive rows and no regression (0 when allowed)."""
    from .errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_REGRESSION

    if result["verdict"].isin(REGRESSIONS).any():
        return EXIT_REGRESSION
    if (result["verdict"] == INCONCLUSIVE).any() and not allow_inconclusive:
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def environment_warnings(base_meta: dict, new_meta: dict, base_table=None, new_table=None) -> list[str]:
    """Differences between the runs' machines, thread counts and library versions worth a warning."""
    warnings = []
    for key, what in (("host", "hosts"), ("cpu_model", "CPU models"), ("gpu", "GPUs"),
                      ("numba_threading_layer", "Numba threading layers")):
        if base_meta.get(key) != new_meta.get(key):
            warnings.append(f"different {what}: {base_meta.get(key)!r} vs {new_meta.get(key)!r}")
    if base_table is not None and new_table is not None:
        tb, tn = sorted(set(base_table["threads"].dropna())), sorted(set(new_table["threads"].dropna()))
        if tb != tn:
            warnings.append(f"different thread counts: {tb} vs {tn}")
    vb, vn = base_meta.get("versions", {}), new_meta.get("versions", {})
    for lib in sorted(set(vb) | set(vn)):
        if vb.get(lib) != vn.get(lib):
            warnings.append(f"different {lib} versions: {vb.get(lib)} vs {vn.get(lib)}")
    return warnings
