"""Real models' layers end to end: `harness layers --from`, then `sweep --layers` with counts, totals and desc;
a benchdnn file whose grouped convolution becomes a skipped row that says why."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.benchdnn import parse_descriptor
from harness.cli import main
from harness.layerfile import load_layers

pytest.importorskip("torch")
MODELS = Path(__file__).resolve().parent.parent / "examples" / "models.py"
QUICK = ["--backends", "numpy", "--budget-s", "0.02", "--repeats", "1", "--settle-s", "0", "--no-plots",
         "--no-report"]


def test_layers_from_a_model_file_then_sweep_with_counts_and_totals(tmp_path, results_dir, capsys):
    out = tmp_path / "r18.toml"
    assert main(["layers", "--from", f"{MODELS}:resnet18", "--input", "1x3x64x64", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "20 convolution calls, 11 distinct shapes" in printed and "sweep --layers" in printed
    layers = load_layers(out)
    assert sum(layer.count for layer in layers) == 20 and len(layers) == 11
    assert main(["sweep", "--layers", str(out), "--results-dir", str(results_dir), "--run-id", "r18", *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "Network totals" in printed and "ms/image on numpy" in printed
    table = pd.read_csv(results_dir / "r18.csv")
    assert table["count"].sum() == 20 and (table["status"] == "ok").all()
    for row in table.itertuples():  # desc round-trips: parse(desc(row)) is the row's shape
        d = parse_descriptor(row.desc)
        assert (d.mb, d.ic, d.ih, d.iw, d.oc, d.kh, d.sh, d.ph, d.oh, d.ow) == (
            row.N, row.C, row.H, row.W, row.F, row.k, row.stride, row.padding, row.Ho, row.Wo)


def test_benchdnn_file_runs_what_it_can_and_explains_the_rest(tmp_path, results_dir, capsys):
    shapes = tmp_path / "shapes.txt"
    shapes.write_text('# a oneDNN shape file\nmb1ic16ih12oc8oh12kh3ph1n"net:conv*3"\n'
                      'g4mb1ic16ih12oc16oh12kh3ph1n"net:grouped"\nmb1ic8ih12oc8oh12kh1ph0n"net:1x1"\n')
    assert main(["sweep", "--layers", str(shapes), "--results-dir", str(results_dir), "--run-id", "bd", *QUICK]) == 0
    table = pd.read_csv(results_dir / "bd.csv")
    grouped = table[table["case"] == "net:grouped"].iloc[0]
    assert grouped["status"] == "skipped" and "g=4" in grouped["reason"] and grouped["desc"].startswith("g4")
    assert set(table[table["case"] != "net:grouped"]["status"]) == {"ok"}
    assert int(table[table["case"] == "net:conv"]["count"].iloc[0]) == 3
    assert "partial: 1 of 3 layers not run" in capsys.readouterr().out


def test_layers_never_overwrites_a_file_it_did_not_write(tmp_path, capsys):
    table, foreign = tmp_path / "base.csv", tmp_path / "mine.toml"
    table.write_text("run_id,backend\n")
    foreign.write_text("[[layer]]\nlabel = 'hand-written'\n")
    for out, message in ((table, "the file name must end in .toml"), (foreign, "is not a layer file this command")):
        assert main(["layers", "--from", f"{MODELS}:resnet18", "--output", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err
    assert table.read_text() == "run_id,backend\n" and foreign.read_text().startswith("[[layer]]")


@pytest.mark.parametrize("ref, message", [
    ("torchvision:resnet18", "torchvision"),
    (f"{MODELS}:no_such_factory", "no_such_factory"),
    ("nowhere.py:f", "nowhere.py"),
])
def test_bad_model_refs_exit_2_with_one_line(ref, message, tmp_path, capsys):
    assert main(["layers", "--from", ref, "--output", str(tmp_path / "x.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.toml").exists()
