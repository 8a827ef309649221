"""Several benchmark files a side, as an unfriendly user names them (findings of a review of harness.benchfiles):
each test failed on the first version of the feature."""
from __future__ import annotations

import json
import shutil

import pytest

import harness
from harness.benchfiles import expand_files, is_file_list, joined_ref
from harness.cli import main
from harness.comparison import exit_code

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


def test_every_file_named_as_a_base_build_must_hold_one(tmp_path):
    plain = files(tmp_path, "plain", [1, 2])
    doc = suite(3)
    for bench in list(doc["benchmarks"]):
        twin = json.loads(json.dumps(bench))
        twin["extra_info"]["backend"] += "@base"
        twin["name"] = twin["name"].replace("[", "[" + bench["extra_info"]["backend"] + "@base-", 1).replace(
            "@base-" + bench["extra_info"]["backend"] + "-", "@base-")
        doc["benchmarks"].append(twin)
    (tmp_path / "ab.json").write_text(json.dumps(doc))
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


def test_the_api_names_base_builds_on_every_item_and_refuses_an_empty_list(tmp_path):
    assert joined_ref(["a.json@base", "b.json@base"]) == "a.json,b.json@base"
    assert joined_ref(["a.json", "b.json"]) == "a.json,b.json"
    with pytest.raises(ValueError, match="@base on some"):
        joined_ref(["a.json@base", "b.json"])
    with pytest.raises(ValueError, match="an empty list of benchmark files"):
        harness.compare([], files(tmp_path, "a", [1, 2]))
