"""Round two of hostile run files (issue 30): cut samples files and writes that fail mid-run.

A row whose samples file lost lines is no measurement: ``--resume`` measures that point again and every row's
``rounds`` matches its samples. A disk that fills up, or a results folder that refuses new files, mid-run is one
line and exit 2; the run is marked interrupted where the disk still allows it, and ``--resume`` finishes it. An
``ok`` row whose time, GFLOP/s or FLOPs is no finite number above zero is a damaged table, named in one line.
"""
from __future__ import annotations

import errno
import json
import shlex

import pandas as pd
import pytest

import harness.results
from harness.cli import main
from tests.test_runfiles import TINY


def sweep_args(tmp_path, *extra, run_id="r1"):
    layers = tmp_path / "layers.toml"
    layers.write_text(TINY)
    return ["sweep", "--layers", str(layers), "--backends", "numpy,naive", "--budget-s", "0.1", "--in-process",
            "--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p"), "--run-id", run_id,
            "--no-plots", "--no-report", "--quiet", "--settle-s", "0", *extra]


def resume(tmp_path, run_id="r1") -> int:
    return main(["sweep", "--resume", run_id, "--results-dir", str(tmp_path / "r"), "--plots-dir",
                 str(tmp_path / "p"), "--quiet", "--no-plots", "--no-report"])


def rounds_match_samples(tmp_path, run_id="r1") -> pd.DataFrame:
    table = pd.read_csv(tmp_path / "r" / f"{run_id}.csv")
    counts = pd.read_csv(tmp_path / "r" / f"{run_id}.samples.csv").groupby(["backend", "case"]).size()
    for row in table.itertuples():
        assert (0 if pd.isna(row.rounds) else row.rounds) == counts.get((row.backend, row.case), 0), row
    return table


