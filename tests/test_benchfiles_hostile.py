"""Several benchmark files a side, as an unfriendly user names them (findings of a review of harness.benchfiles):
each test failed on the first version of the feature."""
from __future__ import annotations

import json
import shutil

import pytest

import harness
from harness.benchfiles import expand_files, is_file_list, listed_files
from harness.cli import main
from harness.comparison import exit_code
from tests.conftest import run_cli

from .test_benchfiles import compared, files, suite


def test_a_benchmark_in_one_file_of_three_is_left_out_with_a_warning(tmp_path):
    # pytest-benchmark leaves failed or deselected benchmarks out of its JSON: naive survived in one NEW file only,
    # and there it ran 1.6x slower (one process); judged on that process alone it was a false alarm
    base = files(tmp_path, "base", [1, 2, 3])
    new = files(tmp_path, "new", [4, 5, 6])
    for i, path in enumerate(new.split(",")):
        doc = suite(4 + i, slow=lambda backend, layer: 1.6 if (backend, i) == ("numpy", 2) else 1.0)
        if i < 2:
            doc["benchmarks"] = [b for b in doc["benchmarks"] if b["extra_info"]["layer"] != "3a-1x1"
                                 or b["extra_info"]["backend"] != "numpy"]
        open(path, "w").write(json.dumps(doc))
    result = compared(base, new)
    assert exit_code(result) != 1
    row = result[result["case"] == "test_conv2d:numpy-3a-1x1"].iloc[0]
    assert row["verdict"] == "only-in-one"
    assert any("test_conv2d:numpy-3a-1x1 (1)" in w and "fewer than two of the 3 files of NEW" in w
               for w in result.attrs["warnings"])


def test_a_machine_slower_through_every_file_of_one_side_holds_verdicts_back(tmp_path):
    # every round and every pace reading of NEW 1.3x slower: the machine, not the code; the slope is fitted within
    # each side and cannot see a shift of a whole side, the sides' median paces can
    base = files(tmp_path, "base", [1, 2, 3])
    new = files(tmp_path, "new", [4, 5, 6], shift=lambda backend: 1.3)
    result = compared(base, new)
    assert not (result["verdict"] == "slower").any() and exit_code(result) == 3
    assert any("the machine itself ran 30% slower" in w for w in result.attrs["warnings"])
    assert result.attrs["machine_ratio"] == pytest.approx(1.3, rel=0.02)


def test_a_file_whose_name_has_a_comma_or_brackets_is_itself(tmp_path, capsys):
    files(tmp_path, "a", [1, 2])
    for name in ("c,1.json", "bench[1].json"):
        shutil.copy(tmp_path / "a-1.json", tmp_path / name)
        assert not is_file_list(str(tmp_path / name))
        assert expand_files(str(tmp_path / name)) == [tmp_path / name]
        assert main(["compare", str(tmp_path / "a-2.json"), str(tmp_path / name)]) in (0, 3)
    assert expand_files(f"{tmp_path / 'bench[1].json'},{tmp_path / 'a-2.json'}")[0].name == "bench[1].json"


