"""The CLI end to end: the smoke preset through `python -m harness` into tmp dirs, and every bad request."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

import kernels
from harness.cli import main
from harness.presets import get_preset
from harness.results import COLUMNS, SAMPLE_COLUMNS
from tests.conftest import run_cli, seed_peak

pytestmark = pytest.mark.xdist_group('smoke_run')  # the session's smoke sweep runs once, on one worker

ROOT = Path(__file__).resolve().parent.parent
METADATA_KEYS = {"command", "preset", "started_at", "finished_at", "git_commit", "host", "cpu_model", "cpu_count",
                 "memory_gib", "versions", "numba_threading_layer", "numba_num_threads", "blas", "gpu", "peak",
                 "status", "settings"}


def harness(*args, cwd=ROOT, **kw):
    """Run ``python -m harness ARGS`` in a subprocess (the simulator setting is inherited from conftest)."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, **kw)


CONTRACT = ("run_id, backend, device, case, N, C, H, W, F, k, stride, padding, dtype, Ho, Wo, flops, bytes, threads, "
            "status, reason, first_call_s, time_s, time_min_s, time_iqr_s, rounds, calls_per_round, gflops, "
            "gbytes_per_s, max_abs_err")  # DESIGN.md, "Table columns, exactly"


def test_the_column_contract_is_written_out_not_just_derived():
    """COLUMNS is built from the shape fields of ConvSpec: reordering those must not move the contract."""
    assert COLUMNS == CONTRACT.split(", ")


def test_sweep_writes_a_table_with_the_contract_columns(smoke_run):
    tmp, proc = smoke_run
    table = pd.read_csv(tmp / "results" / "smoke-test.csv")
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    fused = table[table["role"] == "fused"]
    assert len(table) == len(get_preset("smoke").layers) * len(kernels.default_backends()) + len(fused)
    assert set(table["backend"]) == set(kernels.default_backends()) | {"numba-cpu-fused"}
    assert sorted(fused["case"]) == ["1x1 fused", "3x3 fused", "3x3/2 fused", "5x5 fused"]
    assert (fused["status"] == "ok").all()  # numba-cpu ran: so does fused
    assert set(table["run_id"]) == {"smoke-test"}
    assert set(table["status"]) <= {"ok", "skipped", "unavailable", "failed", "wrong"}
    for backend in ("naive", "numpy", "numba-cpu"):
        assert (table[table["backend"] == backend]["status"] == "ok").all(), backend
    ok = table[table["status"] == "ok"]
    assert np.allclose(ok["gflops"], ok["flops"] / ok["time_s"] / 1e9)
    assert (ok["max_abs_err"] <= ok["tolerance"]).all()
    assert (ok["rounds"] >= 5).all() and (ok["time_min_s"] <= ok["time_s"]).all()
    cuda = table[table["backend"] == "numba-cuda"]
    assert set(cuda["status"]) <= {"skipped", "unavailable"}  # simulator or no GPU: never timed
    assert cuda["time_s"].isna().all()
    assert "3x3/2" in set(table["case"]) and (table[table["case"] == "3x3/2"]["Ho"] == 4).all()


def test_samples_match_the_table(smoke_run):
    tmp, _ = smoke_run
    table = pd.read_csv(tmp / "results" / "smoke-test.csv")
    samples = pd.read_csv(tmp / "results" / "smoke-test.samples.csv")
    assert list(samples.columns) == SAMPLE_COLUMNS
    for row in table[table["status"] == "ok"].itertuples():
        mine = samples[(samples["backend"] == row.backend) & (samples["case"] == row.case)]
        assert len(mine) == row.rounds
        assert np.median(mine["time_s"]) == pytest.approx(row.time_s)
    assert set(zip(samples["backend"], samples["case"])) <= set(
        zip(table[table["status"] == "ok"]["backend"], table[table["status"] == "ok"]["case"]))


def test_metadata_reduction_and_plots(smoke_run):
    tmp, proc = smoke_run
    meta = json.loads((tmp / "results" / "smoke-test.json").read_text())
    assert METADATA_KEYS <= set(meta)
    assert meta["status"] == "complete" and meta["preset"] == "smoke"
    assert meta["peak"]["gemm_gflops"]["float32"] > 0
    assert {"numpy", "numba", "llvmlite", "pandas", "python"} <= set(meta["versions"])
    reduction = pd.read_csv(tmp / "results" / "smoke-test.reduction.csv")
    assert {"backend", "branch", "flops_direct", "flops_reduced", "flop_saving", "time_direct_s",
            "time_reduced_s", "time_saving", "efficiency"} <= set(reduction.columns)
    assert {"naive", "numpy", "numba-cpu"} <= set(reduction["backend"])
    assert np.allclose(reduction["flop_saving"], 36 * 25 * 4 * 6 / (36 * 2 * 6 + 36 * 25 * 4 * 2), rtol=0.01) \
        or (reduction["flop_saving"] > 1).all()
    for name in ("gflops", "speedup", "time_vs_work", "roofline", "reduction"):
        image = matplotlib.image.imread(tmp / "plots" / "smoke-test" / f"{name}.png")
        assert image.shape[0] > 200 and image.shape[1] > 200
        assert image[..., :3].std() > 0.05, f"{name}.png looks blank"
    assert "The 1x1 reduction, measured" in proc.stdout and "5x5 branch" in proc.stdout


