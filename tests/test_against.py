"""A/B runs (``sweep --against``): the base build's kernels beside this build's, judged by ``compare RUN@base RUN``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import kernels
from harness import against
from harness.abhalves import build_half, own_name, split_ref
from tests.conftest import run_cli
from tests.test_runfiles import TINY

KERNELS = Path(kernels.__file__).resolve().parent


def sleep_in_calls(source: Path, seconds: float, calls: int) -> None:
    """Make each of the ``calls`` ``__call__`` methods of kernel module ``source`` sleep ``seconds`` first."""
    call = "    def __call__(self) -> None:\n"
    text = source.read_text()
    assert text.count(call) == calls
    text = text.replace("from __future__ import annotations\n", "from __future__ import annotations\n\nimport time\n", 1)
    source.write_text(text.replace(call, call + f"        time.sleep({seconds})\n"))


def copy_kernels(dest: Path, slow_numpy_s: float = 0.0) -> Path:
    """A base build: a copy of this build's kernels package in ``dest``; numpy's calls sleep ``slow_numpy_s``."""
    shutil.copytree(KERNELS, dest / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    if slow_numpy_s:
        sleep_in_calls(dest / "kernels" / "numpy_gemm.py", slow_numpy_s, calls=2)
    return dest


def sweep(tmp_path, *extra, run_id="ab"):
    """A tiny A/B sweep of numpy (two cases) through the CLI in this process."""
    layers = tmp_path / "layers.toml"
    layers.write_text(TINY)
    return run_cli("sweep", "--layers", layers, "--backends", "numpy", "--budget-s", "0.05", "--settle-s", "0",
                   "--repeats", "2", "--results-dir", tmp_path / "r", "--plots-dir", tmp_path / "p", "--run-id",
                   run_id, "--no-plots", "--no-report", "--quiet", *extra)


def test_names_and_refs():
    assert against.twin_of("numba-cpu") == "numba-cpu@base" and own_name("numba-cpu@base") == "numba-cpu"
    assert own_name("numpy") == "numpy" and own_name("@base") == "@base"
    assert split_ref("r1@base") == ("r1", True) and split_ref("results/r1.csv@base") == ("results/r1.csv", True)
    assert split_ref("r1") == ("r1", False) and split_ref("@base") == ("@base", False)


def test_twins_go_right_before_their_own_build(base_env):
    twins = ["numpy@base", "naive@base"]
    order, missing = against.with_twins(["naive", "numpy", "torch"], twins)
    assert order == ["naive@base", "naive", "numpy@base", "numpy", "torch"] and missing == ["torch"]
    assert against.with_twins(order, twins) == (order, ["torch"])  # a resumed run's list stays as it is
    assert against.with_twins(["numpy@base"], twins)[0] == ["numpy@base"]  # named alone: kept


def test_build_half_keeps_one_build_under_its_own_names():
    table = pd.DataFrame({"backend": ["numpy@base", "numpy", "torch"], "case": ["a", "a", "a"]})
    samples = pd.DataFrame({"backend": ["numpy@base", "numpy", "numpy"], "case": ["a", "a", "a"],
                            "time_s": [2.0, 1.0, 1.1]})
    samples.attrs = {"pass_medians_s": {("numpy@base", "a"): [2.0], ("numpy", "a"): [1.0]}, "probe_median_s": 0.1}
    base_table, base_samples = build_half(table, samples, base=True)
    assert base_table["backend"].tolist() == ["numpy"] and base_samples["time_s"].tolist() == [2.0]
    assert base_samples.attrs == {"pass_medians_s": {("numpy", "a"): [2.0]}, "probe_median_s": 0.1}
    new_table, new_samples = build_half(table, samples, base=False)
    assert new_table["backend"].tolist() == ["numpy", "torch"] and new_samples["time_s"].tolist() == [1.0, 1.1]
    assert new_samples.attrs["pass_medians_s"] == {("numpy", "a"): [1.0]}
    plain = table[table["backend"] != "numpy@base"]
    assert build_half(plain, samples, base=False)[0] is plain
    with pytest.raises(ValueError, match="holds no base build"):
        build_half(plain, samples, base=True)


def git(root, *args):
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def test_a_commits_kernels_are_unpacked_once(tmp_path):
    repo = copy_kernels(tmp_path / "repo")
    git(repo, "init", "-q")
    git(repo, "add", "kernels")
    git(repo, "commit", "-q", "-m", "base")
    (repo / "kernels" / "naive.py").write_text("# changed after the commit\n")
    folder, sha = against.commit_kernels("HEAD", root=repo, cache=tmp_path / "cache")
    assert folder == tmp_path / "cache" / sha and len(sha) == 40
    assert (folder / "kernels" / "naive.py").read_text() == (KERNELS / "naive.py").read_text()  # the commit's
    (folder / "kernels" / "marker").write_text("kept")
    assert against.commit_kernels(sha[:10], root=repo, cache=tmp_path / "cache") == (folder, sha)
    assert (folder / "kernels" / "marker").is_file()  # not unpacked again
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [sha]  # no scratch folder left behind
    with pytest.raises(ValueError, match="no such commit"):
        against.commit_kernels("no-such-branch", root=repo, cache=tmp_path / "cache")
    with pytest.raises(ValueError, match="not a git checkout"):
        against.commit_kernels("HEAD", root=tmp_path, cache=tmp_path / "cache")
    (repo / "other").mkdir()
    (repo / "other" / "x.txt").write_text("x")
    git(repo, "rm", "-rqf", "kernels")
    git(repo, "add", "other")
    git(repo, "commit", "-q", "-m", "no kernels")
    with pytest.raises(ValueError, match="has no kernels package"):
        against.commit_kernels("HEAD", root=repo, cache=tmp_path / "cache")


@pytest.mark.parametrize("ref, words", [("no-such-ref-or-folder", "no such commit"), (".", "this build itself"),
                                        ("EMPTY", "holds no kernels package"), ("", "needs a git commit")])
def test_a_base_build_that_cannot_be_used_is_one_line_exit_2(ref, words, base_env, results_dir, monkeypatch):
    (base_env / "empty").mkdir()
    if ref == ".":
        monkeypatch.chdir(against.checkout_root())
    proc = sweep(base_env, "--against", str(base_env / "empty") if ref == "EMPTY" else ref)
    assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (base_env / "r" / "ab.csv").exists()


def test_an_ab_run_times_both_builds_case_by_case_and_compare_judges_them(base_env, results_dir):
    base = copy_kernels(base_env / "base", slow_numpy_s=0.002)  # the base build: every numpy call 2 ms longer
    # --settle-s: a warm-up that never steadied flags its rows `unsettled`, and compare rightly holds back a move
    # that only one build's flagged rows show (once in six loaded runs of the suite without it)
    proc = sweep(base_env, "--against", str(base), "--in-process", "--settle-s", "0.3")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(base_env / "r" / "ab.csv", keep_default_na=False)
    assert sorted(table["backend"]) == ["numpy", "numpy", "numpy@base", "numpy@base"]
    assert (table["status"] == "ok").all()
    assert (table[table["backend"] == "numpy@base"]["time_s"].to_numpy() > 2e-3).all()  # its own code ran
    assert (table[table["backend"] == "numpy"]["time_s"].to_numpy() < 2e-3).all()
    meta = (base_env / "r" / "ab.json").read_text()
    assert str(base.resolve()) in meta and against.PLUGIN_NAME in meta  # a resume meets the same build
    passes = [line for line in (base_env / "r" / "ab.passes.jsonl").read_text().splitlines()]
    order = [json.loads(line)["key"][:2] for line in passes[:4]]
    assert [b for b, _ in order] == ["numpy@base", "numpy", "numpy@base", "numpy"]  # case by case, base first
    better = run_cli("compare", "ab@base", "ab", "--results-dir", base_env / "r", "--allow-inconclusive")
    assert better.returncode == 0 and "faster" in better.stdout and "only-in-one" not in better.stdout, better.stdout
    worse = run_cli("compare", "ab", "ab@base", "--results-dir", base_env / "r")
    busiest = max(json.loads(line)["row"].get("others_share") or 0.0 for line in passes)
    if worse.returncode == 3 and busiest >= 0.25:  # seen once in CI: a 3 us pass stalled to 2 ms beside the other worker
        pytest.skip(f"the A/B run met other busy processes (up to {busiest:.0%} of its cores): inconclusive is right")
    assert worse.returncode == 1 and "slower" in worse.stdout, worse.stdout


def test_base_twins_run_in_worker_processes_and_resume(base_env, results_dir):
    base = copy_kernels(base_env / "base")
    proc = sweep(base_env, "--against", str(base))
    assert proc.returncode == 0, proc.stderr
    r = base_env / "r"
    table = pd.read_csv(r / "ab.csv", keep_default_na=False)
    assert (table["status"] == "ok").all() and set(table["backend"]) == {"numpy", "numpy@base"}, table
    (r / "ab.csv").write_text(table.iloc[:2].to_csv(index=False))  # killed after two points
    meta = r / "ab.json"
    meta.write_text(meta.read_text().replace('"complete"', '"interrupted"'))
    resumed = run_cli("sweep", "--resume", "ab", "--results-dir", r, "--plots-dir", base_env / "p", "--no-plots",
                      "--no-report", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    after = pd.read_csv(r / "ab.csv", keep_default_na=False)
    assert len(after) == 4 and (after["status"] == "ok").all() and not after.duplicated(["backend", "case"]).any()
    flags = run_cli("sweep", "--resume", "ab", "--against", str(base), "--results-dir", r)
    assert flags.returncode == 2 and "--against" in flags.stderr


def test_compare_of_a_run_without_a_base_build_names_it(base_env, results_dir):
    proc = sweep(base_env, "--in-process", run_id="plain")
    assert proc.returncode == 0, proc.stderr
    out = run_cli("compare", "plain@base", "plain", "--results-dir", base_env / "r")
    assert out.returncode == 2 and "holds no base build" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def ab_benchmark_file(tmp_path, slow_name=None, factor=1.3) -> Path:
    """An A/B pytest-benchmark file: bench_base.json's benchmarks as the base build's (``NAME@base``), then
    bench_rerun.json's as this build's, one of them (``slow_name``) ``factor`` times slower."""
    from tests.test_benchjson import BASE, RERUN

    base, new = (json.loads(p.read_text()) for p in (BASE, RERUN))
    for bench in base["benchmarks"]:
        own = bench["extra_info"]["backend"]
        bench["extra_info"]["backend"] = against.twin_of(own)
        bench["name"] = bench["name"].replace(f"[{own}-", f"[{against.twin_of(own)}-")
    for bench in new["benchmarks"]:
        if bench["name"] == slow_name:
            bench["stats"]["data"] = [t * factor for t in bench["stats"]["data"]]
    new["benchmarks"] = base["benchmarks"] + new["benchmarks"]
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(new))
    return path


def test_an_ab_benchmark_file_is_judged_build_against_build(tmp_path):
    from tests.test_benchjson import BASE, SLOW

    path = ab_benchmark_file(tmp_path, SLOW)
    out = run_cli("compare", f"{path}@base", path)
    assert out.returncode == 1 and "only-in-one" not in out.stdout, out.stdout
    assert "1 regression(s)" in out.stdout and "test_conv2d:numba-cpu-3a-3x3" in out.stdout
    plain = run_cli("compare", BASE, path)  # the file named plainly is this build: 9 benchmarks, as BASE's
    assert plain.returncode == 1 and "only-in-one" not in plain.stdout and "1 regression(s)" in plain.stdout


def test_the_benchmark_suite_puts_each_base_benchmark_right_before_its_own(tmp_path):
    from tests.bench.steady import AGAINST_ENV, base_twins

    assert base_twins({}) == []
    with pytest.raises(ValueError, match=f"{AGAINST_ENV}=/no/such: --against /no/such: no such commit"):
        base_twins({AGAINST_ENV: "/no/such"})
    base = copy_kernels(tmp_path / "base")
    env = dict(os.environ, **{AGAINST_ENV: str(base), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/bench", "--collect-only", "-q",
                           "-n0", "-p", "no:cacheprovider"], cwd=against.checkout_root(), env=env,
                          capture_output=True, text=True, timeout=300)
    ids = [line.split("[", 1)[1].rstrip("]") for line in proc.stdout.splitlines() if "test_conv2d[" in line]
    assert proc.returncode == 0 and ids, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert ids[ids.index("numpy-3a-1x1") - 1] == "numpy@base-3a-1x1"
    assert len([i for i in ids if "@base-" in i]) * 2 == len(ids)  # every benchmark has its twin
    bad = subprocess.run([sys.executable, "-m", "pytest", "tests/bench", "--collect-only", "-q",
                          "-n0", "-p", "no:cacheprovider"], cwd=against.checkout_root(), capture_output=True, text=True,
                         env=dict(env, **{AGAINST_ENV: "no-such-ref"}), timeout=300)
    assert bad.returncode == 2 and f"ValueError: {AGAINST_ENV}=no-such-ref: " in bad.stdout + bad.stderr


def test_a_base_build_that_does_not_import_is_named_as_such(base_env, results_dir):
    base = copy_kernels(base_env / "base")
    with open(base / "kernels" / "naive.py", "a") as f:
        f.write("\ndef broken(:\n")
    proc = sweep(base_env, "--against", str(base), "--in-process")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "the base build's kernels do not import (naive.py line" in proc.stderr and "SyntaxError" in proc.stderr
    assert not (base_env / "r" / "ab.csv").exists()


def test_two_base_builds_one_after_the_other_in_one_process(base_env, results_dir):
    fast, slow = copy_kernels(base_env / "fast"), copy_kernels(base_env / "we'ird \"\"\" \\x name", 0.002)
    assert sweep(base_env, "--against", str(fast), "--in-process", run_id="one").returncode == 0
    second = sweep(base_env, "--against", str(slow), "--in-process", run_id="two")  # a folder name no plugin
    assert second.returncode == 0, second.stderr  # file may paste as it is: it is a repr there
    table = pd.read_csv(base_env / "r" / "two.csv", keep_default_na=False)
    assert (table[table["backend"] == "numpy@base"]["time_s"] > 2e-3).all()  # the second base build ran
    first = pd.read_csv(base_env / "r" / "one.csv", keep_default_na=False)
    assert (first[first["backend"] == "numpy@base"]["time_s"] < 2e-3).all()


def test_a_resumed_ab_run_unpacks_its_commit_again(base_env, results_dir):
    proc = sweep(base_env, "--against", "HEAD", "--in-process")
    assert proc.returncode == 0, proc.stderr
    r = base_env / "r"
    table = pd.read_csv(r / "ab.csv", keep_default_na=False)
    (r / "ab.csv").write_text(table.iloc[:1].to_csv(index=False))
    (r / "ab.json").write_text((r / "ab.json").read_text().replace('"complete"', '"interrupted"'))
    shutil.rmtree(base_env / "cache")  # the unpacked commit and the generated plugin are gone
    resumed = run_cli("sweep", "--resume", "ab", "--results-dir", r, "--plots-dir", base_env / "p", "--no-plots",
                      "--no-report", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(pd.read_csv(r / "ab.csv")["backend"]) == ["numpy", "numpy", "numpy@base", "numpy@base"]


def test_a_stale_unpacked_commit_is_replaced(tmp_path):
    folder, sha = against.commit_kernels("HEAD", cache=tmp_path)
    shutil.rmtree(folder / "kernels")
    (folder / "junk").mkdir()  # a damaged unpack: no kernels package
    assert against.commit_kernels(sha, cache=tmp_path) == (folder, sha)
    assert (folder / "kernels" / "__init__.py").is_file() and not (folder / "junk").exists()
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match="cannot unpack"):
        against.commit_kernels("HEAD", cache=tmp_path / "file")


@pytest.mark.parametrize("case", ["fused-only", "empty-init", "base-base"])
def test_requests_that_cannot_give_an_ab_comparison_are_one_line_exit_2(case, base_env, results_dir):
    base = copy_kernels(base_env / "base")
    if case == "fused-only":  # a base build from before the fused chain
        fused = base / "kernels" / "numba_cpu" / "fused.py"
        fused.write_text(fused.read_text().replace("@register_chain\n", ""))
        proc = sweep(base_env, "--against", str(base), "--in-process", "--backends", "numba-cpu-fused")
        words = "the base build has none of the backends numba-cpu-fused"
    elif case == "empty-init":
        (base / "kernels" / "__init__.py").write_text("")
        proc = sweep(base_env, "--against", str(base), "--in-process")
        words = "the base build's kernels do not import: AttributeError"
    else:
        assert sweep(base_env, "--against", str(base), "--in-process").returncode == 0
        proc = run_cli("compare", "ab@base@base", "ab", "--results-dir", base_env / "r")
        words = "a run has one base build"
    assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
