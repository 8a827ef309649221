"""Nothing hangs, nothing is lost: misbehaving kernels in worker processes, memory limits, tolerances with teeth.

Kernels come from ``tests/data/faulty_plugin.py``; layers are tiny and timeouts
short, so the whole file runs in well under a minute.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from harness.cli import main
from harness.memory import available_bytes

DATA = Path(__file__).resolve().parent / "data"
PLUGIN = str(DATA / "faulty_plugin.py")
TINY = """
[[layer]]
label = "tiny"
C = 3
H = 6
W = 6
F = 4
k = 3
padding = 1
"""


def layer_file(tmp_path, text=TINY, name="layers.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def sweep(tmp_path, *extra, run_id="faults"):
    code = main(["sweep", "--plugin", PLUGIN, "--results-dir", str(tmp_path / "r"), "--plots-dir",
                 str(tmp_path / "p"), "--run-id", run_id, "--budget-s", "0.05", "--repeats", "1", "--no-plots",
                 "--no-report", "--quiet", "--settle-s", "0", *extra])
    table = tmp_path / "r" / f"{run_id}.csv"
    return code, (pd.read_csv(table, keep_default_na=False) if table.exists() else None)


def test_hanging_exiting_crashing_and_scribbling_kernels_each_give_a_failed_row(tmp_path, results_dir):
    code, table = sweep(tmp_path, "--layers", layer_file(tmp_path), "--timeout-s", "2", "--backends",
                        "test-hang,numpy,test-exit,test-segv,test-oom,test-sysexit,test-scribble,test-ki,"
                        "test-unprintable")
    assert code == 0
    rows = table.set_index("backend")
    assert rows.loc["numpy", "status"] == "ok"
    reasons = {b: rows.loc[b, "reason"] for b in rows.index if b != "numpy"}
    assert set(rows.loc[list(reasons), "status"]) == {"failed"}, reasons
    assert "timed out after 2 s" in reasons["test-hang"]
    assert "worker exited with code 3" in reasons["test-exit"]
    assert "SIGSEGV" in reasons["test-segv"]
    assert "signal 9 SIGKILL (out of memory?)" in reasons["test-oom"]
    assert "sys.exit(3)" in reasons["test-sysexit"]
    assert "read-only" in reasons["test-scribble"]
    assert reasons["test-ki"] == "first call: KeyboardInterrupt: the kernel's own"  # a worker ignores Ctrl-C: its own
    assert reasons["test-unprintable"] == "first call: _Unprintable: (its message could not be read: RuntimeError)"


def test_an_in_process_scribbler_is_caught_and_later_backends_see_intact_inputs(tmp_path, results_dir):
    code, table = sweep(tmp_path, "--layers", layer_file(tmp_path), "--in-process",
                        "--backends", "test-scribble,numpy")
    assert code == 0
    rows = table.set_index("backend")
    assert rows.loc["test-scribble", "status"] == "failed"
    assert "wrote to its read-only input(s) x and w" in rows.loc["test-scribble", "reason"]
    assert rows.loc["numpy", "status"] == "ok"


def test_a_layer_too_big_for_memory_is_skipped_beside_layers_that_run(tmp_path, results_dir):
    available = available_bytes()
    side = int((2 * available / (4 * 64)) ** 0.5) + 1  # x alone: twice the available memory
    huge = TINY + f'\n[[layer]]\nlabel = "huge"\nC = 64\nH = {side}\nW = {side}\nF = 64\nk = 3\n'
    code, table = sweep(tmp_path, "--layers", layer_file(tmp_path, huge), "--backends", "numpy,numba-cpu",
                        "--in-process")
    assert code == 0
    assert set(table[table["case"] == "tiny"]["status"]) == {"ok"}
    big = table[table["case"] == "huge"]
    assert set(big["status"]) == {"skipped"} and len(big) == 2
    assert all("GiB" in r and "available" in r for r in big["reason"])


def test_check_catches_a_1e3_error_on_a_c512_3x3_layer(tmp_path, capsys):
    layer = '[[layer]]\nlabel = "c512"\nC = 512\nH = 7\nW = 7\nF = 8\nk = 3\npadding = 1\n'
    code = main(["check", "--plugin", PLUGIN, "--layers", layer_file(tmp_path, layer),
                 "--backends", "numpy,numba-cpu,test-off"])
    out = capsys.readouterr().out
    assert code == 1
    assert "wrong" in out and "err/tol" in out
    lines = [line for line in out.splitlines() if "test-off" in line]
    assert lines and "wrong" in lines[0]
    assert sum(" ok " in line for line in out.splitlines()) == 2


def test_two_live_sweeps_on_one_run_id_the_second_exits_2(tmp_path, results_dir, capsys):
    """The first sweep (a subprocess, held up by a hanging kernel) owns the run; a second one is refused."""
    layers = layer_file(tmp_path)
    common = ["--plugin", PLUGIN, "--layers", layers, "--results-dir", str(results_dir), "--plots-dir",
              str(tmp_path / "p"), "--run-id", "shared", "--repeats", "1", "--quiet", "--no-plots", "--no-report"]
    first = subprocess.Popen([sys.executable, "-m", "harness", "sweep", "--backends", "test-hang", "--timeout-s",
                              "120", *common], cwd=Path(__file__).resolve().parent.parent,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = results_dir / "shared.lock"
        deadline = time.time() + 60
        while time.time() < deadline and first.poll() is None and \
                not (lock.exists() and f"pid {first.pid}" in lock.read_text()):
            time.sleep(0.05)
        code = main(["sweep", "--backends", "numpy", *common])
        err = capsys.readouterr().err
        assert code == 2 and f"pid {first.pid}" in err and len(err.strip().splitlines()) == 1, err
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)


def test_what_a_kernel_prints_goes_to_stderr_and_the_sweeps_stdout_stays_its_own(tmp_path, results_dir):
    """Workers share the sweep's file descriptors: a kernel's print landed in the summary on stdout (40 times). A
    process of its own: workers come from a forkserver, whose descriptors no capture of this process reaches."""
    done = subprocess.run([sys.executable, "-m", "harness", "sweep", "--plugin", PLUGIN, "--layers",
                           layer_file(tmp_path), "--backends", "test-print,numpy", "--results-dir", str(tmp_path / "r"),
                           "--plots-dir", str(tmp_path / "p"), "--budget-s", "0.05", "--repeats", "1", "--no-plots",
                           "--no-report", "--settle-s", "0"], capture_output=True, text=True, timeout=300, cwd=DATA.parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HELLO FROM KERNEL" in done.stderr and "HELLO FROM KERNEL" not in done.stdout
    assert "test-print" in done.stdout  # the summary table is there, on stdout
