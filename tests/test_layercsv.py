"""A CSV layer file of plain rows, read column by column, gives the layers the row-by-row reader gives; any row
that is not plain leaves the file to that reader, which names what is wrong."""
from __future__ import annotations

import re

import pytest

from harness.layercsv import plain_csv_layers
from harness.cases import build_cases, most_threads
from harness.layerfile import LayerFileError, layers_preset, load_layers

PLAIN = ("label,C,H,W,F,k,N,stride,padding,dtype,count\n"
         "a,3,8,8,4,3,2,1,same,float64,3\n"
         "b b,4,9,7,2,1,1,2,0,,1\n"
         "007,1,5,5,1,5,1,1,2,float32,12\n")
TOML = """
[[layer]]
label = "a"
C = 3
H = 8
W = 8
F = 4
k = 3
N = 2
padding = "same"
dtype = "float64"
count = 3
[[layer]]
label = "b b"
C = 4
H = 9
W = 7
F = 2
k = 1
stride = 2
[[layer]]
label = "007"
C = 1
H = 5
W = 5
F = 1
k = 5
padding = 2
dtype = "float32"
count = 12
"""


def test_a_plain_csv_reads_as_the_same_layers_as_its_toml_twin(tmp_path):
    (tmp_path / "plain.csv").write_text(PLAIN)
    (tmp_path / "twin.toml").write_text(TOML)
    fast = plain_csv_layers(tmp_path / "plain.csv")
    assert fast is not None and list(fast) == load_layers(tmp_path / "twin.toml") == load_layers(tmp_path / "plain.csv")


def test_the_layers_of_a_plain_csv_are_made_as_they_are_read(tmp_path):
    (tmp_path / "plain.csv").write_text(PLAIN)
    fast = plain_csv_layers(tmp_path / "plain.csv")
    layers = load_layers(tmp_path / "plain.csv")
    assert len(fast) == 3 and fast[1] == layers[1] and fast[-1] == layers[2] and fast[1:] == layers[1:]
    preset = layers_preset(tmp_path / "plain.csv")
    cases = build_cases(preset, default_threads=3)
    assert not isinstance(cases, list) and len(cases) == 3 and most_threads(cases) == 3
    assert list(cases) == build_cases(preset, default_threads=3, layers=layers) == [cases[0], cases[1], cases[2]]


@pytest.mark.parametrize("text", [
    "label,C,H,W,F,k\na, 3,8,8,4,3\n",  # spaces around a value: the row-by-row reader strips them
    " label,C,H,W,F,k\na,3,8,8,4,3\n",  # ... and around a column name
    "label,C,H,W,F,k,N\na,3,8,8,4,3,\n",  # an empty count: the default
    "label,C,H,W,F,k\na,3,8,8,4,3,,\n",  # empty cells beyond the header
    "label,C,H,W,F,k,reduce_of\nr,6,5,5,2,1,c\nc,2,5,5,4,5,\n",  # a link: branch and role to resolve
    'label,C,H,W,F,k\na,"3\n4",8,8,4,3\n',  # a quoted cell across lines
])
def test_rows_that_are_not_plain_are_left_to_the_row_by_row_reader(tmp_path, text):
    path = tmp_path / "odd.csv"
    path.write_text(text)
    assert plain_csv_layers(path) is None


@pytest.mark.parametrize("text, says", [
    ("label,C,H,W,F,k\na,3,8,8,4,3\na,3,8,8,4,1\n", "duplicate layer label(s) 'a'"),
    ("label,C,H,W,F,k\na,3,8,8,4,3\nb,0,8,8,4,1\n", "line 3 ('b'): field 'C' must be an int >= 1, got 0"),
    ("label,C,H,W,F,k\na,3,8,8,4,3\nb,3,2,2,4,5\n", "line 3 ('b'): impossible shape"),
    ("label,C,H,W,F,k,dtype\na,3,8,8,4,3,int8\n", "line 2 ('a'): field 'dtype' must be one of"),
    ("label,C,H,W,F,k,padding\na,3,8,8,4,3,-1\n", "line 2 ('a'): field 'padding' must be an int >= 0"),
])
def test_a_bad_csv_is_still_named_by_file_line_and_field(tmp_path, text, says):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert plain_csv_layers(path) is None
    with pytest.raises(LayerFileError, match=f"{re.escape(str(path))}: .*{re.escape(says)}"):
        load_layers(path)


def test_a_plain_csv_has_no_branch_to_walk_for_when_a_chain_backend_runs(tmp_path, monkeypatch):
    import harness.plan as plan

    (tmp_path / "plain.csv").write_text(PLAIN)
    cases = build_cases(layers_preset(tmp_path / "plain.csv"), default_threads=1)
    monkeypatch.setattr(plan, "chain_cases", lambda cases: pytest.fail("walked the cases for branches"))
    assert plan.count_points(cases, ["numpy", "numba-cpu-fused"]) == 3
    assert [p.backend for p in plan.iter_points(cases, ["numpy", "numba-cpu-fused"])] == ["numpy"] * 3
