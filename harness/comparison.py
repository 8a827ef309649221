"""``harness compare BASE NEW``: match two runs row by row and flag real slowdowns, only real ones.

Verdicts: slower / faster (the interval of the NEW/BASE time ratio lies wholly beyond the threshold, at any kernel
size, and the best round moved too), same (the interval lies wholly inside it, or the samples are identical),
inconclusive (the interval straddles the threshold; the note says why), broken (ok in BASE, not ok in NEW),
unavailable (timed in neither run), only-in-one. The interval holds both the rounds' spread and the run-to-run noise
floor of the backend (:mod:`harness.compare_rule`, :mod:`harness.noisefloor`). Regressions are ``slower`` and
``broken`` rows; a comparison with inconclusive rows and no regression exits 3, so a gate that cannot see anything
never passes green. Every judged row carries ``detectable``, the smallest slowdown it could have seen.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .abhalves import build_of, split_ref
from .benchblocks import block_moves
from .benchfiles import PATHS_KEY, BenchFiles, is_file_list, listed_files, read_files
from .benchsides import several_files
from .benchpace import pace_widened
from .comparemerge import matched_samples, merge_points, pass_key, untimed_verdict
from .compare_rule import IDENTICAL, burst_hit, fastest_pass_log_ratio, judge, location, within_se, z_of
from .errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_REGRESSION
from .interference import (contention_noted, contention_split, interference_demoted, machine_demoted,
                           machine_warnings, move_verdict, state_moved)
from .keptpasses import judged_passes
from .noisefloor import load_floors, noise_path, row_floors, stale_floors, with_stored
from .pace import SLOPES_ATTR, left_over
from .pacetrust import ACROSS_ATTR, paced_runs, probe_mismatch, probe_version, probes_differ
from .passgroups import machine_ratio, pass_medians_by_point, with_pass_medians
from .results import RunFiles, read_metadata, read_samples, read_table
from .runwarnings import busy_runs, environment_warnings, probe_alone, slow_files
from .settings import ALPHA, THRESHOLD

REGRESSIONS = ("slower", "broken")
INCONCLUSIVE = "inconclusive"
VERDICT_ORDER = {"broken": 0, "slower": 1, "inconclusive": 2, "only-in-one": 3, "unavailable": 4, "same": 5,
                 "faster": 6}
COMPARE_COLUMNS = ["verdict", "backend", "case", "dtype", "threads", "base_time_s", "new_time_s", "ratio",
                   "ratio_lo", "ratio_hi", "ratio_min", "p_value", "detectable", "noise_floor", "note"]


@dataclass(frozen=True)
class BaseBuild:
    """The base build of an A/B run (``sweep --against``), named ``RUN@base``: its ``NAME@base`` rows."""

    files: RunFiles


def resolve_run(ref: str, results_dir: str | Path, verb: str = "compare") -> RunFiles | BaseBuild | BenchFiles | Path:
    """A run given as ``path/RUN_ID.csv``, as a run id under ``results_dir``, as a pytest-benchmark ``.json``, or as
    several of those files of one build (a comma-separated list or a glob, :mod:`harness.benchfiles`); ``RUN@base``
    (any form) is the base build of an A/B run. ``verb``: the command the errors name."""
    if is_file_list(ref):
        files, base = listed_files(str(ref).split(","))
        return BaseBuild(files) if base else files
    name, base = split_ref(ref)
    if base:
        if split_ref(name)[1]:
            raise ValueError(f"{ref!r}: a run has one base build; name it once (RUN@base)")
        return BaseBuild(resolve_run(name, results_dir, verb))
    path = Path(ref)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise ValueError(f"no such pytest-benchmark file: {ref}")
        return path
    files = RunFiles.of(ref, results_dir)
    if not files.table.is_file():
        raise ValueError(f"no such run: {ref!r} (looked for {files.table})")
    if not files.samples.is_file():
        raise ValueError(f"run {ref!r} has no samples file {files.samples}; {verb} needs per-round samples")
    return files


def read_run(run: RunFiles | Path) -> tuple:
    """``(label, table, samples, metadata)`` of a run's files or of a pytest-benchmark JSON file."""
    if isinstance(run, BaseBuild):
        return build_of(_read_whole(run.files, both_builds=True), base=True)
    return build_of(_read_whole(run), base=False)