def test_plot_redraws_from_disk(smoke_run, tmp_path):
    tmp, _ = smoke_run
    proc = run_cli("plot", tmp / "results" / "smoke-test.csv", "--plots-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in (tmp_path / "smoke-test").iterdir()} >= {"gflops.png", "reduction.png"}


def harness_compare(base, new):
    """harness.compare of two table paths, without its warnings (the CLI's stderr has them)."""
    import warnings

    import harness

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return harness.compare(base, new)


def test_compare_real_run_with_itself_and_with_a_slowed_copy(smoke_run, tmp_path):
    tmp, _ = smoke_run
    results = tmp / "results"
    same = run_cli("compare", "smoke-test", "smoke-test", "--results-dir", results)
    assert same.returncode in (0, 3), same.stdout + same.stderr  # A/A: never a regression
    table = pd.read_csv(results / "smoke-test.csv")
    samples = pd.read_csv(results / "smoke-test.samples.csv")
    slow = table["backend"] == "naive"  # milliseconds per call: well above the 10 us resolution floor
    table.loc[slow, ["time_s", "time_min_s"]] *= 1.6
    samples.loc[samples["backend"] == "naive", "time_s"] *= 1.6
    table.to_csv(tmp_path / "slowed.csv", index=False)
    samples.to_csv(tmp_path / "slowed.samples.csv", index=False)
    proc = run_cli("compare", results / "smoke-test.csv", tmp_path / "slowed.csv")
    # every naive row whose interval could show 1.6x (column detectable) is flagged; on a loaded machine the
    # others' rounds spread too far to tell (inconclusive, exit 3 if none could): see tests/test_compare_gate.py
    result = harness_compare(results / "smoke-test.csv", tmp_path / "slowed.csv")
    # a row measured with every pass on a slowed core (flag disturbed, harness.probe) is never judged
    clean = ~result["note"].str.contains("(disturbed)", regex=False)
    able = result[(result["backend"] == "naive") & (result["detectable"] < 1.6) & clean]
    assert proc.returncode == (1 if len(able) else 3), proc.stdout + proc.stderr
    flagged = " ".join(proc.stdout.split("regression(s):")[1].split()) if len(able) else ""  # unwrapped
    assert all(f"naive | {case}" in flagged for case in able["case"])
    for other in ("numpy", "numba-cpu", "torch"):
        assert other not in flagged


def test_check_passes_on_smoke(tmp_path):
    proc = run_cli("check", "--preset", "smoke", "--backends", "numpy,numba-cpu,naive")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" ok ") >= 18


def _start_sweep(tmp_path, run_id):
    args = ["--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p")]
    seed_peak(tmp_path / "r")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "sweep", "--preset", "smoke", "--budget-s", "0.1",
                             "--backends", "numpy,numba-cpu", "--run-id", run_id, "--quiet", "--no-plots",
                             "--no-report", "--settle-s", "0", "--no-fused", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default)
    return proc, args


