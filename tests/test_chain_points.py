"""Chain points are points like any other: named with --backends, run in their worker, failed rows for any fault."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from harness.backends import sweep_backends
from harness.cases import build_cases
from harness.fused import ChainCase
from harness.plan import plan_points
from harness.plugins import unload_plugin
from harness.presets import get_preset
from tests.conftest import run_cli

PLUGIN = str(Path(__file__).resolve().parent / "data" / "faulty_chain_plugin.py")
#: smoke's 5x5 reduction branch without its direct layer, as a layer file
ONE_BRANCH = """
[[layer]]
label = "5x5 reduce"
C = 6
H = 5
W = 5
F = 2
k = 1
reduce_of = "5x5"

[[layer]]
label = "5x5"
C = 2
H = 5
W = 5
F = 4
k = 5
padding = "same"
"""
QUICK = ["--preset", "smoke", "--budget-s", "0.05", "--repeats", "1", "--settle-s", "0", "--quiet", "--no-plots",
         "--no-report"]


@pytest.fixture
def chain_plugin():
    yield PLUGIN
    unload_plugin(PLUGIN)


def test_fused_chains_are_backends_a_sweep_names_or_leaves_out():
    assert "numba-cpu-fused" in sweep_backends([])  # by default, with its twin numba-cpu
    assert sweep_backends(["numpy"]) == ["numpy"] and sweep_backends(["numba-cpu-fused"]) == ["numba-cpu-fused"]
    assert sweep_backends(["numba-cpu", "numba-cpu-fused"], fused=False) == ["numba-cpu"]
    with pytest.raises(ValueError, match="--no-fused leaves no backend to run: numba-cpu-fused is a fused chain"):
        sweep_backends(["numba-cpu-fused"], fused=False)
    with pytest.raises(ValueError, match="unknown backend.*'fused'.*numba-cpu-fused"):
        sweep_backends(["fused"])
    cases = build_cases(get_preset("smoke"), default_threads=1)
    points = plan_points(cases, ["numpy", "numba-cpu-fused"])
    chains = [p for p in points if isinstance(p.case, ChainCase)]
    assert [p.index for p in points] == list(range(len(points)))
    assert [p.case.name for p in chains] == ["1x1 fused", "3x3 fused", "3x3/2 fused", "5x5 fused"]
    for chain in chains:
        conv = next(p for p in points if p.case == chain.case.conv)
        assert chain.index == conv.index + 1  # right after its conv case


def test_list_shows_and_sweep_takes_the_fused_backend(results_dir):
    listing = run_cli("list")
    assert listing.returncode == 0 and "numba-cpu-fused" in listing.stdout and "fused chain" in listing.stdout
    proc = run_cli("sweep", *QUICK, "--backends", "numba-cpu-fused", "--results-dir", results_dir, "--run-id", "f")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(results_dir / "f.csv")
    assert set(table["backend"]) == {"numba-cpu-fused"} and set(table["role"]) == {"fused"} and len(table) == 4
    assert (table["status"] == "ok").all() and list(table["point"]) == [0, 1, 2, 3]


def test_hanging_exiting_and_crashing_chain_kernels_are_failed_rows_within_the_timeout(results_dir, chain_plugin):
    names = ["test-chain-hang", "test-chain-exit", "test-chain-segv", "test-chain-sysexit", "test-chain-ok"]
    start = time.perf_counter()
    one_branch = results_dir / "one-branch.toml"  # one chain point a backend: each fault costs its time once
    one_branch.write_text(ONE_BRANCH)
    proc = run_cli("sweep", *QUICK[2:], "--layers", one_branch, "--plugin", chain_plugin, "--backends",
                   ",".join(names), "--timeout-s", "2", "--results-dir", results_dir, "--run-id", "faults")
    took = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    rows = pd.read_csv(results_dir / "faults.csv", keep_default_na=False).set_index("backend")
    assert list(rows.index) == names and (rows["role"] == "fused").all()
    assert rows.loc["test-chain-ok", "status"] == "ok"
    assert (rows.loc[names[:4], "status"] == "failed").all()
    assert "timed out after 2 s" in rows.loc["test-chain-hang", "reason"]
    assert "worker exited with code 3" in rows.loc["test-chain-exit", "reason"]
    assert "SIGSEGV" in rows.loc["test-chain-segv", "reason"]
    assert "sys.exit(4)" in rows.loc["test-chain-sysexit", "reason"]
    assert took < 120, took  # the hang cost its 2 s, not an hour


def test_no_fused_with_only_fused_backends_is_one_line_exit_2(results_dir):
    proc = run_cli("sweep", *QUICK, "--backends", "numba-cpu-fused", "--no-fused", "--results-dir", results_dir,
                   "--run-id", "nothing")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--no-fused leaves no backend to run" in proc.stderr and not list(results_dir.glob("nothing*"))