def _read_whole(run: RunFiles | BenchFiles | Path, both_builds: bool = False) -> tuple:
    """``(label, table, samples, metadata)`` of a run, both builds of an A/B run included (``both_builds``: every
    one of several benchmark files must hold both)."""
    if isinstance(run, RunFiles):
        samples = with_pass_medians(read_samples(run.samples), run.passes)
        return run.run_id, read_table(run.table), samples, read_metadata(run.metadata)
    if isinstance(run, BenchFiles):
        return read_files(run, both_builds)
    # lazy: benchjson imports metadata, which imports numba; compare, report and plot of run files need neither
    from .benchjson import read_benchmark_run

    label, table, samples, meta = read_benchmark_run(run)
    return label, table, samples, dict(meta, **{PATHS_KEY: [str(Path(run).resolve())]})  # as several files record


def compare_runs(base: RunFiles | Path, new: RunFiles | Path, threshold: float = THRESHOLD, alpha: float = ALPHA,
                 results_dir: str | Path | None = None):
    """The comparison of two runs on disk or pytest-benchmark JSON files (see :func:`compare_data`)."""
    return compare_data(read_run(base), read_run(new), threshold, alpha, results_dir)


def compare_data(base: tuple, new: tuple, threshold: float = THRESHOLD, alpha: float = ALPHA,
                 results_dir: str | Path | None = None):
    """:func:`compare_tables` of two ``(label, table, samples, metadata)`` runs, with the stored noise floor of
    their CPU model (``harness calibrate``, under ``results_dir``) and the warnings in ``attrs["warnings"]``."""
    (base_id, base_table, base_samples, base_meta), (new_id, new_table, new_samples, new_meta) = base, new
    cpu = base_meta.get("cpu_model") if base_meta.get("cpu_model") == new_meta.get("cpu_model") else None
    json_input = "pytest-benchmark" in (base_meta.get("source"), new_meta.get("source"))
    files, warnings, side_attrs = several_files(base, new)  # one pass per file: counts, warnings, the pace
    # several files a side are judged against their own spread: a stored floor is one process's against one's
    stored = None if files[0] > 1 else load_floors(results_dir, cpu, probe_version(new_meta))
    result = compare_tables(base_table, base_samples, new_table, new_samples, threshold, alpha, stored,
                            json_input and files[0] == 1, probe_mismatch(base_meta, new_meta),
                            not probes_differ(base_meta, new_meta))
    result.attrs.update(side_attrs, base=base_id, new=new_id, kind="pytest-benchmark" if json_input else "sweep",
                        files=files)
    warnings += environment_warnings(base_meta, new_meta, base_table, new_table)
    measured = (result["ratio"].notna() & (result["note"] != IDENTICAL)).any()  # not a run against itself
    warnings += (busy_runs(base_meta, new_meta, base_table, new_table) + slow_files(base, new)) if measured else []
    judged = set(result.loc[result["ratio"].notna(), "backend"].astype(str))
    paced = {} if json_input or result.attrs.get(ACROSS_ATTR) else result.attrs.get(SLOPES_ATTR) or {}
    stale = [b for b in stale_floors(stored, paced) if b in judged]  # a stored floor of unpaced passes only
    if stale and measured:
        warnings.append(f"the stored noise floor of {', '.join(stale)} was measured before compare divided the "
                        "machine's pace out of each pass, as it did for these runs (harness.pace): it is not used; "
                        "run `harness calibrate` again")
    if stored is None and measured and files[0] == 1:
        where = f"{cpu!r} in {noise_path(results_dir)}" if cpu and results_dir is not None else "the runs' CPU model"
        warnings.append(f"no stored noise floor for {where} from runs of pace probe {probe_version(new_meta)}: the "
                        "run-to-run floor comes from this comparison's rows alone (run `harness calibrate` on this "
                        "machine to measure it across fresh processes)")
    result.attrs["warnings"] = warnings + machine_warnings(result, threshold, probe_alone(warnings))
    return result