def _sigint_default() -> None:
    """In the sweep's process before it starts: SIGINT back to its default, so Python turns it into
    KeyboardInterrupt as a terminal's Ctrl-C would. A test run started as a background job of a script inherits
    SIGINT ignored (POSIX), and so did the sweep: it ran to the end, exit 0."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_lines(path, n, proc):
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and \
            (not path.exists() or len(path.read_text().splitlines()) < n):
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_sweep_resumes_without_losing_or_repeating_points(sig, tmp_path):
    run_id = f"resume-{sig.name.lower()}"
    proc, args = _start_sweep(tmp_path, run_id)
    table, passes = tmp_path / "r" / f"{run_id}.csv", tmp_path / "r" / f"{run_id}.passes.jsonl"
    _wait_for_lines(passes, 4, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else -9), err
    kept = [json.loads(line) for line in passes.read_text().splitlines() if line.endswith("}")]
    assert len(kept) >= 4
    before = pd.read_csv(table) if table.exists() else None
    if sig == signal.SIGINT:
        assert f"--resume {run_id} --results-dir {tmp_path / 'r'}" in err and str(passes) in err  # copied, it works
        assert (str(table) in err) == table.exists()
        assert json.loads((tmp_path / "r" / f"{run_id}.json").read_text())["status"] == "interrupted"
        assert not (tmp_path / "r" / f"{run_id}.lock").exists()  # an interrupted run removes its lock file
    again = run_cli("sweep", "--resume", run_id, "--quiet", "--no-plots", "--no-report", *args)  # in-process
    assert again.returncode == 0, again.stderr
    after = pd.read_csv(table)
    assert len(after) == 2 * len(get_preset("smoke").layers) and not after.duplicated(["backend", "case"]).any()
    if before is not None:
        pd.testing.assert_frame_equal(after.iloc[: len(before)].astype(str), before.astype(str))
    samples = pd.read_csv(tmp_path / "r" / f"{run_id}.samples.csv")
    rows = after.set_index(["backend", "case"])
    for record in kept:  # every pass that finished before the kill is pooled into its point's samples - or was
        backend, case = record["key"][:2]  # left out for disagreeing with the point's other passes, and says so
        mine = samples[(samples["backend"] == backend) & (samples["case"] == case)]["time_s"].tolist()
        pooled = all(any(abs(t - m) <= 1e-12 * max(t, 1e-30) for m in mine) for t in record["samples_s"])
        assert pooled or f"pass {record['pass']} ran " in rows.loc[(backend, case), "reason"]
    meta = json.loads((tmp_path / "r" / f"{run_id}.json").read_text())
    assert meta["status"] == "complete" and len(meta["resumed_at"]) == 1
    assert sum(meta["points"].values()) == len(after)  # the whole run's points, not only the resumed session's
    assert not (tmp_path / "r" / f"{run_id}.lock").exists()  # a killed run's file, taken over and removed


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--preset", "vgg"], "unknown preset 'vgg'; choose from: smoke"),
    (["sweep", "--backends", "cudnn"], "unknown backend(s) 'cudnn'; choose from: naive"),
    (["sweep", "--axis", "Q=1"], "unknown axis 'Q'"),
    (["sweep", "--axis", "k=three"], "axis k: 'three' is not an int"),
    (["sweep", "--threads", "-1"], "must be >= 1"),
    (["sweep", "--threads", "999"], "threads=999 exceeds"),
    (["sweep", "--budget-s", "0"], "must be > 0"),
    (["sweep", "--run-id", "../escape"], "invalid run id '../escape'"),
    (["sweep", "--resume", "never-ran"], "cannot resume 'never-ran'"),
    (["sweep", "--baseline", "cudnn"], "unknown baseline 'cudnn'"),
    (["plot", "missing.csv"], "no such results table: missing.csv"),
    (["plot", "missing.csv", "--baseline", "cudnn"], "unknown baseline 'cudnn'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["sweep", "--axis", "N=1", "--axis", "N=2"], "--axis N is given more than once: give all its values in one, e.g. "
                                                  "--axis N=1,2"),
    (["sweep", "--dtype", "float64", "--axis", "dtype=float32"], "--dtype float64 and --axis dtype=float32 disagree"),
    (["sweep", "--layers", "examples/squeezenet.toml", "--preset", "smoke"], "not allowed with argument --layers"),
])
def test_bad_requests_exit_2_with_one_line(argv, message, capsys, tmp_path):
    argv = argv + (["--results-dir", str(tmp_path)] if argv[0] == "sweep" else [])
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.csv"))


def test_existing_run_id_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "taken.csv").write_text("run_id\n")
    assert main(["sweep", "--run-id", "taken", "--results-dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "taken.csv").read_text() == "run_id\n"


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, time; t = time.perf_counter(); from harness.cli import make_parser; "
            "make_parser().format_help(); "
            "print(sorted(m for m in ('numba', 'pandas', 'torch', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    assert harness("--help").returncode == 0


def test_only_the_harness_own_warnings_become_cli_warning_lines(capsys, monkeypatch):
    import warnings

    from harness import cli

    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda *args, **kw: shown.append(args[0]))
    show = cli.one_line_warnings()
    show("a torn line", UserWarning, cli.__file__, 1)
    show("a torn line", UserWarning, cli.__file__, 2)  # once per command
    show("numpy deprecation", DeprecationWarning, np.__file__, 3)
    assert capsys.readouterr().err == "harness: warning: a torn line\n" and shown == ["numpy deprecation"]


def test_peak_seconds_measures_again_for_that_long(tmp_path, monkeypatch):
    from tests.fakes import fake_roof

    asked = []
    monkeypatch.setattr("harness.commands.peak.cached_peak",
                        lambda results_dir, fresh, seconds: asked.append((fresh, seconds)) or
                        dict(fake_roof(), source="measured now"))
    for args, want in (((), (False, 1.0)), (("--seconds", "3"), (True, 3.0)), (("--fresh",), (True, 1.0))):
        assert run_cli("peak", "--results-dir", tmp_path, *args).returncode == 0
        assert asked.pop() == want, args  # --seconds alone used to return the stored roof, its value ignored

