"""The decision rule of harness compare on synthetic runs: verdicts at any kernel size, honest notes, measured floors.

Each scenario is one the old rule got wrong (a fixed 10 us floor, a noise floor estimated from all rows
including the slowed backend's, notes that measured the distance from 1 instead of a width); the
tests go through ``compare_runs`` and the CLI, which both rules share.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.cli import main
from harness.compare_rule import REASON_MOVED
from harness.comparison import compare_runs, exit_code
from harness.results import ALL_COLUMNS, ResultsWriter, RunFiles

CASES = [f"layer {i}" for i in range(8)]


def write_run(folder, run_id, *, base_s=3e-6, scale=None, noise=0.02, shift_sigma=None, rounds=40, seed=0,
              meta=None, passes=0):
    """A fake run of backends a and b on CASES: per-call times ``base_s`` x (1 + i/4) x lognormal(``noise``).

    ``scale`` maps backend -> slowdown factor (every sample); ``shift_sigma`` maps backend -> the sd of a
    random per-row factor exp(N(0, sd)) (run-to-run noise of that backend's rows); ``passes`` > 0 also writes
    the passes file, each point's rounds split into that many passes.
    """
    from harness.rows import PointResult

    rng = np.random.default_rng(seed)
    writer = ResultsWriter(RunFiles(folder, run_id))
    for backend in ("a", "b"):
        for i, case in enumerate(CASES):
            factor = (scale or {}).get(backend, 1.0) * math.exp(rng.normal(0, (shift_sigma or {}).get(backend, 0.0)))
            samples = base_s * (1 + i / 4) * factor * rng.lognormal(0, noise, rounds)
            row = {c: None for c in ALL_COLUMNS}
            row.update(run_id=run_id, backend=backend, device="cpu", case=case, N=1, C=8, H=8, W=8, F=8, k=1,
                       stride=1, padding=0, dtype="float32", threads=2, status="ok", reason="",
                       time_s=float(np.median(samples)), time_min_s=float(samples.min()), rounds=rounds, flops=1000)
            for n, part in enumerate(np.array_split(samples, passes) if passes else ()):
                writer.append_pass((backend, case), n, PointResult(dict(row), tuple(part)))
            writer.append(row, samples)
    writer.write_metadata(meta or {"host": "h", "cpu_model": "cpu", "versions": {"numpy": "2"}})
    return RunFiles(folder, run_id)


def judged(tmp_path, base, new, **kwargs):
    """compare_runs of two run ids under ``tmp_path``."""
    return compare_runs(RunFiles(tmp_path, base), RunFiles(tmp_path, new), **kwargs)


@pytest.mark.parametrize("factor", [1.3, 1.6, 3.0])
def test_a_clean_slowdown_of_a_2_to_5_us_kernel_is_slower(tmp_path, capsys, factor):
    # the case: smoke points take 2-5 us, and a fixed 10 us floor made every such row inconclusive
    write_run(tmp_path, "base", seed=1)
    write_run(tmp_path, "new", scale={"a": factor}, seed=2)
    result = judged(tmp_path, "base", "new")
    assert set(result[result["backend"] == "a"]["verdict"]) == {"slower"}
    assert set(result[result["backend"] == "b"]["verdict"]) == {"same"}
    assert (result["ratio_lo"][result["backend"] == "a"] > 1.1).all()
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "regression(s): a | layer" in out and "b | layer" not in out.split("regression(s):")[1]


def test_the_slowed_backend_does_not_widen_the_floor_that_judges_it(tmp_path):
    write_run(tmp_path, "base", seed=1, shift_sigma={"a": 0.02, "b": 0.02})
    write_run(tmp_path, "new", seed=2, shift_sigma={"a": 0.02, "b": 0.02})
    write_run(tmp_path, "slow", seed=2, shift_sigma={"a": 0.02, "b": 0.02}, scale={"a": 30.0})
    aa, slow = judged(tmp_path, "base", "new"), judged(tmp_path, "base", "slow")
    for backend, floor in aa.attrs["noise_floors"].items():
        assert slow.attrs["noise_floors"][backend]["floor"] == pytest.approx(floor["floor"], rel=1e-9)
    assert set(slow[slow["backend"] == "a"]["verdict"]) == {"slower"}


def test_a_noisy_backend_does_not_hide_a_quiet_backends_slowdown(tmp_path):
    # b's rows drift by ~x/1.6 from run to run; a is quiet and 1.3x slower: a is slower, b never is
    write_run(tmp_path, "base", seed=1, shift_sigma={"b": 0.5})
    write_run(tmp_path, "new", seed=2, shift_sigma={"b": 0.5}, scale={"a": 1.3})
    result = judged(tmp_path, "base", "new")
    assert set(result[result["backend"] == "a"]["verdict"]) == {"slower"}
    assert not (result[result["backend"] == "b"]["verdict"] == "slower").any()
    assert result.attrs["noise_floors"]["b"]["floor"] > 0.5 > result.attrs["noise_floors"]["a"]["floor"]


def test_identical_runs_are_same_and_exit_0_even_when_their_rounds_are_noisy(tmp_path):
    write_run(tmp_path, "base", noise=0.4, rounds=6)
    result = judged(tmp_path, "base", "base")
    assert set(result["verdict"]) == {"same"} and set(result["note"]) == {"identical samples"}
    assert exit_code(result) == 0
    assert main(["compare", "base", "base", "--results-dir", str(tmp_path)]) == 0


def test_huge_noise_is_inconclusive_never_slower_on_a_points_own_and_the_note_names_the_rounds(tmp_path, capsys):
    write_run(tmp_path, "base", noise=0.8, rounds=8, seed=1)
    write_run(tmp_path, "new", noise=0.8, rounds=8, seed=2, scale={"a": 1.6})
    result = judged(tmp_path, "base", "new")
    moved = result["note"].str.startswith(REASON_MOVED)
    assert not result[~moved]["verdict"].isin(["slower", "faster"]).any()  # no point shows it alone
    assert set(result[moved]["backend"]) <= {"a"}  # 8 points that all moved 1.6x may show it together
    unchanged = result[result["backend"] == "b"]
    assert set(unchanged["verdict"]) == {"inconclusive"}
    assert all("rounds' spread" in note and "straddles" in note for note in unchanged["note"])
    write_run(tmp_path, "again", noise=0.8, rounds=8, seed=3)
    assert main(["compare", "base", "again", "--results-dir", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert "more rounds per point: raise --budget-s" in out and "--allow-inconclusive" in out


def test_run_to_run_noise_is_named_when_it_is_what_straddles(tmp_path):
    # tight rounds, but every row of both backends drifts ~20% from run to run
    write_run(tmp_path, "base", seed=1, shift_sigma={"a": 0.2, "b": 0.2})
    write_run(tmp_path, "new", seed=2, shift_sigma={"a": 0.2, "b": 0.2})
    result = judged(tmp_path, "base", "new")
    assert not result["verdict"].isin(["slower", "faster"]).any()
    unjudged = result[result["verdict"] == "inconclusive"]
    assert len(unjudged) and all("run-to-run floor" in note for note in unjudged["note"])
    assert "wider than the threshold" not in " ".join(result["note"])


def test_a_tight_interval_straddling_the_threshold_is_inconclusive_and_says_so(tmp_path):
    # a 10% change measured to +/-3%: the interval [~1.07, ~1.13] straddles 1.10 - the old note called that
    # "wider than the threshold", measuring its distance from 1
    write_run(tmp_path, "base", seed=1, noise=0.03, rounds=30)
    write_run(tmp_path, "new", seed=2, noise=0.03, rounds=30, scale={"a": 1.10})
    result = judged(tmp_path, "base", "new")
    rows = result[result["backend"] == "a"]
    assert (rows["verdict"] == "inconclusive").sum() >= len(CASES) // 2
    for r in rows[rows["verdict"] == "inconclusive"].itertuples():
        assert r.ratio_lo < 1.1 < r.ratio_hi and r.note.startswith("straddles 1.10")


def test_every_judged_row_has_a_finite_detectable_above_1(tmp_path):
    write_run(tmp_path, "base", seed=1, noise=0.3, shift_sigma={"b": 0.3})
    write_run(tmp_path, "new", seed=2, noise=0.3, shift_sigma={"b": 0.3})
    result = judged(tmp_path, "base", "new")
    judged_rows = result[result["ratio"].notna()]
    assert judged_rows["detectable"].map(math.isfinite).all() and (judged_rows["detectable"] > 1.1).all()
    # a quiet comparison could detect smaller slowdowns than a noisy one
    write_run(tmp_path, "quiet_a", seed=1)
    write_run(tmp_path, "quiet_b", seed=2)
    quiet = judged(tmp_path, "quiet_a", "quiet_b")
    assert quiet["detectable"].median() < judged_rows["detectable"].median()


def test_a_median_inflated_by_a_time_slice_while_the_best_round_stayed_is_not_a_regression(tmp_path):
    # interference: most rounds of NEW's point waited for a descheduled thread (~7 ms on a 3 us kernel)
    write_run(tmp_path, "base", seed=1)
    new = write_run(tmp_path, "new", seed=2)
    import pandas as pd

    samples = pd.read_csv(new.samples)
    hit = (samples["case"] == "layer 0") & (samples["backend"] == "a") & (samples["round"] >= 5)
    samples.loc[hit, "time_s"] += 7e-3
    samples.to_csv(new.samples, index=False)
    result = judged(tmp_path, "base", "new")
    row = result[(result["case"] == "layer 0") & (result["backend"] == "a")].iloc[0]
    assert row["verdict"] == "inconclusive" and "best round unchanged" in row["note"]


def write_passes_run(folder, run_id, pass_scales, *, backend_scale=1.0, seed=0, pooled=None, every_point=False,
                     probe_s=None):
    """A run of backends a and b on CASES, each point timed in passes of 30 rounds whose times are scaled by
    ``pass_scales`` (backend a, layer 0 only - every point of a when ``every_point``; every other point's passes
    are alike), ``backend_scale`` for a;
    the row of (a, layer 0) pools the passes numbered in ``pooled`` (default: all), as the sweep pools a
    point's consistent passes or its fastest group; ``probe_s``: every pass's probe reading (none by default)."""
    from harness.rows import PointResult

    rng = np.random.default_rng(seed)
    writer = ResultsWriter(RunFiles(folder, run_id))
    for backend in ("a", "b"):
        for i, case in enumerate(CASES):
            scales = pass_scales if (backend, i) == ("a", 0) or (every_point and backend == "a") else \
                [1.0] * len(pass_scales)
            factor = backend_scale if backend == "a" else 1.0
            passes = [1e-4 * (1 + i / 4) * factor * s * rng.lognormal(0, 0.01, 30) for s in scales]
            kept = pooled if pooled is not None and (backend, i) == ("a", 0) else range(len(passes))
            samples = np.concatenate([passes[n] for n in kept])
            row = {c: None for c in ALL_COLUMNS}
            row.update(run_id=run_id, backend=backend, device="cpu", case=case, N=1, C=8, H=8, W=8, F=8, k=1,
                       stride=1, padding=0, dtype="float32", threads=2, status="ok", reason="",
                       time_s=float(np.median(samples)), time_min_s=float(samples.min()), rounds=len(samples),
                       flops=1000, passes=len(passes))
            for n, rounds in enumerate(passes):
                probe = {} if probe_s is None else {"probe_s": probe_s}
                writer.append_pass((backend, case), n, PointResult(dict(row, **probe), tuple(rounds)))
            writer.append(row, samples)
    writer.write_metadata({"host": "h", "cpu_model": "cpu", "versions": {"numpy": "2"}})
    return RunFiles(folder, run_id)


def test_passes_slowed_by_a_competing_process_are_not_a_regression_but_every_pass_slower_is(tmp_path):
    # Zen 5 with one competing process: NEW's passes of a numpy point ran at 270/345/300 us against BASE's 270;
    # the pooled median rose 1.28x with a tight interval of rounds - the old rule called it `slower`
    write_passes_run(tmp_path, "base", [1.0, 1.0, 1.0], seed=1)
    write_passes_run(tmp_path, "new", [1.0, 1.35, 1.2, 1.3, 1.25], seed=2)
    row = judged(tmp_path, "base", "new").query("backend == 'a' and case == 'layer 0'").iloc[0]
    assert row["ratio"] > 1.2 and row["verdict"] == "inconclusive" and "fastest pass unchanged" in row["note"]
    write_passes_run(tmp_path, "slow", [1.0, 1.0, 1.0], backend_scale=1.3, seed=3)
    result = judged(tmp_path, "base", "slow")
    assert (result.query("backend == 'a'")["verdict"] == "slower").all()
    assert not (result.query("backend == 'b'")["verdict"] == "slower").any()


def test_a_fast_burst_in_base_is_not_a_regression_of_new(tmp_path):
    # the quiet Intel Xeon VM ran 1.8x faster for tens of seconds at a time: a BASE point caught it in two of
    # five passes, its passes disagreed and its row pooled the fast two (interference only slows, the sweep
    # assumes); NEW ran all its passes at the usual speed. Judged by the rows: `slower` 1.8x, exit 1 (the fastest
    # pass moved too). The median pass of each run is the usual speed: not slower - and with BASE's passes 1.8x
    # apart not `same` either: that spread is the point's own run-to-run noise (compare_rule.passes_half).
    write_passes_run(tmp_path, "base", [0.55, 0.55, 1.0, 1.0, 1.0], pooled=[0, 1], seed=1)
    write_passes_run(tmp_path, "new", [1.0, 1.0, 1.0], seed=2)
    row = judged(tmp_path, "base", "new").query("backend == 'a' and case == 'layer 0'").iloc[0]
    assert row["verdict"] == "inconclusive" and row["ratio"] == pytest.approx(1.0, abs=0.05)
    assert "its passes' spread" in row["note"]
    assert row["base_time_s"] == pytest.approx(1e-4, rel=0.05)  # the time judged, not the row's pooled 0.55e-4
    # a slowdown of every pass of every point is still one, whichever passes BASE's row pooled: the backend moved
    write_passes_run(tmp_path, "slow", [1.3, 1.3, 1.3], backend_scale=1.3, seed=3)
    assert judged(tmp_path, "base", "slow").query("backend == 'a' and case == 'layer 0'").iloc[0]["verdict"] == \
        "slower"


def test_a_run_whose_median_pass_lies_within_the_other_runs_passes_is_not_slower(tmp_path, monkeypatch):
    # a machine switching speeds (two competing processes on the Intel VM): BASE caught the fast speed in three
    # passes of five, NEW in none; NEW's median pass is no slower than BASE's own slow passes
    write_passes_run(tmp_path, "base", [1.05, 1.05, 0.55, 0.55, 0.55], pooled=[2, 3, 4], seed=1)
    write_passes_run(tmp_path, "new", [1.0, 1.0, 1.0], seed=2)
    row = judged(tmp_path, "base", "new").query("backend == 'a' and case == 'layer 0'").iloc[0]
    assert row["ratio"] > 1.7 and row["verdict"] == "inconclusive"
    assert "within the other run's passes" in row["note"] and "span 1.9" in row["note"]
    # every pass 1.3x slower than every pass of BASE: slower
    write_passes_run(tmp_path, "same", [1.0, 1.0, 1.0], seed=3)
    write_passes_run(tmp_path, "slow", [1.3, 1.3, 1.3], seed=4)
    assert judged(tmp_path, "same", "slow").query("backend == 'a' and case == 'layer 0'").iloc[0]["verdict"] == \
        "slower"


def test_an_even_number_of_passes_is_judged_by_the_middle_two_together():
    from harness.passgroups import median_pass

    assert median_pass([(3.0,), (1.0,), (2.0,)]) == (2.0,)
    assert sorted(median_pass([(1.0, 1.1), (2.0, 2.1)])) == [1.0, 1.1, 2.0, 2.1]  # neither the faster nor the slower
    assert sorted(median_pass([(4.0,), (1.0,), (3.0,), (2.0,)])) == [2.0, 3.0]


def test_cases_named_by_numbers_are_found_in_the_passes_file(tmp_path):
    # a layer file labelled "1", "2", ...: the table reads the case back as a number, the passes file as text
    for run_id, scales in (("base", [0.55, 0.55, 1.0, 1.0, 1.0]), ("new", [1.0, 1.0, 1.0])):
        files = write_passes_run(tmp_path, run_id, scales, pooled=[0, 1] if run_id == "base" else None, seed=1)
        for path in (files.table, files.samples, files.passes):
            text = path.read_text()
            for i, case in enumerate(CASES):
                text = text.replace(case, str(10 + i))
            path.write_text(text)
    row = judged(tmp_path, "base", "new").query("backend == 'a' and case == 10").iloc[0]
    assert row["ratio"] == pytest.approx(1.0, abs=0.05)  # judged by the median passes (the pooled rows say 1.8x)


def test_pass_medians_are_read_from_the_passes_file_left_out_passes_included(tmp_path):
    from harness.passgroups import pass_medians_by_point, with_pass_medians
    from harness.results import read_samples

    files = write_passes_run(tmp_path, "run", [1.0, 2.0, 3.0])
    medians = pass_medians_by_point(with_pass_medians(read_samples(files.samples), files.passes))
    assert len(medians) == 2 * len(CASES) and medians[("a", "layer 0")] == pytest.approx([1e-4, 2e-4, 3e-4], rel=0.05)
    files.passes.write_text(files.passes.read_text()[:-40])  # a torn last line: that pass alone is lost
    medians = pass_medians_by_point(with_pass_medians(read_samples(files.samples), files.passes))
    assert len(medians[("b", CASES[-1])]) == 2 and len(medians[("a", "layer 0")]) == 3
    files.passes.unlink()  # no passes file (an older run): no medians, compare judges without the check
    assert pass_medians_by_point(with_pass_medians(read_samples(files.samples), files.passes)) == {}


def test_a_fast_pass_left_out_of_new_shows_the_code_did_not_slow(tmp_path):
    # two competing processes, Zen 5: NEW's point pooled its 3.2 us passes and left out a 1.8 us pass (the
    # rows speak of passes, not rounds); BASE had run at 1.8 us. The fast pass NEW left out is the evidence.
    write_passes_run(tmp_path, "base", [1.0, 1.0, 1.0], seed=1)
    new = write_passes_run(tmp_path, "new", [1.8, 1.8, 1.8], seed=2)
    import json

    records = [json.loads(line) for line in new.passes.read_text().splitlines()]
    extra = dict(records[0], samples_s=[t / 1.8 for t in records[0]["samples_s"]])  # a pass of (a, layer 0)
    new.passes.write_text("\n".join(json.dumps(r) for r in [*records, extra]) + "\n")
    row = judged(tmp_path, "base", "new").query("backend == 'a' and case == 'layer 0'").iloc[0]
    assert row["ratio"] > 1.7 and row["verdict"] == "inconclusive" and "fastest pass unchanged" in row["note"]


def test_a_floor_of_0_from_a_few_noisy_rows_is_unknown_not_zero():
    # Intel VM, one competing process: numba-cpu-fused's other three points had rounds spread x/2-3, which
    # "explained" all their scatter; the fourth got a floor of 0 and an unchanged 1.5x was `slower`
    from harness.noisefloor import row_floors

    rows = [("f", 0.3, 0.4), ("f", -0.2, 0.4), ("f", 0.1, 0.4), ("f", 0.4, 0.01)]
    half, source = row_floors(rows, 0.01)[3]
    assert half > 0.4 and "rounds included" in source
    copy = [("g", math.log(1.3), 0.01)] * 4  # a copy slowed by a factor: the rows agree exactly, the floor is 0
    assert [h for h, _ in row_floors(copy, 0.01)] == [0.0] * 4



def test_a_lone_fused_chain_borrows_its_unfused_backends_floor_not_the_widest():
    # smoke had one fused point (four since 02b0fce): it borrowed the widest of four backends (x/ 1.17-1.36 on the AMD VM); numba-cpu, whose
    # kernels it fuses, is its kin. Without kin, or with too few rows, the widest stays.
    from harness.noisefloor import row_floors

    quiet = [("numba-cpu", d, 0.01) for d in (0.02, -0.01, 0.03, 0.0, -0.02)]
    loud = [("numpy", d, 0.01) for d in (0.3, -0.25, 0.2, -0.3, 0.1)]
    half, source = row_floors(quiet + loud + [("numba-cpu-fused", 0.0, 0.01)], 0.01)[-1]
    assert half == row_floors(quiet + [("numba-cpu-fused", 0.0, 0.01)], 0.01)[-1][0]
    assert 0 < half < 0.2 and "unfused backend's rows (numba-cpu's)" in source
    half, source = row_floors(quiet + loud + [("numba-cpu-fused@base", 0.0, 0.01)], 0.01)[-1]
    assert half > 0.5 and "(numpy's)" in source  # the base build's twin's kin is numba-cpu@base: not in this table
    half, source = row_floors(quiet[:3] + loud + [("numba-cpu-fused", 0.0, 0.01)], 0.01)[-1]
    assert half > 0.5 and "widest spread" in source and "(numpy's)" in source  # its kin has 3 rows: too few


def test_the_kin_is_read_from_the_name_and_lends_neither_zero_nor_left_out_rows():
    from harness.backends import unfused_by_name
    from harness.noisefloor import row_floors

    names = ("numba-cpu-fused", "numba-cpu-fused@base", "my-plugin-fused", "-fused", "numpy", "")
    assert [unfused_by_name(n) for n in names] == ["numba-cpu", "numba-cpu@base", "my-plugin", None, None, None]
    # a kin whose scatter its rounds explain lends it with the rounds left in, not a floor of 0 (helper-46's case)
    kin = [("numba-cpu", d, 0.2) for d in (0.05, -0.05, 0.1, -0.1, 0.0)]
    half, source = row_floors(kin + [("numba-cpu-fused", 0.9, 0.01)], 0.01)[-1]
    assert half > 0.1 and "numba-cpu's" in source
    # a burst in one kin row (left out) widens no borrowed floor, and left-out rows do not count towards its four
    steady = [("numba-cpu", d, 0.01) for d in (0.02, -0.01, 0.03, 0.0)]
    plain = row_floors(steady + [("numba-cpu-fused", 0.0, 0.01)], 0.01)[-1][0]
    assert row_floors(steady + [("numba-cpu", 1.5, 0.01), ("numba-cpu-fused", 0.0, 0.01)], 0.01, left_out={4})[-1][0] \
        == plain
    half, source = row_floors(steady + [("numpy", 0.3, 0.01), ("numpy", -0.3, 0.01), ("numba-cpu-fused", 0.0, 0.01)],
                              0.01, left_out={0})[-1]
    assert "widest" in source and "(numpy's)" in source  # three kin rows left: too few
    # every lender's rows left out (a run beside a busy process throughout): they lend after all, never a floor of 0
    loud = [("numpy", d, 0.01) for d in (0.3, -0.3, 0.2)]
    half, source = row_floors(loud + [("numba-cpu-fused", 0.0, 0.01)], 0.01, left_out={0, 1, 2})[-1]
    assert half > 0.5 and "(numpy's)" in source


def test_a_fused_chain_with_few_points_pools_their_scatter_with_its_kins():
    # inception3a's four fused points were each judged against three: t(0.01, 2) = 9.9 turned ratios within 0.93-1.06
    # into floors of x/ 1.8-3.4 (AMD VM, unchanged A/B runs); pooled with numba-cpu's sixteen rows t is ~2.9
    from harness.noisefloor import row_floors

    fused = [("numba-cpu-fused", d, 0.01) for d in (0.06, -0.06, 0.0, 0.03)]
    kin = [("numba-cpu", d, 0.01) for d in np.random.default_rng(0).normal(0.0, 0.05, 16)]
    alone = row_floors(fused, 0.01)
    pooled = row_floors(fused + kin, 0.01)
    assert all(p < a / 2 for (p, _), (a, _) in zip(pooled[:4], alone))
    assert "pooled with its unfused backend's 16 (numba-cpu's)" in pooled[0][1]
    assert pooled[4:] == row_floors(kin, 0.01)  # the kin's own floors are its own
    loud = [("numba-cpu", d, 0.01) for d in (0.5, -0.5, 0.4, -0.4, 0.3, -0.3)]
    assert row_floors(fused + loud, 0.01)[0][0] > alone[0][0]  # a noisier kin widens it: pooled, not the narrower
    back_to_back = row_floors(fused + kin, 0.01, back_to_back={"numba-cpu-fused", "numba-cpu"})
    assert back_to_back[0][1] == "spread of its other 3 rows around 1"  # benchmark blocks: not pooled
    assert "pooled" not in row_floors(fused + kin[:4], 0.01, left_out={4, 5})[0][1]  # two kin rows left: too few