def compare_tables(base_table, base_samples, new_table, new_samples, threshold: float = THRESHOLD,
                   alpha: float = ALPHA, stored_floor: dict | None = None, in_blocks: bool = False,
                   probe_reason: str | None = None, same_probe: bool = True):
    """The comparison table (one row per matched or unmatched point), worst first.

    Every ``ok``/``ok`` row is judged by :func:`harness.compare_rule.judge` with a run-to-run floor
    (:mod:`harness.noisefloor`: the wider of the spread of its backend's other rows in this comparison and
    ``stored_floor``, an entry of ``noise.json``); the column ``noise_floor`` is that floor as a relative change at
    ``alpha``. ``in_blocks``: each backend's points were timed back to back (pytest-benchmark), so their common
    shift counts as noise too; ``probe_reason``: why the runs' pace probes are not the same work
    (:mod:`harness.pacetrust`); ``same_probe`` False: the runs' probes are other loops (``versions["probe"]``), so
    their readings say nothing of the machine's move either (no hold-back). A point whose own interval cannot show a
    change may share its backend's move (:mod:`harness.backendmove`), in ``attrs["backend_moves"]`` per backend with
    its verdict. ``attrs["noise_floors"]`` holds per backend the median, lowest and highest of its rows' floors and
    where they came from; ``attrs["noise_floor"]`` the widest median. Raises ValueError for a NaN or negative
    threshold, and when the runs have no point in common (nothing to compare is a usage error, not a pass).
    """
    import numpy as np
    import pandas as pd

    if not threshold >= 0 or not math.isfinite(threshold) or not 0 < alpha < 1:
        raise ValueError(f"threshold must be a finite number >= 0 and 0 < alpha < 1, got {threshold!r} and {alpha!r}")
    merged = merge_points(base_table, new_table)
    # the machine's pace divided out: of each pass of a sweep, of each benchmark of a pytest-benchmark file
    base_samples, new_samples, slopes, across = paced_runs(base_samples, new_samples, probe_reason, in_blocks)
    matched, base_samples, new_samples, kept_notes = judged_passes(merged, base_samples, new_samples, matched_samples,
                                                                   pooled := set())
    slopes = {b: s for b, s in slopes.items() if in_blocks or b not in pooled}  # pooled passes: as measured
    ratios, passes, keys, fastest, odd = point_moves(merged, matched, base_samples, new_samples)
    odd |= {k for k, i in enumerate(matched) if contention_split(merged.loc[i])}  # neither floor nor move
    interfered = {k for k, (i, (_, d, _)) in enumerate(zip(matched, ratios))
                  if state_moved(merged.loc[i], d, threshold)}  # the machine's state may have moved them
    back_to_back, moves = block_moves(ratios, alpha, fastest, odd | interfered, list(matched.values()),
                                      new_samples.attrs, in_blocks, stored_floor)  # one file a side: steady blocks
    machine = machine_ratio(base_samples, new_samples) if same_probe else float("nan")  # did the machine move?
    shifted = {b for b, m in moves.items() if m.direction(threshold) and m.followed()}  # a change, not noise
    floors = dict(zip(matched, with_stored(row_floors(ratios, alpha, back_to_back, odd, shifted),
                                           [b for b, _, _ in ratios], stored_floor, z_of(alpha),
                                           set() if in_blocks or across else set(slopes))))
    crossed = {} if across else slopes  # the machine's move between the runs: divided out with these slopes
    floors, pace_notes = pace_widened(floors, keys, new_samples.attrs)  # how closely did they follow the pace?
    rows, sources = [], {}
    for i, r in merged.iterrows():
        side = "_base" if r["_merge"] != "right_only" else "_new"
        row = dict(backend=r[f"backend{side}"], case=r[f"case{side}"], dtype=r[f"dtype{side}"],
                   threads=r[f"threads{side}"], base_time_s=r.get("time_s_base"), new_time_s=r.get("time_s_new"))
        if i in matched:
            half, source = floors[i]
            base_passes, new_passes = passes[0].get(keys[i]), passes[1].get(keys[i])
            row.update(vars(judge(*matched[i], threshold, alpha, half, base_passes, new_passes,
                                  moves.get(r["backend_base"]), str(r["backend_base"]))),
                       noise_floor=math.expm1(half), base_time_s=location(matched[i][0]),
                       new_time_s=location(matched[i][1]))
            row.update(interference_demoted(row, r, bool(base_passes and new_passes)) or contention_noted(row, r))
            row.update(machine_demoted(row, left_over(machine, crossed.get(row["backend"])), threshold))
            if row["note"] != IDENTICAL:
                row["note"] = "; ".join(filter(None, [row["note"], kept_notes.get(i), pace_notes.get(i)]))
            sources.setdefault(row["backend"], []).append(source)
        else:
            row.update(untimed_verdict(r, side))
        rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=COMPARE_COLUMNS)
    out["note"], out["_order"] = out["note"].fillna(""), out["verdict"].map(VERDICT_ORDER)
    out = out.sort_values(["_order", "ratio"], ascending=[True, False], na_position="last", ignore_index=True)
    out = out.drop(columns="_order")
    out.attrs.update(threshold=threshold, alpha=alpha, warnings=[], noise_floors={
        b: {"floor": float(np.median(g["noise_floor"])), "lowest": float(g["noise_floor"].min()),
            "highest": float(g["noise_floor"].max()), "source": Counter(sources[b]).most_common(1)[0][0]}
        for b, g in sorted(out[out["ratio"].notna()].groupby("backend"), key=lambda kv: str(kv[0]))})
    out.attrs["backend_moves"] = {b: dict(vars(m), verdict=move_verdict(m, left_over(machine, crossed.get(b)),
                                                                        threshold),
                                          detectable=m.detectable(threshold))
                                  for b, m in sorted(moves.items(), key=lambda kv: str(kv[0]))}
    out.attrs["machine_ratio"] = machine if math.isfinite(machine) else None
    out.attrs[SLOPES_ATTR], out.attrs[ACROSS_ATTR] = slopes, across
    out.attrs["noise_floor"] = max((v["floor"] for v in out.attrs["noise_floors"].values()), default=0.0)
    return out