@pytest.mark.parametrize("edit, message", [
    (lambda d: [b["extra_info"].update(dtype="float64") for b in d["benchmarks"]], "differs in dtype"),
    (lambda d: [b["extra_info"].update(threads=4) for b in d["benchmarks"]], "differs in threads"),
    (lambda d: d.update(benchmarks=[]), "holds no benchmark with 3 or more rounds"),
    (lambda d: d["machine_info"].update(node="other-host"), "different hosts"),
    # one file of another pace probe: the side's pace within it compared two loops' readings file to file
    (lambda d: d["machine_info"].update(convbench={"probe": "2"}),
     r"different pace probe versions \(new-1.json: none recorded \(1\), new-2.json: none recorded \(1\), "
     r"new-3.json: 2\).*by one convbench"),
])
def test_files_of_one_side_that_are_not_one_suite_are_refused(tmp_path, edit, message):
    base = files(tmp_path, "base", [1, 2, 3])
    doc = suite(6)
    edit(doc)
    new = files(tmp_path, "new", [4, 5])
    (tmp_path / "new-3.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message):
        compared(base, f"{new},{tmp_path / 'new-3.json'}")


def test_a_copy_or_a_folder_among_the_files_is_refused(tmp_path):
    listed = files(tmp_path, "a", [1, 2])
    shutil.copy(tmp_path / "a-1.json", tmp_path / "copy.json")
    with pytest.raises(ValueError, match="holds the same bytes as"):
        expand_files(f"{listed},{tmp_path / 'copy.json'}")
    (tmp_path / "d.json").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        expand_files(f"{listed},{tmp_path / 'd.json'}")


def with_base_build(doc: dict) -> dict:
    """``doc`` with a NAME@base twin of every benchmark, as an A/B file (CONVBENCH_BENCH_AGAINST) holds them."""
    for bench in list(doc["benchmarks"]):
        twin = json.loads(json.dumps(bench))
        twin["extra_info"]["backend"] += "@base"
        twin["name"] = twin["name"].replace("[", "[" + bench["extra_info"]["backend"] + "@base-", 1).replace(
            "@base-" + bench["extra_info"]["backend"] + "-", "@base-")
        doc["benchmarks"].append(twin)
    return doc


def test_every_file_named_as_a_base_build_must_hold_one(tmp_path):
    plain = files(tmp_path, "plain", [1, 2])
    (tmp_path / "ab.json").write_text(json.dumps(with_base_build(suite(3))))
    listed = f"{tmp_path / 'ab.json'},{plain}"
    with pytest.raises(ValueError, match="plain-1.json holds no base build"):
        compared(f"{listed}@base", listed)


def test_a_backend_that_moved_lends_no_floor_to_a_lone_one(tmp_path):
    # the suite has one-benchmark backends; torch really 1.3x slower must not become their noise
    def lone(doc):
        extra = json.loads(json.dumps(doc["benchmarks"][0]))
        extra["name"], extra["extra_info"]["backend"] = "test_conv2d[naive-micro-3x3]", "naive"
        doc["benchmarks"].append(extra)
        return doc

    for name, seeds, slow in (("base", [1, 2, 3], 1.0), ("new", [4, 5, 6], 1.3)):
        for i, seed in enumerate(seeds, 1):
            doc = lone(suite(seed, slow=lambda backend, layer: slow if backend == "torch" else 1.0))
            (tmp_path / f"{name}-{i}.json").write_text(json.dumps(doc))
    result = compared(str(tmp_path / "base-*.json"), str(tmp_path / "new-*.json"))
    naive = result[result["backend"] == "naive"].iloc[0]
    assert naive["noise_floor"] < 0.15 and naive["verdict"] in ("same", "inconclusive")
    assert set(result.loc[result["backend"] == "torch", "verdict"]) == {"slower"}


def test_history_add_records_each_file_of_a_list_or_glob(tmp_path, capsys):
    files(tmp_path, "run", [1, 2])
    db = tmp_path / "h.sqlite"
    assert main(["history", "add", str(tmp_path / "run-*.json"), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "run-1: 15 of 15 points added" in out and "run-2: 15 of 15 points added" in out


def test_history_add_of_a_base_build_alone_is_one_line_and_records_nothing(tmp_path):
    # an A/B file's base build is recorded with it (its NAME@base rows); named alone it was an AttributeError
    (tmp_path / "ab.json").write_text(json.dumps(with_base_build(suite(3))))
    db = tmp_path / "h.sqlite"
    done = run_cli("history", "add", f"{tmp_path / 'ab.json'}@base", "--db", db)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "name the run without @base" in done.stderr
    assert not db.exists()
    assert run_cli("history", "add", tmp_path / "ab.json", "--db", db).returncode == 0


def test_the_api_names_base_builds_on_every_item_and_refuses_an_empty_list(tmp_path):
    listed = files(tmp_path, "a", [1, 2]).split(",")
    assert listed_files([f"{p}@base" for p in listed])[1] and listed_files([listed[0], f"{listed[1]}@base"])[1]
    assert not listed_files(listed)[1] and len(listed_files(listed)[0].paths) == 2
    with pytest.raises(ValueError, match="@base on some"):
        listed_files([f"{listed[0]}@base", listed[1]])
    with pytest.raises(ValueError, match="an empty list of benchmark files"):
        harness.compare([], listed)


def test_a_list_in_the_api_takes_each_name_as_it_is(tmp_path):
    listed = files(tmp_path, "a", [1, 2]).split(",")
    shutil.move(listed[0], tmp_path / "a,1.json")
    result = harness.compare([tmp_path / "a,1.json", listed[1]], files(tmp_path, "b", [3, 4]))
    assert result.attrs["files"] == (2, 2)


def pace_scaled(path, factor, times=True):
    """Multiply every pace reading (and, with ``times``, every round) of a generated file by ``factor``."""
    doc = json.loads(open(path).read())
    for bench in doc["benchmarks"]:
        bench["extra_info"]["paces_s"] = [p * factor for p in bench["extra_info"]["paces_s"]]
        if times:
            bench["stats"]["data"] = [t * factor for t in bench["stats"]["data"]]
    open(path, "w").write(json.dumps(doc))


@pytest.mark.parametrize("factor, times", [(1 / 1.3, True), (1.3, False)])
def test_a_pace_that_moved_between_the_sides_is_never_divided_into_an_alarm(tmp_path, factor, times):
    # NEW's files all ran on a 1.3x faster machine (times and probe alike), or only BASE's probe read slow: a
    # slope fitted within the sides, applied across them, called unchanged code slower (exit 1 in 18 of 80 and
    # 38 of 40 pairs of triples of real files)
    base, new = files(tmp_path, "base", [1, 2, 3]), files(tmp_path, "new", [4, 5, 6])
    for path in (new if times else base).split(","):
        pace_scaled(path, factor, times)
    result = compared(base, new)
    assert not (result["verdict"] == "slower").any() and exit_code(result) == 3
    assert result["note"].str.contains("not divided out (times as measured), floor widened", regex=False).all()


def test_a_slow_stretch_in_one_file_is_divided_out_within_its_side(tmp_path):
    base = files(tmp_path, "base", [1, 2, 3])
    new = files(tmp_path, "new", [4, 5, 6], slow=lambda backend, layer: 1.3 if backend == "numba-cpu" else 1.0)
    pace_scaled(new.split(",")[1], 1.4)
    result = compared(base, new)
    assert set(result.loc[result["backend"] == "numba-cpu", "verdict"]) == {"slower"}
    assert not ((result["verdict"] == "slower") & (result["backend"] != "numba-cpu")).any()
    assert "numba-cpu" in result.attrs["within_pace_slopes_by_side"]["NEW"]


def test_thread_counts_and_shapes_read_alike_as_int_or_float_and_infinity_is_no_crash(tmp_path):
    base = files(tmp_path, "base", [1, 2, 3])
    new = files(tmp_path, "new", [4, 5, 6])
    doc = json.loads(open(new.split(",")[0]).read())
    extra = json.loads(json.dumps(doc["benchmarks"][0]))
    extra["name"] = "test_conv2d[numpy-odd]"
    for field in ("N", "C", "H", "W"):  # a benchmark without shape fields turns the file's columns to floats
        extra["extra_info"].pop(field)
    doc["benchmarks"].append(extra)
    open(new.split(",")[0], "w").write(json.dumps(doc))
    result = compared(base, new)
    assert exit_code(result) != 1 and result["verdict"].ne("only-in-one").sum() == 15
    for path in new.split(","):
        doc = json.loads(open(path).read())
        doc["benchmarks"][0]["extra_info"]["threads"] = float("inf")
        open(path, "w").write(json.dumps(doc))
    assert exit_code(compared(base, new)) != 1  # a thread count of infinity: read as unknown, no crash


def test_a_file_on_both_sides_is_named_and_a_side_left_empty_says_why(tmp_path):
    base = files(tmp_path, "base", [1, 2, 3]).split(",")
    result = compared(",".join(base), ",".join([base[2], *files(tmp_path, "new", [4, 5]).split(",")]))
    assert any("1 file(s) named on both sides" in w for w in result.attrs["warnings"])
    lone = files(tmp_path, "lone", [7, 8]).split(",")
    doc = json.loads(open(lone[1]).read())
    for bench in doc["benchmarks"]:
        bench["name"] = bench["name"].replace("[", "[x-")
    open(lone[1], "w").write(json.dumps(doc))
    with pytest.raises(ValueError, match="no benchmark is in two or more of the files"):
        compared(",".join(base), ",".join(lone))


def test_a_backend_move_its_fastest_passes_did_not_follow_is_not_called_in_the_summary():
    # a slowdown in two of three NEW files: every row inconclusive (the fastest file stayed), and the summary's
    # backend line said "slower" all the same
    from harness.backendmove import BackendMove
    from harness.interference import move_verdict

    stayed = BackendMove(1.28, 1.2, 1.36, 5, fastest_pass_ratio=1.01)
    assert move_verdict(stayed, float("nan"), 0.1).startswith("slower, held back: the fastest passes did not follow")
    assert move_verdict(BackendMove(1.28, 1.2, 1.36, 5, fastest_pass_ratio=1.27), float("nan"), 0.1) == "slower"


def test_the_api_reads_a_benchmark_file_named_in_capitals(tmp_path):
    listed = files(tmp_path, "a", [1, 2]).split(",")
    for i, path in enumerate(listed):
        shutil.move(path, tmp_path / f"K{i}.JSON")
    result = harness.compare(str(tmp_path / "K0.JSON"), str(tmp_path / "K1.JSON"))
    assert result.attrs["files"] == (1, 1) and exit_code(result) != 1
