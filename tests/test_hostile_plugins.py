"""Round two of hostile plugins and kernels (issue 30): nothing a plugin or kernel does ends, hangs or fools a command.

A plugin that ends the process while importing is one line and exit 2 (never a silent exit 0 a CI gate would
pass); one that leaves a thread running does not keep the process alive; one that rebinds ``numpy.matmul`` is
refused; what a kernel starts ends with its worker; an ``object`` array is not a float answer.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

import kernels
from harness.cli import main
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
FAULTY = str(DATA / "faulty_plugin.py")
TINY = '[[layer]]\nlabel = "tiny"\nC = 3\nH = 6\nW = 6\nF = 4\nk = 3\npadding = 1\n'
REGISTERS = "import kernels\n@kernels.register\nclass B(kernels.Backend):\n    name = 'hostile-{0}'\n" \
            "    def prepare(self, x, w, spec):\n        return kernels.get_backend('numpy').prepare(x, w, spec)\n"


def plugin(tmp_path, name: str, source: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return str(path)


def sweep_args(tmp_path, *extra) -> list[str]:
    layers = tmp_path / "tiny.toml"
    layers.write_text(TINY)
    return ["--layers", str(layers), "--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p"),
            "--budget-s", "0.05", "--repeats", "1", "--settle-s", "0", "--no-plots", "--no-report", "--quiet", *extra]


@pytest.mark.parametrize("source, says", [
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) while importing"),
    ("raise SystemExit\n", "called sys.exit(None) while importing"),
    ("import os\nos._exit(0)\n", "importing it ended the process (exit code 0)"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "(signal 9 (SIGKILL))"),
])
def test_a_plugin_that_ends_the_process_while_importing_is_one_line_exit_2(tmp_path, source, says):
    path = plugin(tmp_path, "ender", source)
    for argv in (["check", "--preset", "smoke", "--backends", "numpy"], ["list"], ["sweep", *sweep_args(tmp_path)]):
        done = run_cli(*argv, "--plugin", path)
        assert done.returncode == 2, (argv, done)
        assert done.stderr.count("\n") == 1 and says in done.stderr and path in done.stderr, done.stderr
        assert done.stdout == ""
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("call, listed", [("sys.exit(0)", True), ("os._exit(0)", False)])
def test_a_backend_that_ends_the_process_when_asked_if_available_does_not_end_list(tmp_path, call, listed):
    """`list` asks every backend in its own process: sys.exit there is a broken row, os._exit is caught by the
    probe (a separate process) before anything is listed."""
    path = plugin(tmp_path, "asker", f"import os, sys, kernels\n@kernels.register\nclass B(kernels.Backend):\n"
                                     f"    name = 'hostile-asker'\n    def unavailable_reason(self):\n        {call}\n"
                                     "    def prepare(self, x, w, spec):\n        return None\n")
    try:
        done = run_cli("list", "--plugin", path)
    finally:
        if "hostile-asker" in kernels.list_backends():
            kernels.unregister("hostile-asker")
    if listed:
        assert done.returncode == 0 and "unavailable_reason()/description raised SystemExit: 0" in done.stdout
    else:
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "ended the process (exit code 0)" in \
            done.stderr and done.stdout == ""


def test_a_plugin_that_hangs_while_importing_is_one_line_not_a_hang(tmp_path, monkeypatch):
    import harness.plugin_guard

    monkeypatch.setattr(harness.plugin_guard, "PROBE_TIMEOUT_S", 3.0)
    path = plugin(tmp_path, "hanger", "import time\ntime.sleep(600)\n")
    done = run_cli("list", "--plugin", path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "took over 3 s" in done.stderr


def test_os_exit_on_import_fails_the_gate_from_a_shell(tmp_path):
    """The issue's own command: `check --plugin x.py` in a real process exits 2 with one line, not 0 silently."""
    path = plugin(tmp_path, "x", "import os\nos._exit(0)\n")
    done = subprocess.run([sys.executable, "-m", "harness", "check", "--preset", "smoke", "--plugin", path,
                           "--backends", "numpy"], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.splitlines()) == 1, done