def point_moves(merged, matched: dict, base_samples, new_samples) -> tuple:
    """``(ratios, passes, keys, fastest, bursts)`` of the matched points: their :func:`log_ratios`, both runs' pass
    medians by point, each matched row's pass key, the log ratio of its fastest passes (NaN where unknown) in the
    order of ``ratios``, and the positions in ``ratios`` of the points a burst hit in one run
    (:func:`harness.compare_rule.burst_hit`)."""
    passes = [pass_medians_by_point(base_samples), pass_medians_by_point(new_samples)]
    ratios = log_ratios(merged, matched)
    keys = {i: pass_key(merged.at[i, "backend_base"], merged.at[i, "case_base"]) for i in matched}
    fastest = [fastest_pass_log_ratio(passes[0].get(keys[i]), passes[1].get(keys[i])) for i in matched]
    bursts = {k for k, ((_, d, _), f) in enumerate(zip(ratios, fastest)) if burst_hit(d, f)}
    return ratios, passes, keys, fastest, bursts


def log_ratios(merged, matched: dict) -> list[tuple]:
    """``(backend, log(location NEW / location BASE), within-run standard error)`` of every matched point."""
    return [(merged.at[i, "backend_base"], math.log(location(n) / location(b)), within_se(b, n))
            for i, (b, n) in matched.items()]


def exit_code(result, allow_inconclusive: bool = False) -> int:
    """0 nothing regressed, 1 a regression, 3 inconclusive rows and no regression (0 when allowed)."""
    if result["verdict"].isin(REGRESSIONS).any():
        return EXIT_REGRESSION
    if (result["verdict"] == INCONCLUSIVE).any() and not allow_inconclusive:
        return EXIT_INCONCLUSIVE
    return EXIT_OK