def cut_last_line(path, whole: bool) -> str:
    """Cut the file's last line (all of it, or half of it as a kill mid-write would); return the line."""
    text = path.read_text()
    last = text.splitlines()[-1]
    path.write_text(text[: len(text) - len(last) - 1] + ("" if whole else last[: len(last) // 2]))
    return last


@pytest.mark.parametrize("whole", [True, False], ids=["line-removed", "line-torn"])
def test_a_cut_samples_line_of_a_complete_run_is_measured_again_on_resume(tmp_path, results_dir, capsys, whole):
    assert main(sweep_args(tmp_path)) == 0
    last = cut_last_line(tmp_path / "r" / "r1.samples.csv", whole)
    backend, case = last.split(",")[1:3]
    before = pd.read_csv(tmp_path / "r" / "r1.csv").set_index(["backend", "case"])
    capsys.readouterr()
    assert resume(tmp_path) == 0
    err = capsys.readouterr().err
    assert f"{backend} | {case}" in err and "measured again" in err, err
    table = rounds_match_samples(tmp_path).set_index(["backend", "case"])
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    again, earlier = table.loc[(backend, case), "first_call_s"], before.loc[(backend, case), "first_call_s"]
    assert again > 0 and earlier > 0 and again != earlier  # measured anew
    assert json.loads((tmp_path / "r" / "r1.json").read_text())["status"] == "complete"


def test_a_cut_samples_line_of_an_interrupted_run_is_measured_again_on_resume(tmp_path, results_dir, capsys):
    assert main(sweep_args(tmp_path)) == 0
    r = tmp_path / "r"
    meta = json.loads((r / "r1.json").read_text())
    (r / "r1.json").write_text(json.dumps(dict(meta, status="interrupted")))
    last_row = cut_last_line(r / "r1.csv", whole=True)  # interrupted before its last point...
    backend, case = last_row.split(",")[1], last_row.split(",")[3]
    samples = (r / "r1.samples.csv").read_text().splitlines(keepends=True)
    (r / "r1.samples.csv").write_text("".join(s for s in samples if s.split(",")[1:3] != [backend, case]))
    cut = cut_last_line(r / "r1.samples.csv", whole=False)  # ... and the samples of the one before cut short
    assert resume(tmp_path) == 0
    table = rounds_match_samples(tmp_path)
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert "measured again" in capsys.readouterr().err and cut.split(",")[1:3] != [backend, case]


def failing_appends(monkeypatch, after: int, error: int):
    """Make the run files' appends fail with ``error`` after ``after`` of them succeeded."""
    real = harness.results.append_line
    calls = {"n": 0}

    def append(path, line, header=None):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(error, "simulated: " + errno.errorcode[error], str(path))
        return real(path, line, header)

    monkeypatch.setattr(harness.results, "append_line", append)


def test_a_disk_that_fills_up_mid_run_is_one_line_exit_2_and_resume_finishes(tmp_path, results_dir, capsys,
                                                                              monkeypatch):
    failing_appends(monkeypatch, after=2, error=errno.ENOSPC)
    real_atomic = harness.durable.atomic_write_text
    monkeypatch.setattr(harness.durable, "atomic_write_text",
                        lambda path, text: (_ for _ in ()).throw(OSError(errno.ENOSPC, "simulated full", str(path))))
    monkeypatch.setattr(harness.results, "atomic_write_text", real_atomic)  # the start of the run still writes
    code = main(sweep_args(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "cannot write the run's files" in err and "/r/r1." in err and "--resume r1" in err
    assert "r1.json still says running" in err  # a full disk: nothing more could be written
    monkeypatch.undo()
    told = shlex.split(err.split("then `")[1].split("`")[0])  # the command the message gives, copied as it is
    assert told[:6] == ["python", "-m", "harness", "sweep", "--resume", "r1"] and str(tmp_path / "p") in told
    assert main(told[3:] + ["--quiet", "--no-plots", "--no-report"]) == 0  # it finds the run in its folders
    assert len(rounds_match_samples(tmp_path)) == 4


def test_a_results_folder_made_read_only_mid_run_marks_the_run_interrupted(tmp_path, results_dir, capsys,
                                                                            monkeypatch):
    """New files are refused (EACCES) but the metadata file itself is writable: it is rewritten in place."""
    failing_appends(monkeypatch, after=2, error=errno.EACCES)
    real_atomic = harness.results.atomic_write_text
    writes = {"n": 0}

    def atomic(path, text):  # the run's first metadata write works; the folder is read-only after that
        writes["n"] += 1
        if writes["n"] > 1:
            raise PermissionError(errno.EACCES, "simulated: read-only folder", str(path))
        real_atomic(path, text)

    monkeypatch.setattr(harness.results, "atomic_write_text", atomic)
    monkeypatch.setattr(harness.durable, "atomic_write_text", atomic)
    code = main(sweep_args(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "still says running" not in err, err
    meta = json.loads((tmp_path / "r" / "r1.json").read_text())
    assert meta["status"] == "interrupted" and "simulated" in meta["stopped_by"]
    monkeypatch.undo()
    assert resume(tmp_path) == 0
    assert len(rounds_match_samples(tmp_path)) == 4


@pytest.mark.parametrize("column, value", [("time_s", "nan"), ("time_s", "0"), ("time_s", "-1e-6"),
                                           ("gflops", "inf"), ("gflops", ""), ("flops", "nan"), ("time_min_s", "0")])
def test_an_ok_row_without_a_measurement_is_a_damaged_table_in_plot_report_and_load(column, value, tmp_path,
                                                                                     results_dir, capsys):
    """Were a LinAlgError traceback (plot), 'SVD did not converge' (report) and ZeroDivisionError (all inf)."""
    import harness

    assert main(sweep_args(tmp_path)) == 0
    path = tmp_path / "r" / "r1.csv"
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    first_ok = table.index[table["status"] == "ok"][0]
    table.loc[first_ok, column] = value
    table.to_csv(path, index=False)
    capsys.readouterr()
    for verb in ("plot", "report"):
        code = main([verb, "r1", "--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p")])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"in column {column}" in err and "the table is damaged" in err
    with pytest.raises(ValueError, match=f"in column {column}"):
        harness.load("r1", results_dir=tmp_path / "r", plots_dir=tmp_path / "p")


def test_a_header_that_names_a_column_twice_is_named(tmp_path, results_dir, capsys):
    """pandas renames the second time_s to time_s.1: was 'missing columns gflops' (the column it replaced)."""
    assert main(sweep_args(tmp_path)) == 0
    path = tmp_path / "r" / "r1.csv"
    header, rest = path.read_text().split("\n", 1)
    path.write_text(header.replace("gflops", "time_s", 1) + "\n" + rest)
    capsys.readouterr()
    assert main(["plot", "r1", "--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "column time_s appears more than once in the header" in err and len(err.strip().splitlines()) == 1


def test_a_layer_file_that_is_a_directory_is_named_so(tmp_path, capsys):
    assert main(["list", "--layers", str(tmp_path)]) == 2
    assert "a directory, not a layer file" in capsys.readouterr().err