def test_a_plugin_that_rebinds_numpy_matmul_is_refused_and_undone(tmp_path):
    original = np.matmul
    path = plugin(tmp_path, "patcher", "import numpy\nnumpy.matmul = lambda *a, **k: 1 / 0\n" + REGISTERS.format("mm"))
    done = run_cli("sweep", *sweep_args(tmp_path, "--backends", "numpy,hostile-mm"), "--plugin", path)
    assert done.returncode == 2 and "replaced numpy.matmul while importing (undone)" in done.stderr, done
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert np.matmul is original and "hostile-mm" not in kernels.list_backends()


def test_a_plugin_importing_heavy_libraries_is_not_taken_for_a_patcher(tmp_path):
    """pandas' import rebinds time.tzname (data, not a function): only rebound functions and classes count."""
    path = plugin(tmp_path, "heavy", "import time, pandas, scipy.signal, numpy.fft\ntime.tzname = ('X', 'Y')\n"
                                     + REGISTERS.format("heavy"))
    try:
        done = run_cli("list", "--plugin", path)
    finally:
        if "hostile-heavy" in kernels.list_backends():
            kernels.unregister("hostile-heavy")
    assert done.returncode == 0 and "hostile-heavy" in done.stdout, done.stderr


def test_a_plugin_thread_left_running_does_not_keep_the_process_alive(tmp_path):
    path = plugin(tmp_path, "threader", "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), "
                                        "name='plugin-sleeper').start()\n" + REGISTERS.format("thread"))
    done = subprocess.run([sys.executable, "-m", "harness", "list", "--plugin", path], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0 and "hostile-thread" in done.stdout
    assert "exiting without waiting for 1 thread(s) still running (plugin-sleeper)" in done.stderr


def _sleepers(marker: str) -> list[int]:
    """Pids of live processes whose command line is ``sleep MARKER``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep",
                                                                                             marker.encode()]:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_processes_a_kernel_starts_end_with_its_worker_and_free_the_sweeps_stdout(tmp_path, results_dir):
    """`out=$(python -m harness sweep ...)` returns: the sleeps the kernels start (one in the worker's process
    group, one in a session of its own) would hold the stdout pipe open for a minute."""
    sleep_s = re.search(r'ORPHAN_SLEEP_S = "([0-9.]+)"', Path(FAULTY).read_text()).group(1)
    argv = [sys.executable, "-m", "harness", "sweep", "--plugin", FAULTY, "--backends",
            "test-orphan,test-orphan-session", "--run-id", "orphans",
            *sweep_args(tmp_path), "--results-dir", str(results_dir)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=45)  # EOF on stdout: nothing holds it any more
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the sweep's stdout was held open after it ended") from None
    finally:
        for pid in _sleepers(sleep_s):
            os.kill(pid, 9)
    assert proc.returncode == 0, err
    table = pd.read_csv(results_dir / "orphans.csv")
    assert set(table["status"]) == {"ok"}


def test_what_kernels_started_dies_with_a_sweep_that_is_killed(tmp_path, results_dir):
    """SIGKILL the sweep while a hanging kernel holds it up: the orphan's worker notices and ends its group."""
    sleep_s = re.search(r'ORPHAN_SLEEP_S = "([0-9.]+)"', Path(FAULTY).read_text()).group(1)
    argv = [sys.executable, "-m", "harness", "sweep", "--plugin", FAULTY, "--backends", "test-orphan,test-hang",
            "--run-id", "killed", "--timeout-s", "300", *sweep_args(tmp_path), "--results-dir", str(results_dir)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not _sleepers(sleep_s) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert _sleepers(sleep_s), "the orphan never started"
        family = psutil.Process(proc.pid).children(recursive=True)  # forkserver, workers (one stuck in test-hang)
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while (_sleepers(sleep_s) or any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family)) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _sleepers(sleep_s)
        # the worker stuck in a kernel has the forkserver, not the sweep, as its parent: it must notice the sweep
        assert not [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        proc.kill()
        for pid in _sleepers(sleep_s):
            os.kill(pid, 9)


def test_right_values_as_an_object_array_are_wrong(tmp_path, results_dir):
    code = main(["sweep", "--plugin", FAULTY, "--backends", "test-object,numpy", "--run-id", "objects",
                 *sweep_args(tmp_path), "--results-dir", str(results_dir)])
    assert code == 0
    rows = pd.read_csv(results_dir / "objects.csv", keep_default_na=False).set_index("backend")
    assert rows.loc["test-object", "status"] == "wrong"
    assert "output is dtype object, not a float array" in rows.loc["test-object", "reason"]
    assert rows.loc["numpy", "status"] == "ok"
