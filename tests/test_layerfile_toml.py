"""A TOML layer file whose `layer` is not an array of tables is a one-line error naming the file and the entry."""
from __future__ import annotations

import re

import pytest

from harness.layerfile import LayerFileError, load_layers
from tests.conftest import run_cli

GOOD = '{label = "a", C = 3, H = 8, W = 8, F = 4, k = 3}'


@pytest.mark.parametrize("text, says", [
    ("layer = [1, 2]", "layer 1: expected a [[layer]] table, got 1"),
    ('layer = ["ab"]', "layer 1: expected a [[layer]] table, got 'ab'"),
    ('layer = [[["label", "x"], ["C", 1], ["H", 8], ["W", 8], ["F", 4], ["k", 3]]]',
     "layer 1: expected a [[layer]] table, got [['label', 'x'], ['C', 1]"),
    (f"layer = [{GOOD}, 7]", "layer 2: expected a [[layer]] table, got 7"),
    (f"layer = [{GOOD}, [{GOOD}]]", "layer 2: expected a [[layer]] table, got [{'label': 'a'"),
    ("layer = 5", "expected one or more [[layer]] tables, got layer = 5"),
    ('layer = "x"', "expected one or more [[layer]] tables, got layer = 'x'"),
    ("layer = true", "expected one or more [[layer]] tables, got layer = True"),
    ('[layer]\nlabel = "a"\nC = 3\nH = 8\nW = 8\nF = 4\nk = 3', "'layer' is one [layer] table; write [[layer]]"),
    ("layer = []", "expected one or more [[layer]] tables"),
    (f'layer = ["{"x" * 500}"]', "layer 1: expected a [[layer]] table, got 'xxxxxxxx"),
])
def test_a_layer_that_is_not_a_table_is_named(tmp_path, text, says):
    path = tmp_path / "t1.toml"
    path.write_text(text + "\n")
    with pytest.raises(LayerFileError, match=f"^{re.escape(str(path))}: {re.escape(says)}"):
        load_layers(path)
    done = run_cli("list", "--layers", path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr, done
    assert len(done.stderr) < 200 + len(str(path))  # a long value is cut short
    assert path.read_text() == text + "\n"


def test_an_inline_table_is_a_table(tmp_path):
    path = tmp_path / "inline.toml"
    path.write_text(f"layer = [{GOOD}]\n")
    assert [(x.label, x.C, x.k) for x in load_layers(path)] == [("a", 3, 3)]
