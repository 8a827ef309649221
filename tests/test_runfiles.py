"""A run owns its files: run ids that cannot collide, a lock per run, whole lines, repairs on resume."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.durable import RunLock, RunLockedError, append_line, atomic_write_text, drop_torn_tail
from harness.probe import PROBE_VERSION
from harness.results import RunFiles, check_run_id

TINY = """
[[layer]]
label = "a"
C = 3
H = 6
W = 6
F = 4
k = 3
padding = 1

[[layer]]
label = "b"
C = 4
H = 5
W = 5
F = 2
k = 1
"""
BACKENDS = "numpy,naive"


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err


def sweep_args(tmp_path, *extra, run_id="r1"):
    layers = tmp_path / "layers.toml"
    layers.write_text(TINY)
    return ["sweep", "--layers", str(layers), "--backends", BACKENDS, "--budget-s", "0.1", "--in-process",
            "--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p"), "--run-id", run_id,
            "--no-plots", "--no-report", "--quiet", "--settle-s", "0", *extra]


@pytest.mark.parametrize("run_id", ["peak", "index", "noise", "History", "x.samples", "x.reduction", "a.b", "x\n",
                                    "_x", "", "a/b", "x" * 101])
def test_run_ids_that_could_collide_are_refused(run_id, tmp_path, capsys):
    code, err = run(capsys, *sweep_args(tmp_path, run_id=run_id))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "invalid run id" in err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())


def test_committed_runs_stay_readable():
    root = Path(__file__).resolve().parent.parent / "results"
    for run_id in ("example", "example-gpu", "example-gpu-inception3a"):
        assert check_run_id(run_id) == run_id
        assert RunFiles(root, run_id).table.is_file()
    assert RunFiles("results", "old.style.run").table.name == "old.style.run.csv"  # reading older dotted ids


def test_a_second_live_sweep_on_a_run_id_exits_2_naming_the_holder(tmp_path, results_dir, capsys):
    with RunLock(tmp_path / "r" / "r1.lock"):
        code, err = run(capsys, *sweep_args(tmp_path))
    assert code == 2 and "another live sweep" in err and "pid" in err
    assert not (tmp_path / "r" / "r1.csv").exists()
    code, err = run(capsys, *sweep_args(tmp_path))  # the lock is free again
    assert code == 0, err


def test_a_released_lock_removes_its_file_and_a_lock_taken_on_a_removed_file_moves_to_the_new_one(tmp_path,
                                                                                                   monkeypatch):
    import os

    path = tmp_path / "r1.lock"
    first = RunLock(path).acquire()
    with pytest.raises(RunLockedError, match="is held by pid"):
        RunLock(path).acquire()
    real_open = os.open

    def open_then_first_ends(*args, **kwargs):  # the holder ends between our open and our flock
        fd = real_open(*args, **kwargs)
        first.release()
        return fd

    monkeypatch.setattr(os, "open", open_then_first_ends)
    second = RunLock(path).acquire()
    monkeypatch.setattr(os, "open", real_open)
    assert path.read_text() == f"pid {os.getpid()} on {__import__('socket').gethostname()}\n"  # the new file
    with pytest.raises(RunLockedError):  # and it is really held: a third process is refused
        RunLock(path).acquire()
    second.release()
    assert not path.exists()


def test_whole_lines_atomic_json_and_torn_tails(tmp_path):
    path = tmp_path / "t.csv"
    append_line(path, "1,2", header="a,b")
    append_line(path, "3,4", header="a,b")
    assert path.read_text() == "a,b\n1,2\n3,4\n"
    with path.open("a") as fh:
        fh.write("5,")
    assert drop_torn_tail(path) == "5,"
    assert path.read_text() == "a,b\n1,2\n3,4\n" and drop_torn_tail(path) is None
    target = tmp_path / "m.json"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / f".m.json.{__import__('os').getpid()}.tmp").symlink_to(victim)  # planted symlink
    atomic_write_text(target, '{"a": 1}')
    assert json.loads(target.read_text()) == {"a": 1} and victim.read_text() == "keep"


def test_a_torn_row_is_dropped_and_measured_again_on_resume(tmp_path, results_dir, capsys):
    code, err = run(capsys, *sweep_args(tmp_path))
    assert code == 0, err
    table = tmp_path / "r" / "r1.csv"
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # the last row, cut by a kill
    meta = tmp_path / "r" / "r1.json"
    meta.write_text(meta.read_text().replace('"complete"', '"interrupted"'))
    code, err = run(capsys, "sweep", "--resume", "r1", "--results-dir", str(tmp_path / "r"), "--plots-dir",
                    str(tmp_path / "p"), "--no-plots", "--no-report", "--quiet")
    assert code == 0, err
    assert "dropped an incomplete last line" in err
    after = pd.read_csv(table)
    assert len(after) == 4 and not after.duplicated(["backend", "case"]).any()
    assert pd.api.types.is_integer_dtype(after["N"])


def test_a_run_of_a_version_without_the_last_column_resumes_into_this_versions_table(tmp_path, results_dir,
                                                                                      capsys):
    code, err = run(capsys, *sweep_args(tmp_path))
    assert code == 0, err
    table = tmp_path / "r" / "r1.csv"
    old = pd.read_csv(table, keep_default_na=False).drop(columns=["others_share"])
    old.iloc[:-1].to_csv(table, index=False)  # as the version before others_share wrote it, killed before the last row
    meta = tmp_path / "r" / "r1.json"
    meta.write_text(meta.read_text().replace('"complete"', '"interrupted"'))
    code, err = run(capsys, "sweep", "--resume", "r1", "--results-dir", str(tmp_path / "r"), "--plots-dir",
                    str(tmp_path / "p"), "--no-plots", "--no-report", "--quiet")
    assert code == 0, err
    after = pd.read_csv(table)
    assert len(after) == 4 and "others_share" in after.columns and not after.duplicated(["backend", "case"]).any()
    assert after["others_share"].notna().sum() == 1  # the point measured now has one; the kept rows, unknown


def test_only_a_table_lacking_the_columns_added_later_passes_for_an_older_version(tmp_path):
    from harness.resume import load_progress
    from harness.results import ALL_COLUMNS, LATER_COLUMNS

    files = RunFiles(tmp_path, "a2")
    files.table.write_text("run_id,backend\n")  # a prefix of the header, but far more than the later columns missing
    with pytest.raises(ValueError, match="not a run table of this version"):
        load_progress(files)
    files.table.write_text(",".join(ALL_COLUMNS[:-len(LATER_COLUMNS)]) + "\n")
    load_progress(files)
    assert files.table.read_text().splitlines()[0] == ",".join(ALL_COLUMNS)  # this version's header from now on


def test_resume_pools_kept_passes_and_measures_only_the_missing_ones(tmp_path, results_dir, capsys):
    code, err = run(capsys, *sweep_args(tmp_path, "--repeats", "3", "--backends", "numpy"))
    assert code == 0, err
    r = tmp_path / "r"
    passes = [json.loads(line) for line in (r / "r1.passes.jsonl").read_text().splitlines()]
    for case in ("a", "b"):  # every pass is on disk, the last too (more than 3 when passes disagreed)
        numbers = sorted(p["pass"] for p in passes if p["key"][1] == case)
        assert numbers == list(range(len(numbers))) and len(numbers) >= 3
    # pretend the run was killed during the third pass of point "b": its row, samples and last pass never got written
    table = pd.read_csv(r / "r1.csv", keep_default_na=False)
    (r / "r1.csv").write_text(table[table["case"] == "a"].to_csv(index=False))
    samples = pd.read_csv(r / "r1.samples.csv")
    samples[samples["case"] == "a"].to_csv(r / "r1.samples.csv", index=False)
    kept_records = [p for p in passes if p["key"][1] == "a" or p["pass"] < 2]
    (r / "r1.passes.jsonl").write_text("".join(json.dumps(p) + "\n" for p in kept_records)
                                       + '{"key": ["numpy", "b"')  # and a torn pass record
    kept = [t for p in kept_records if p["key"][1] == "b" for t in p["samples_s"]]
    code, err = run(capsys, "sweep", "--resume", "r1", "--results-dir", str(r), "--no-plots", "--no-report",
                    "--quiet", "--plots-dir", str(tmp_path / "p"))
    assert code == 0, err
    after = pd.read_csv(r / "r1.csv", keep_default_na=False).set_index("case")
    assert sorted(after.index) == ["a", "b"]
    # each row pools two passes or more - unless its passes disagreed and it names them: then the fastest may stand
    # alone (on a loaded CI box the pass measured now can run far from the kept two, and the extra passes too)
    assert ((after["passes"] >= 2) | (after["passes_disagree"] != "")).all(), after[["passes", "passes_disagree"]]
    b_passes = [json.loads(line) for line in (r / "r1.passes.jsonl").read_text().splitlines()[len(kept_records):]]
    assert [p["pass"] for p in b_passes][:1] == [2]  # only the missing pass (and any re-measure) was measured
    b_samples = pd.read_csv(r / "r1.samples.csv").query("case == 'b'")["time_s"].tolist()
    pooled = b_samples[: len(kept)] == pytest.approx(kept)  # the kept passes, then the one measured now
    assert pooled or " ran " in after.loc["b", "reason"]  # ... unless one disagreed with the others and says so


def test_a_kept_pass_with_impossible_times_is_measured_again(tmp_path, results_dir, capsys):
    code, err = run(capsys, *sweep_args(tmp_path, "--repeats", "3", "--backends", "numpy"))
    assert code == 0, err
    r = tmp_path / "r"
    table = pd.read_csv(r / "r1.csv", keep_default_na=False)
    (r / "r1.csv").write_text(table[table["case"] == "a"].to_csv(index=False))  # "b" was killed mid-run
    samples = pd.read_csv(r / "r1.samples.csv")
    samples[samples["case"] == "a"].to_csv(r / "r1.samples.csv", index=False)
    records = [json.loads(line) for line in (r / "r1.passes.jsonl").read_text().splitlines()]
    for record in records:
        if record["key"][1] == "b":
            record["samples_s"][0] = -1.0 if record["pass"] == 0 else float("nan")
    (r / "r1.passes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in records))
    code, err = run(capsys, "sweep", "--resume", "r1", "--results-dir", str(r), "--no-plots", "--no-report",
                    "--quiet", "--plots-dir", str(tmp_path / "p"))
    assert code == 0 and "is not a pass record; ignored" in err, err
    b_samples = pd.read_csv(r / "r1.samples.csv").query("case == 'b'")["time_s"]
    assert len(b_samples) and (b_samples > 0).all()


def test_resume_with_conflicting_flags_names_them(tmp_path, capsys):
    code, err = run(capsys, "sweep", "--resume", "r1", "--backends", "naive", "--axis", "N=64",
                    "--results-dir", str(tmp_path))
    assert code == 2 and "--backends, --axis" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("damage", ["garbage", "extra-column", "missing-column", "zero-bytes", "truncated-json",
                                    "bad-status", "peak-not-object", "settings-budget", "settings-backends",
                                    "settings-axes", "schema-version-text", "probe-version-1"])
def test_resume_of_damaged_files_is_one_line_exit_2_or_works(damage, tmp_path, results_dir, capsys):
    code, err = run(capsys, *sweep_args(tmp_path))
    assert code == 0, err
    r = tmp_path / "r"
    table, meta = r / "r1.csv", r / "r1.json"
    text = table.read_text()
    header, rest = text.split("\n", 1)
    if damage == "garbage":
        table.write_bytes(b"\x00\xff garbage, \"unclosed\n1,2\n")
    elif damage == "extra-column":
        table.write_text(header + ",extra\n" + "".join(line + ",1\n" for line in rest.splitlines()))
    elif damage == "missing-column":
        names = header.split(",")  # one inside (a missing last column is an older version's table: resumed)
        table.write_text(",".join(names[:-2] + names[-1:]) + "\n")
    elif damage == "zero-bytes":
        table.write_text("")
    elif damage == "truncated-json":
        meta.write_text(meta.read_text()[:40])
    elif damage == "peak-not-object":
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "peak": "fast"}))
    elif damage.startswith("settings-"):  # hand-edited settings: refused before the run is claimed
        stored = json.loads(meta.read_text())
        bad = {"settings-budget": ("budget_s", -1), "settings-backends": ("backends", 5),
               "settings-axes": ("axes", [[1, 2]])}[damage]
        stored["settings"][bad[0]] = bad[1]
        meta.write_text(json.dumps(dict(stored, status="interrupted")))
    elif damage == "probe-version-1":  # begun before probe version 2: its passes' readings are another loop's
        stored = json.loads(meta.read_text())
        assert stored["versions"].pop("probe") == PROBE_VERSION
        meta.write_text(json.dumps(dict(stored, status="interrupted")))
    elif damage == "schema-version-text":
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "schema_version": "x"}))
    else:
        table.write_text(header + "\n" + rest.replace(",ok,", ",weird,", 1))
    code, err = run(capsys, "sweep", "--resume", "r1", "--results-dir", str(r), "--plots-dir",
                    str(tmp_path / "p"), "--no-plots", "--no-report", "--quiet")
    assert "Traceback" not in err
    if damage == "zero-bytes":  # an empty table is a run with no finished point yet
        assert code == 0 and len(pd.read_csv(table)) == 4
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "cannot resume" in err
        if damage == "probe-version-1":
            assert "it was begun before pace probe version 2 (harness.probe)" in err
        if damage.startswith("settings-"):
            assert bad[0] in err and json.loads(meta.read_text())["status"] == "interrupted"  # not left "running"


def test_a_complete_run_from_before_probe_version_2_is_still_complete(tmp_path, results_dir, capsys):
    # the probe check refuses to measure more of such a run; a complete one has nothing to measure (it said exit 2)
    code, err = run(capsys, *sweep_args(tmp_path))
    assert code == 0, err
    meta = tmp_path / "r" / "r1.json"
    stored = json.loads(meta.read_text())
    del stored["versions"]  # older still: no versions at all
    meta.write_text(json.dumps(stored))
    assert main(["sweep", "--resume", "r1", "--results-dir", str(tmp_path / "r"), "--plots-dir",
                 str(tmp_path / "p"), "--no-plots", "--no-report", "--quiet"]) == 0
    assert "is complete: nothing to resume" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--budget-s", "nan"], "must be a finite number"),
    (["sweep", "--target-rel-ci", "2"], "must be between 0 and 1 (a fraction of the median: 0.02 is 2%), got 2"),
    (["sweep", "--timeout-s", "0"], "must be > 0"),
    (["check", "--axis", "stride=1180591620717411303424", "--backends", "numpy"], "absurdly large"),
    (["sweep", "--resume", "x", "--run-id", "y"], "drop --run-id"),
    (["compare", "a", "b", "--alpha", "2"], "argument --alpha: must be < 1, got 2"),
    (["sweep", "--repeats", "1000000"], "must be between 1 and 1000 (more passes than that is a typo)"),
    (["sweep", "--settle-s", "1e9"], "must be between 0 and 600"),
    (["peak", "--seconds", "1e-9"], "must be between 0.05 and 600 (shorter measures no peak"),
    (["calibrate", "--alpha", "1"], "argument --alpha: must be < 1, got 1"),
])
def test_more_bad_requests_exit_2_with_one_line(argv, message, tmp_path, capsys):
    code, err = run(capsys, *argv, *(["--results-dir", str(tmp_path)] if argv[0] == "sweep" else []))
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_results_dir_that_is_a_file_exits_2(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code, err = run(capsys, *sweep_args(tmp_path)[:-10], "--results-dir", str(tmp_path / "file"))
    assert code == 2 and "--results-dir" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content, message", [
    (b"x = " + b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"\xff\xfe[[layer]]\n", "not UTF-8"),
])
def test_hostile_layer_files_are_one_line_errors(content, message, tmp_path, capsys):
    path = tmp_path / "layers.toml"
    path.write_bytes(content)
    for command in ("list", "check"):
        code, err = run(capsys, command, "--layers", str(path))
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_reading_a_table_leaves_out_a_torn_last_line_and_refuses_unknown_statuses(tmp_path, results_dir, capsys):
    code, err = run(capsys, *sweep_args(tmp_path, "--settle-s", "0"))
    assert code == 0, err
    table = tmp_path / "r" / "r1.csv"
    whole = table.read_text()
    table.write_text(whole + whole.splitlines()[-1][: len(whole.splitlines()[-1]) // 2])  # a row cut short
    code = main(["plot", str(table), "--plots-dir", str(tmp_path / "p2")])
    err = capsys.readouterr().err
    assert code == 0 and err.count("\n") == 1 and "its last line is incomplete" in err and "harness: warning:" in err
    lines = whole.splitlines()
    table.write_text("\n".join([lines[0], lines[1].replace(",ok,", ",weird,", 1)] + lines[2:]) + "\n")
    assert main(["plot", str(table), "--plots-dir", str(tmp_path / "p3")]) == 2
    assert "status 'weird' is not one of" in capsys.readouterr().err


def test_resuming_a_complete_run_changes_nothing(tmp_path, results_dir, capsys):
    code, err = run(capsys, *sweep_args(tmp_path))
    assert code == 0, err
    files = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()}
    code, err = run(capsys, "sweep", "--resume", "r1", "--results-dir", str(tmp_path / "r"), "--plots-dir",
                    str(tmp_path / "p"), "--quiet")
    assert code == 0 and err == ""
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()} == files


def test_outputs_that_cannot_be_written_are_one_line_errors(tmp_path, results_dir, capsys):
    code, err = run(capsys, *sweep_args(tmp_path))
    assert code == 0, err
    r, p = tmp_path / "r", tmp_path / "p"
    p.mkdir(exist_ok=True)
    (p / "r1").write_text("a file where the run's plots folder goes")
    for argv in (["report", "r1", "--results-dir", str(r), "--plots-dir", str(p)],
                 ["plot", str(r / "r1.csv"), "--plots-dir", str(p)]):
        code, err = run(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot write" in err, err
    (p / "r3").write_text("in the way")
    code, err = run(capsys, *[a for a in sweep_args(tmp_path, run_id="r3") if a not in ("--no-plots", "--no-report")])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "its table and metadata are complete" in err, err
    assert pd.read_csv(r / "r3.csv")["status"].eq("ok").all()
    code, err = run(capsys, "report", "r1", "--index", "--results-dir", str(r), "--plots-dir", str(tmp_path / "q"))
    assert code == 2 and "drop 'r1'" in err
    (r / "empty.csv").write_text((r / "r1.csv").read_text().split("\n", 1)[0] + "\n")  # the header alone
    code, err = run(capsys, "plot", str(r / "empty.csv"), "--plots-dir", str(tmp_path / "q"))
    assert code == 2 and "no rows to plot" in err
    code, err = run(capsys, "plot", str(r / "r1.json"), "--plots-dir", str(tmp_path / "q"))
    assert code == 2 and "plot takes a run table (results/RUN_ID.csv) or a run id, not a .json file" in err
    samples = r / "r1.samples.csv"
    kept = samples.read_text()
    samples.write_text(kept.rsplit(",", 1)[0] + ",-0.001\n")  # the last sample negative
    code, err = run(capsys, "plot", str(r / "r1.csv"), "--plots-dir", str(tmp_path / "q"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "samples file is damaged" in err, err
    samples.write_text(kept)
    (r / "r1.json").write_text('{"a":')
    code, err = run(capsys, "plot", str(r / "r1.csv"), "--plots-dir", str(tmp_path / "q"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot read" in err, err


def test_leftovers_without_metadata_are_not_offered_a_resume(tmp_path, results_dir, capsys):
    (tmp_path / "r").mkdir(exist_ok=True)
    (tmp_path / "r" / "r1.samples.csv").write_text("run_id,backend,case,round,time_s\n")
    code, err = run(capsys, *sweep_args(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot be resumed: remove the leftovers" in err and "--resume" not in err


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "incomplete"])
@pytest.mark.parametrize("name", ["csv", "samples.csv", "passes.jsonl", "json"])
def test_a_torn_last_line_of_each_run_file_loses_no_point_on_resume(name, complete, tmp_path, results_dir, capsys):
    """A kill can cut the last line of any run file (of a finished run too: a kill during its last write)."""
    code, err = run(capsys, *sweep_args(tmp_path, "--repeats", "2"))
    assert code == 0, err
    r = tmp_path / "r"
    table = pd.read_csv(r / "r1.csv", keep_default_na=False)
    if not complete:  # killed before its last point's row: no row, no samples, status interrupted
        last = table.iloc[-1]
        table.iloc[:-1].to_csv(r / "r1.csv", index=False)
        samples = pd.read_csv(r / "r1.samples.csv")
        keep = (samples["backend"] != last["backend"]) | (samples["case"] != last["case"])
        samples[keep].to_csv(r / "r1.samples.csv", index=False)
        meta = json.loads((r / "r1.json").read_text())
        (r / "r1.json").write_text(json.dumps(dict(meta, status="interrupted")))
    path = r / f"r1.{name}"
    data = path.read_bytes()
    cut = len(data) // 2 if name == "json" else data.rstrip(b"\n").rfind(b"\n") + 1 + len(data.splitlines()[-1]) // 2
    path.write_bytes(data[:cut])
    code, err = run(capsys, "sweep", "--resume", "r1", "--results-dir", str(r), "--plots-dir", str(tmp_path / "p"),
                    "--no-plots", "--no-report", "--quiet")
    if name == "json":  # written atomically, so never torn by a kill; damaged anyway, it is named
        assert code == 2 and "cannot resume 'r1'" in err and len(err.strip().splitlines()) == 1, err
        return
    assert code == 0, err
    after = pd.read_csv(r / "r1.csv", keep_default_na=False)
    assert len(after) == 4 and not after.duplicated(["backend", "case"]).any()
    assert set(map(tuple, after[["backend", "case"]].to_numpy())) == set(map(tuple, table[["backend", "case"]]
                                                                               .to_numpy()))
    assert json.loads((r / "r1.json").read_text())["status"] == "complete"
    if name != "samples.csv":  # every timed row has its rounds in the samples file
        samples = pd.read_csv(r / "r1.samples.csv")
        for row in after[after["status"] == "ok"].itertuples():
            # int(): read with keep_default_na=False, the column is text when a skipped row left it empty
            assert len(samples[(samples["backend"] == row.backend) & (samples["case"] == row.case)]) == int(row.rounds)
