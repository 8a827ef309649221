"""harness compare: verdicts, noise floor, exit codes and outputs on synthetic runs (the rule: test_compare_rule)."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.compare_rule import judge
from harness.comparison import compare_runs, resolve_run
from harness.presets import get_preset
from harness.runwarnings import environment_warnings
from harness.results import ALL_COLUMNS, ResultsWriter, RunFiles

CASES = ["3a 1x1", "3a 3x3", "3a 5x5", "3a 5x5 reduce", "3a pool proj", "3a 3x3 reduce", "3a 3x3 direct",
         "3a 5x5 direct", "4a 1x1", "4a 3x3"]


def write_run(tmp_path, run_id, scale=None, shift_sigma=0.0, seed=0, meta=None):
    """A fake run: backends a and b on CASES, 20 rounds each; ``scale`` maps backend -> slowdown factor."""
    rng = np.random.default_rng(seed)
    files = RunFiles(tmp_path, run_id)
    writer = ResultsWriter(files)
    for backend in ("a", "b"):
        for i, case in enumerate(CASES):
            factor = (scale or {}).get(backend, 1.0) * np.exp(rng.normal(0, shift_sigma))
            samples = 1e-3 * (i + 1) * factor * rng.lognormal(0, 0.02, 20)
            row = {c: None for c in ALL_COLUMNS}
            row.update(run_id=run_id, backend=backend, device="cpu", case=case, N=1, C=8, H=8, W=8, F=8, k=1,
                       stride=1, padding=0, dtype="float32", threads=2, status="ok", reason="",
                       time_s=float(np.median(samples)), rounds=20, flops=1000)
            writer.append(row, samples)
    writer.write_metadata(meta or {"host": "h", "cpu_model": "cpu", "versions": {"numpy": "2"}})
    return files


def test_identical_runs_have_no_regression(tmp_path):
    base = write_run(tmp_path, "base")
    result = compare_runs(base, base)
    assert set(result["verdict"]) == {"same"}
    assert main(["compare", "base", "base", "--results-dir", str(tmp_path)]) == 0


def test_a_slower_backend_is_flagged_and_the_other_is_not(tmp_path, capsys):
    write_run(tmp_path, "base", seed=1)
    write_run(tmp_path, "new", scale={"a": 1.6}, seed=2)
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    result = compare_runs(RunFiles(tmp_path, "base"), RunFiles(tmp_path, "new"))
    slower = result[result["verdict"] == "slower"]
    assert set(slower["backend"]) == {"a"} and set(slower["case"]) == set(CASES)
    assert set(result[result["backend"] == "b"]["verdict"]) == {"same"}
    assert (slower["ratio"].between(1.5, 1.7)).all()
    assert f"{len(CASES)} regression(s): a | " in out
    assert list(result["verdict"])[: len(CASES)] == ["slower"] * len(CASES)  # worst first


def test_faster_is_not_a_regression(tmp_path):
    write_run(tmp_path, "base", seed=1)
    write_run(tmp_path, "new", scale={"b": 0.5}, seed=2)
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path)]) == 0


def test_run_to_run_noise_makes_the_gate_inconclusive_not_green(tmp_path, capsys):
    # every row of NEW drifts by ~30% at random: a 1.6x change is inside that noise, and so is a 2.2x one
    write_run(tmp_path, "base", seed=1)
    write_run(tmp_path, "new", shift_sigma=0.3, seed=5)
    result = compare_runs(RunFiles(tmp_path, "base"), RunFiles(tmp_path, "new"))
    assert result.attrs["noise_floor"] > 0.5
    assert not (result["verdict"] == "slower").any()
    assert (result["verdict"] == "inconclusive").sum() >= len(result) - 2
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert "inconclusive:" in out and "could not be judged" in out and "per backend: " in out
    assert "run-to-run noise: run BASE and NEW on the same quiet machine" in out
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path), "--allow-inconclusive"]) == 0


def test_no_rows_in_common_and_bad_thresholds_exit_2(tmp_path, capsys):
    write_run(tmp_path, "base")
    other = write_run(tmp_path, "other")
    table = pd.read_csv(other.table)
    table["case"] = "renamed " + table["case"]
    table.to_csv(other.table, index=False)
    assert main(["compare", "base", "other", "--results-dir", str(tmp_path)]) == 2
    assert "no point in common" in capsys.readouterr().err
    for bad in ("nan", "-0.1", "inf"):
        assert main(["compare", "base", "base", "--results-dir", str(tmp_path), "--threshold", bad]) == 2


def test_rows_unavailable_in_both_runs_are_unavailable(tmp_path):
    base = write_run(tmp_path, "base")
    table = pd.read_csv(base.table)
    table["reason"] = table["reason"].astype(object)
    table.loc[0, ["status", "reason"]] = ["unavailable", "no GPU"]
    table.to_csv(base.table, index=False)
    result = compare_runs(base, base)
    assert (result[result["case"] == table.loc[0, "case"]]["verdict"] == "unavailable").sum() == 1


def test_judge_rules():
    base = np.full(10, 1.0) * np.linspace(0.99, 1.01, 10)
    assert judge(base, base * 1.05, 0.10, 0.01).verdict == "same"
    assert judge(base, base * 1.5, 0.10, 0.01).verdict == "slower"
    assert judge(base, base * 0.5, 0.10, 0.01).verdict == "faster"
    # two rounds a side: the CI of a median of 2 covers 50%, no verdict however clear the change looks
    few = judge(base[:2], base[:2] * 1.5, 0.10, 0.01)
    assert few.verdict == "inconclusive" and "too few rounds (2" in few.note
    # a run-to-run floor as wide as the change: not a verdict, and the note says which part straddles
    floored = judge(base, base * 1.5, 0.10, 0.01, floor_half=0.5)
    assert floored.verdict == "inconclusive" and "run-to-run floor" in floored.note
    assert floored.detectable == pytest.approx(1.1 * np.exp(np.hypot(0.5, floored_within(base))), rel=1e-6)
    # no change, but a noise floor or a CI wider than the threshold: "same" cannot be claimed
    assert judge(base, base * 1.001, 0.10, 0.01, floor_half=0.3).verdict == "inconclusive"
    wide = np.array([0.5, 0.8, 1.0, 1.0, 1.2, 1.6, 2.0])
    assert judge(wide, wide * 1.001, 0.10, 0.01).verdict == "inconclusive"
    assert judge(wide, wide * 1.001, 3.5, 0.01).verdict == "same"  # the ratio interval fits a 350% band
    assert judge(wide, wide, 0.10, 0.01).verdict == "same"  # identical samples


def floored_within(samples) -> float:
    """The within-run half-width judge uses for two copies of ``samples`` at alpha 0.01."""
    from harness.compare_rule import within_se, z_of

    return z_of(0.01) * within_se(samples, samples)


def test_broken_and_unmatched_rows(tmp_path):
    base = write_run(tmp_path, "base")
    new = write_run(tmp_path, "new")
    table = pd.read_csv(new.table)
    table["reason"] = table["reason"].astype(object)
    table.loc[0, ["status", "reason"]] = ["wrong", "max abs error 3 > tolerance 1e-4"]
    table = table[table["case"] != "3a 5x5"]
    table.to_csv(new.table, index=False)
    result = compare_runs(base, new)
    broken = result[result["verdict"] == "broken"]
    assert len(broken) == 1 and "NEW is wrong" in broken.iloc[0]["note"]
    assert (result[result["case"] == "3a 5x5"]["verdict"] == "only-in-one").all()
    assert main(["compare", "base", "new", "--results-dir", str(tmp_path)]) == 1


def test_markdown_plot_and_environment_warnings(tmp_path, capsys):
    write_run(tmp_path, "base", seed=1)
    write_run(tmp_path, "new", scale={"a": 2.0}, seed=2,
              meta={"host": "other", "cpu_model": "cpu", "versions": {"numpy": "3"}})
    md, png = tmp_path / "cmp.md", tmp_path / "cmp.png"
    code = main(["compare", str(tmp_path / "base.csv"), str(tmp_path / "new.csv"), "--markdown", str(md),
                 "--plot", str(png)])
    assert code == 1
    err = capsys.readouterr().err
    assert "different hosts: 'h' vs 'other'" in err and "different numpy versions: 2 vs 3" in err
    text = md.read_text()
    assert f"**{len(CASES)} regression\\(s\\): a \\| " in text and "| slower | a | 3a 1x1 |" in text
    assert "| detectable |" in text and "could detect" in text
    assert matplotlib.image.imread(png).shape[0] > 100
    assert environment_warnings({"host": "x"}, {"host": "x"}) == []


@pytest.mark.parametrize("option, name, message", [
    ("--markdown", "base.csv", "must end in .md or .markdown"), ("--html", "new.json", "must end in .html or .htm"),
    ("--plot", "cmp.txt", "must end in .eps or"),
])
def test_report_files_never_take_a_run_file_or_an_unknown_format(tmp_path, capsys, option, name, message):
    write_run(tmp_path, "base", seed=1)
    write_run(tmp_path, "new", seed=2)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["compare", str(tmp_path / "base.csv"), str(tmp_path / "new.csv"), option, str(tmp_path / name)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("problem", ["missing", "no-samples", "bad-schema", "negative-time"])
def test_bad_input_exits_2(tmp_path, capsys, problem):
    write_run(tmp_path, "base")
    if problem == "no-samples":
        (tmp_path / "base.samples.csv").unlink()
    elif problem == "bad-schema":
        (tmp_path / "base.csv").write_text("a,b\n1,2\n")
    elif problem == "negative-time":
        samples = tmp_path / "base.samples.csv"
        head, first, rest = samples.read_text().split("\n", 2)
        samples.write_text("\n".join([head, first.rsplit(",", 1)[0] + ",-0.001", rest]))
    ref = "nope" if problem == "missing" else "base"
    assert main(["compare", ref, "base", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("harness: error:")
    with pytest.raises(ValueError):
        if problem in ("bad-schema", "negative-time"):
            compare_runs(resolve_run("base", tmp_path), resolve_run("base", tmp_path))
        else:
            resolve_run(ref, tmp_path)


def test_calibrate_runs_an_aa_test_and_reports_false_alarms_per_threshold(results_dir, capsys):
    code = main(["calibrate", "--preset", "smoke", "--backends", "numpy", "--budget-s", "0.05",
                 "--results-dir", str(results_dir), "--keep"])
    captured = capsys.readouterr()
    out = captured.out
    assert "A/A calibration: preset smoke measured twice" in out and "false alarms" in out
    for threshold in ("2%", "10%", "50%"):
        assert threshold in out
    assert (results_dir / "calibrate-a.csv").is_file() and (results_dir / "calibrate-b.csv").is_file()
    # the process-to-process floor is stored for this CPU model, and compare then uses it
    from harness.metadata import cpu_model
    from harness.noisefloor import load_floors
    from harness.storedfloor import calibration_entry

    entry = calibration_entry(RunFiles(results_dir, "calibrate-a"), RunFiles(results_dir, "calibrate-b"))
    left_out = entry["bursts_left_out"] + entry["contended_left_out"]
    stored = load_floors(results_dir, cpu_model())
    layers = len(get_preset("smoke").layers)
    if entry["backends"]:  # numpy kept 4 or more of its points
        assert code == 0 and stored["runs"] == ["calibrate-a", "calibrate-b"]
        assert stored["backends"]["numpy"]["rows"] + left_out == layers
        assert f"noise floor of numpy in {results_dir / 'noise.json'}" in out
        result = compare_runs(RunFiles(results_dir, "calibrate-a"), RunFiles(results_dir, "calibrate-b"),
                              results_dir=results_dir)
        assert "no stored noise floor" not in " ".join(result.attrs["warnings"])
    else:  # the other test worker's sweeps beside it took most points: nothing stored, and said so
        assert code == 2 and stored is None and left_out > layers - 4
        last = captured.err.strip().splitlines()[-1]
        assert last.startswith("harness: error: could not store the noise floor: no noise floor stored")
        assert "calibrate again on a quiet machine" in last
    result = compare_runs(RunFiles(results_dir, "calibrate-a"), RunFiles(results_dir, "calibrate-b"), 0.5)
    assert not result["verdict"].isin(["slower", "broken"]).any()
    capsys.readouterr()
    assert main(["calibrate", "--preset", "smoke", "--backends", "numpy", "--results-dir", str(results_dir),
                 "--keep"]) == 2  # the kept runs are not overwritten
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "from an earlier calibration" in err


def test_calibrate_names_the_points_it_left_out_of_the_stored_floor(monkeypatch, tmp_path, capsys):
    import harness.commands.calibrate as calibrate

    monkeypatch.setattr(calibrate, "execute", lambda *args, **kwargs: None)  # the sweeps: measured elsewhere
    monkeypatch.setattr(calibrate, "calibration_table", lambda *args: [])
    monkeypatch.setattr(calibrate, "print_calibration", lambda *args, **kwargs: None)
    entry = {"backends": {"numpy": {}}, "bursts_left_out": 1, "contended_left_out": 2, "too_few_rows": {"torch": 2}}
    monkeypatch.setattr(calibrate, "store_calibrated_floor", lambda *args: (tmp_path / "noise.json", entry))
    assert main(["calibrate", "--preset", "smoke", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "left out: 1 point(s) a burst of another process hit in one run" in out
    assert "left out: 2 point(s) that met other busy processes in either run (they held 25% or more" in out
    assert "no new floor for torch: 2 point(s) left, 3 needed" in out
    entry.update(bursts_left_out=0, contended_left_out=0, too_few_rows={})
    assert main(["calibrate", "--preset", "smoke", "--results-dir", str(tmp_path)]) == 0
    assert "left out" not in capsys.readouterr().out


@pytest.mark.parametrize("target", ["file", "noise-json-folder"])
def test_calibrate_and_save_floor_refuse_an_unusable_results_dir_before_measuring(target, monkeypatch, tmp_path,
                                                                                    capsys):
    import harness.commands.calibrate as calibrate

    measured = []
    monkeypatch.setattr(calibrate, "execute", lambda *args, **kwargs: measured.append(args))
    where = tmp_path / "r"
    if target == "file":
        where.write_text("not a folder")
    else:
        (where / "noise.json").mkdir(parents=True)
    assert main(["calibrate", "--preset", "smoke", "--results-dir", str(where)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(where) in err and not measured  # no sweep ran for nothing
    data = Path(__file__).parent / "data"
    assert main(["compare", str(data / "bench_base.json"), str(data / "bench_rerun.json"), "--results-dir", str(where),
                 "--save-floor"]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and str(where) in captured.err
    assert "base" not in captured.out  # refused before the comparison is printed


def test_an_aa_pair_stores_the_floor_that_later_comparisons_use(tmp_path, capsys):
    from harness.noisefloor import load_floors

    data = Path(__file__).parent / "data"
    base, rerun = str(data / "bench_base.json"), str(data / "bench_rerun.json")
    write_run(tmp_path, "base", seed=1)  # a sweep of another CPU model in the same folder keeps its own entry
    assert main(["compare", base, rerun, "--results-dir", str(tmp_path), "--save-floor"]) in (0, 3)
    assert "stored the spread of this A/A pair as the noise floor of numba-cpu, numpy, torch" in capsys.readouterr().out
    cpu = json.loads((data / "bench_base.json").read_text())["machine_info"]["cpu"]["brand_raw"]
    stored = load_floors(tmp_path, cpu)
    assert set(stored["backends"]) == {"numpy", "numba-cpu", "torch"} and stored["runs"] == ["bench_base.json",
                                                                                            "bench_rerun.json"]
    # a wider stored floor than the comparison's own widens every row of that backend, and says so
    stored["backends"]["torch"]["floor_sd"] = 0.5
    (tmp_path / "noise.json").write_text(json.dumps({cpu: stored}))
    result = compare_runs(resolve_run(base, tmp_path), resolve_run(rerun, tmp_path), results_dir=tmp_path)
    torch_rows = result[result["backend"] == "torch"]
    assert (torch_rows["noise_floor"] > 2).all() and set(torch_rows["verdict"]) == {"inconclusive"}
    assert result.attrs["noise_floors"]["torch"]["source"].startswith("stored A/A floor of ")
    assert "no stored noise floor" not in " ".join(result.attrs["warnings"])
    # runs of two CPU models are no A/A pair
    other = json.loads((data / "bench_rerun.json").read_text())
    other["machine_info"]["cpu"]["brand_raw"] = "another CPU"
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["compare", base, str(tmp_path / "other.json"), "--results-dir", str(tmp_path), "--save-floor"]) == 2
    assert "one CPU model" in capsys.readouterr().err


def test_a_slowdown_measured_only_under_interference_is_not_a_regression():
    """Seen on the Intel VM beside two busy loops: a 2.7 us kernel whose every pass stalled at ~6 ms in one run
    (flag `unsettled`) was judged 2362x slower, exit 1. The NEW side's interference flag the BASE lacks makes it
    inconclusive; the same flags on both sides (an injected slowdown of a copy) keep the verdict."""
    from harness.interference import interference_demoted

    slower = dict(verdict="slower", ratio=2362.0)
    merged = pd.Series({"flags_base": "noisy;passes-disagree", "flags_new": "noisy;unsettled"})
    demoted = interference_demoted(slower, merged)
    assert demoted["verdict"] == "inconclusive" and "NEW was measured under interference (unsettled)" in demoted["note"]
    assert interference_demoted(slower, pd.Series({"flags_base": "unsettled", "flags_new": "noisy;unsettled"})) == {}
    assert interference_demoted(slower, pd.Series({"flags_base": None, "flags_new": "noisy"})) == {}  # noisy: no
    assert interference_demoted(slower, pd.Series({"time_s_new": 1.0})) == {}  # JSON input: no flags column
    faster = interference_demoted(dict(verdict="faster", ratio=0.01),
                                  pd.Series({"flags_base": "passes-disagree", "flags_new": ""}))
    assert faster["verdict"] == "inconclusive" and faster["note"].startswith("BASE was measured")
    assert interference_demoted(dict(verdict="same", ratio=1.0), merged) == {}
    # with both runs' pass medians known, passes-disagree is left to the fastest-pass check; unsettled still demotes
    disagree = pd.Series({"flags_base": "", "flags_new": "passes-disagree"})
    assert interference_demoted(slower, disagree)["verdict"] == "inconclusive"
    assert interference_demoted(slower, disagree, passes_known=True) == {}
    assert interference_demoted(slower, merged, passes_known=True)["verdict"] == "inconclusive"
    # every pass of NEW on a slowed core (harness.probe): its fastest pass is slowed too, so it always demotes
    disturbed = pd.Series({"flags_base": "", "flags_new": "disturbed"})
    for known in (False, True):
        demoted = interference_demoted(slower, disturbed, passes_known=known)
        assert demoted["verdict"] == "inconclusive" and "(disturbed)" in demoted["note"]
    both = pd.Series({"flags_base": "disturbed", "flags_new": "disturbed"})  # two slowed measurements: no verdict
    demoted = interference_demoted(slower, both, passes_known=True)
    assert demoted["verdict"] == "inconclusive" and demoted["note"].startswith("both runs were measured")
    # ... unless the move is more than a slowed core can explain (1.4-1.8x measured): a 2.5x regression stands
    for flags in (disturbed, both):
        assert interference_demoted(dict(slower, ratio=2.5, ratio_lo=2.3), flags, passes_known=True) == {}
        assert interference_demoted(dict(slower, ratio=1.9, ratio_lo=1.7), flags, passes_known=True) != {}
    faster_by_far = dict(verdict="faster", ratio=0.3, ratio_hi=0.35)
    assert interference_demoted(faster_by_far, pd.Series({"flags_base": "disturbed", "flags_new": ""})) == {}
    assert interference_demoted(dict(verdict="faster", ratio=0.5), disturbed) == {}  # NEW slowed yet faster


def test_advice_for_points_demoted_for_interference_is_to_measure_again_not_a_threshold():
    from harness.compare_summary import advice

    rows = pd.DataFrame([
        dict(verdict="inconclusive", ratio_lo=1.9, ratio_hi=2.1,
             note="NEW was measured under interference (disturbed) and the other run was not: its slower 2x ..."),
        dict(verdict="inconclusive", ratio_lo=1.5, ratio_hi=1.7,
             note="both runs were measured with every pass on a slowed core (disturbed): the slower 1.6x ..."),
        dict(verdict="inconclusive", ratio_lo=0.9, ratio_hi=1.2, note="straddles 1.10; run-to-run floor +/-20% > ...")])
    tips = advice(rows)
    assert any(t.startswith("2 measured under interference") and "no threshold" in t for t in tips)
    assert "--threshold 0.20 would judge the others" in tips  # from the third row alone, not 1.10 from the first


def test_advice_for_rows_contention_left_wide_is_only_to_measure_again_with_one_thread():
    from harness.compare_summary import advice

    noted = ("NEW was measured under interference (contended: other processes held 39% of its cores during its "
             "median pass, 1% in the other run); straddles 1.10; run-to-run floor x/ 29 > rounds +/-3%; its passes' "
             "spread x/ 3 > rounds x/ 2")
    rows = pd.DataFrame([dict(verdict="inconclusive", ratio_lo=0.2, ratio_hi=9.0, note=noted)] * 3)
    tips = advice(rows)
    assert tips[0] == ("3 measured under interference (unsettled, disturbed, slow-handoff or contended): measure the "
                       "run(s) its note names again - on a shared machine with --threads 1; no threshold judges those")
    assert tips[1:] == ["--allow-inconclusive exits 0 instead of 3"]  # not --repeats, --budget-s nor calibrate


def test_points_match_however_a_table_holds_their_keys():
    # a run read back from CSV holds 1.0 and NaN where one built in memory holds 1 and None (a GPU row's threads);
    # before one key_text served compare and the history, None read "None" against "nan" and the points parted
    from harness.comparemerge import merge_points

    base = pd.DataFrame([dict(backend="numba-cuda", case="1x1", N=1, C=8, H=8, W=8, F=8, k=1, stride=1, padding=0,
                              dtype="float32", threads=None, time_s=1e-5)])
    new = base.assign(N=1.0, threads=float("nan"))
    merged = merge_points(base, new)
    assert len(merged) == 1 and merged.at[0, "_merge"] == "both"


def test_versions_written_as_null_read_as_unknown():
    assert environment_warnings({"versions": None}, {"versions": {"numpy": "2"}}) == [
        "the base run does not record the versions of numpy (written by an older convbench): whether they differ is "
        "unknown"]


def test_versions_one_run_does_not_record_are_one_warning_not_a_difference_each():
    """The committed example predates the torch/oneDNN/BLAS entries: compare said 'different torch versions: None vs
    2.13.0+cpu' and four more such lines. A library recorded as None (not installed) on one side still differs."""
    old = {"versions": {"numpy": "2", "torch": None}}
    new = {"versions": {"numpy": "2", "torch": "2.13.0", "onednn": "3.7", "openblas": "0.3.31"}}
    assert environment_warnings(old, new) == [
        "different torch versions: None vs 2.13.0",
        "the base run does not record the versions of onednn, openblas (written by an older convbench): whether "
        "they differ is unknown"]


def test_rounds_no_call_can_take_are_a_damaged_file_not_an_overflow(tmp_path):
    # 1e-300 s beside microsecond rounds: the ratios left a float's range (OverflowError in the judge)
    from tests.test_pace import write_paced_run

    for name, seed in (("base", 1), ("new", 2)):
        write_paced_run(tmp_path, name, seed=seed)
    samples = pd.read_csv(tmp_path / "new.samples.csv")
    samples.loc[0, "time_s"] = 1e-300
    samples.to_csv(tmp_path / "new.samples.csv", index=False)
    with pytest.raises(ValueError, match="time_s must hold seconds from 1e-12 to 1e\\+06; the samples file is damaged"):
        compare_runs(RunFiles(tmp_path, "base"), RunFiles(tmp_path, "new"))
