"""Several pytest-benchmark files per side of ``harness compare`` (harness.benchfiles), on generated suites.

Each generated file is one run of a suite of 3 backends x 5 layers, 12 rounds each: a benchmark's rounds are its
layer's time x the file's own factor for its backend (the process-to-process shift a runtime or a slow stretch of
the machine gives a whole backend) x 2% lognormal round noise, with the machine's pace read after every round.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from harness.benchfiles import expand_files, files_of, is_file_list, read_benchmark_files
from harness.cli import main
from harness.comparison import compare_runs, exit_code, resolve_run
from harness.filepace import FILE_PACES_ATTR, WITHIN_SLOPES_ATTR
from harness.passgroups import MEDIAN_PASS_ATTR, PASSES_ATTR

from .test_benchjson import BASE

BACKENDS = ("numpy", "numba-cpu", "torch")
LAYERS = {"3a-1x1": 1.2e-4, "3a-3x3": 1.6e-3, "3a-5x5": 3.1e-4, "5b-1x1": 2.9e-4, "r50-3x3s2": 2.1e-3}
ROUNDS = 12


def suite(seed, shift=lambda backend: 1.0, slow=lambda backend, layer: 1.0, process_sd=0.02, commit="0" * 40,
          cpu=None):
    """One generated run of the suite (a pytest-benchmark document); ``shift(backend)`` multiplies a backend's
    every benchmark in this process, ``slow(backend, layer)`` one benchmark (a change of the code)."""
    rng = np.random.default_rng(seed)
    template = json.loads(BASE.read_text())
    proto = template["benchmarks"][0]
    benchmarks = []
    for backend in BACKENDS:
        offset = shift(backend) * math.exp(rng.normal(0, process_sd))
        for layer, time_s in LAYERS.items():
            data = time_s * offset * slow(backend, layer) * np.exp(rng.normal(0, 0.02, ROUNDS))
            bench = json.loads(json.dumps(proto))
            bench["name"] = f"test_conv2d[{backend}-{layer}]"
            bench["extra_info"].update(backend=backend, layer=layer, threads=1,
                                       paces_s=list(1e-4 * shift(backend) * np.exp(rng.normal(0, 0.01, ROUNDS))))
            bench["stats"].update(data=list(data), rounds=ROUNDS, median=float(np.median(data)))
            benchmarks.append(bench)
    template["benchmarks"] = benchmarks
    template["commit_info"] = {"id": commit}
    if cpu:
        template["machine_info"]["cpu"]["brand_raw"] = cpu
    return template


def files(tmp_path, name, seeds, **kwargs):
    """``len(seeds)`` generated files ``tmp_path/name-I.json``; their names as one comma-separated list."""
    paths = []
    for i, seed in enumerate(seeds, 1):
        path = tmp_path / f"{name}-{i}.json"
        path.write_text(json.dumps(suite(seed, **kwargs)))
        paths.append(str(path))
    return ",".join(paths)


def compared(base, new):
    return compare_runs(resolve_run(base, "unused"), resolve_run(new, "unused"))


def test_names_a_list_or_a_glob_of_files(tmp_path):
    listed = files(tmp_path, "a", [1, 2, 3])
    assert is_file_list(listed) and is_file_list(str(tmp_path / "a-*.json")) and not is_file_list("a-1.json")
    assert [p.name for p in expand_files(str(tmp_path / "a-*.json"))] == ["a-1.json", "a-2.json", "a-3.json"]
    assert [str(p) for p in expand_files(listed)] == listed.split(",")
    for bad, message in ((str(tmp_path / "z-*.json"), "no pytest-benchmark file matches"),
                         (f"{listed},{tmp_path / 'a-1.json'}", "named twice"),
                         (f"{listed},", "an empty name"), (f"{listed},{tmp_path / 'x.csv'}", ".json files"),
                         (f"{listed},{tmp_path / 'gone.json'}", "no such pytest-benchmark file")):
        with pytest.raises(ValueError, match=message):
            expand_files(bad)


def test_each_file_is_one_pass_of_each_benchmark(tmp_path):
    paths = expand_files(files(tmp_path, "a", [1, 2, 3]))
    label, table, samples, metadata = read_benchmark_files(paths)
    assert files_of(metadata) == 3 and label == "a-1.json,a-2.json,a-3.json" and len(table) == 15
    point = ("torch", "test_conv2d:torch-3a-3x3")
    passes = samples.attrs[PASSES_ATTR][point]
    assert len(passes) == 3 and all(len(p) == ROUNDS for p in passes)
    medians = sorted(float(np.median(p)) for p in passes)
    assert float(np.median(samples.attrs[MEDIAN_PASS_ATTR][point])) == pytest.approx(medians[1])
    row = table[table["case"] == point[1]].iloc[0]
    # the passes are brought to the side's median pace (harness.filepace); the table's row is the median file's
    assert row["time_s"] == pytest.approx(medians[1], rel=0.02) and row["rounds"] == 3 * ROUNDS
    assert samples.attrs[FILE_PACES_ATTR][point] == pytest.approx(1e-4, rel=0.05)
    assert len(samples[samples["case"] == point[1]]) == 3 * ROUNDS


def test_a_round_without_its_pace_leaves_the_pass_without_one(tmp_path):
    doc = suite(1)
    doc["benchmarks"][0]["extra_info"]["paces_s"][3] = "fast"
    (tmp_path / "b-1.json").write_text(json.dumps(doc))
    (tmp_path / "b-2.json").write_text(json.dumps(suite(2)))
    _, _, samples, _ = read_benchmark_files(expand_files(str(tmp_path / "b-*.json")))
    assert ("numpy", "test_conv2d:numpy-3a-1x1") not in samples.attrs[FILE_PACES_ATTR]
    assert "numpy" not in samples.attrs[WITHIN_SLOPES_ATTR]  # its backend is judged as measured within the side
    assert ("numpy", "test_conv2d:numpy-3a-3x3") in samples.attrs[FILE_PACES_ATTR]


@pytest.mark.parametrize("edit, message", [(dict(cpu="AMD EPYC 9R45"), "different CPU models"),
                                           (dict(commit="1" * 40), "different commits")])
def test_one_side_is_one_build_on_one_machine(tmp_path, edit, message):
    (tmp_path / "c-1.json").write_text(json.dumps(suite(1)))
    (tmp_path / "c-2.json").write_text(json.dumps(suite(2, **edit)))
    with pytest.raises(ValueError, match=message):
        read_benchmark_files(expand_files(str(tmp_path / "c-*.json")))


def test_unchanged_code_with_a_process_shift_in_one_file_is_no_regression(tmp_path):
    # torch ran 1.25x slower throughout one process of NEW, as the Intel VM's torch did in 2 of 50 files
    base = files(tmp_path, "base", [1, 2, 3])
    new = files(tmp_path, "new", [4, 5, 6])
    odd = tmp_path / "new-2.json"
    odd.write_text(json.dumps(suite(5, shift=lambda b: 1.25 if b == "torch" else 1.0)))
    result = compared(base, new)
    assert exit_code(result) != 1 and not (result["verdict"] == "slower").any()
    assert result["ratio"].between(1 / 1.1, 1.1).all()
    assert compared(base, base)["verdict"].eq("same").all()


def test_a_whole_backend_slowed_is_caught_with_three_files_a_side(tmp_path):
    # every numba-cpu benchmark 1.2x slower: one file a side cannot tell that common move from one process's own
    # shift (harness.benchblocks.PROCESS_SHIFT, 1.25x), even at a steady pace; three files a side show it against
    # each benchmark's own spread
    slow = dict(slow=lambda backend, layer: 1.2 if backend == "numba-cpu" else 1.0)
    base, new = files(tmp_path, "base", [1, 2, 3]), files(tmp_path, "new", [4, 5, 6], **slow)
    result = compared(base, new)
    assert exit_code(result) == 1
    assert set(result.loc[result["backend"] == "numba-cpu", "verdict"]) == {"slower"}
    assert not ((result["verdict"] == "slower") & (result["backend"] != "numba-cpu")).any()
    single = compared(base.split(",")[0], new.split(",")[0])
    assert not (single["verdict"] == "slower").any()
    assert single.attrs["backend_moves"]["numba-cpu"]["verdict"] == "inconclusive"


def test_one_benchmark_slowed_is_caught_and_named(tmp_path):
    slow = dict(slow=lambda backend, layer: 1.3 if (backend, layer) == ("torch", "3a-5x5") else 1.0)
    result = compared(files(tmp_path, "base", [1, 2, 3]), files(tmp_path, "new", [4, 5, 6], **slow))
    flagged = result[result["verdict"] == "slower"]
    assert list(flagged["case"]) == ["test_conv2d:torch-3a-5x5"] and exit_code(result) == 1


def test_the_cli_judges_globs_and_refuses_what_it_cannot_judge(tmp_path, capsys):
    files(tmp_path, "base", [1, 2, 3])
    files(tmp_path, "new", [4, 5, 6], slow=lambda backend, layer: 1.3 if backend == "numpy" else 1.0)
    base, new = str(tmp_path / "base-*.json"), str(tmp_path / "new-*.json")
    assert main(["compare", base, new]) == 1
    out = capsys.readouterr().out
    assert "base-1.json,base-2.json,base-3.json" in out and "divided out within each side" in out
    assert "one benchmark file a side" not in out
    for argv, message in (([base, str(tmp_path / "new-1.json")], "BASE holds 3 benchmark file(s) and NEW 1"),
                          ([base, base, "--save-floor"], "name one file a side"),
                          ([str(tmp_path / "none-*.json"), new], "no pytest-benchmark file matches")):
        assert main(["compare", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    (tmp_path / "one-a.json").write_text(json.dumps(suite(7)))  # one file a side: numpy 1.6x at a steady pace
    (tmp_path / "one-b.json").write_text(json.dumps(suite(8, slow=lambda backend, layer: 1.6 * (backend == "numpy")
                                                          or 1.0)))
    assert main(["compare", str(tmp_path / "one-a.json"), str(tmp_path / "one-b.json")]) == 1
    out = capsys.readouterr().out
    assert "one benchmark file a side" in out and "moved with its backend" in out


def test_an_ab_file_per_run_splits_into_its_builds(tmp_path):
    # the suite run with CONVBENCH_BENCH_AGAINST three times: each file holds both builds, NAME@base beside NAME
    for i, seed in enumerate([1, 2, 3], 1):
        doc = suite(seed, slow=lambda backend, layer: 1.3 if backend == "numpy" else 1.0)
        for bench in list(doc["benchmarks"]):
            twin = json.loads(json.dumps(bench))
            backend = bench["extra_info"]["backend"]
            twin["extra_info"]["backend"] = f"{backend}@base"
            twin["name"] = twin["name"].replace(f"[{backend}-", f"[{backend}@base-")
            twin["stats"]["data"] = [t / (1.3 if backend == "numpy" else 1.0) for t in bench["stats"]["data"]]
            doc["benchmarks"].append(twin)
        (tmp_path / f"ab-{i}.json").write_text(json.dumps(doc))
    pattern = str(tmp_path / "ab-*.json")
    result = compared(f"{pattern}@base", pattern)
    assert set(result.loc[result["backend"] == "numpy", "verdict"]) == {"slower"}
    # each build's passes found under the backends' own names: every backend has a move of its own
    assert set(result.attrs["backend_moves"]) == set(BACKENDS) and result.attrs["files"] == (3, 3)


def test_the_python_api_takes_lists_and_globs_of_files(tmp_path):
    import harness

    base = files(tmp_path, "base", [1, 2, 3])
    files(tmp_path, "new", [4, 5, 6], slow=lambda backend, layer: 1.3 if backend == "torch" else 1.0)
    by_list = harness.compare(base.split(","), str(tmp_path / "new-*.json"))
    assert by_list.attrs["files"] == (3, 3) and exit_code(by_list) == 1
    assert set(by_list.loc[by_list["verdict"] == "slower", "backend"]) == {"torch"}
    with pytest.raises(TypeError, match="a list of pytest-benchmark files"):
        harness.compare([base.split(",")[0], 3], base)
    with pytest.raises(ValueError, match="BASE holds 3"):
        harness.compare(base, str(tmp_path / "new-1.json"))
