"""Network totals on hand-made run tables: fused chains combined with their twin's other layers, partial and
untrusted totals, and the label of a preset that is only a part of a network."""
from __future__ import annotations

import math

import pytest

from harness import networks
from harness.render.totals_text import macs_text, total_lines, totals_block
from harness.totals import coverage, layer_set_macs, network_totals
from tests.fakes import fake_row, fake_table

#: Inception-3a-like layers: (case, MFLOP, branch, role); the direct layers are the study's, not the network's.
LAYERS = [("1x1", 10, None, None), ("3x3 reduce", 4, "3x3", "reduce"), ("3x3", 30, "3x3", "conv"),
          ("5x5 reduce", 1, "5x5", "reduce"), ("5x5", 5, "5x5", "conv"), ("pool proj", 3, None, None),
          ("3x3 direct", 50, "3x3", "direct"), ("5x5 direct", 48, "5x5", "direct")]


def inception_like(backends=("numpy", "numba-cpu"), fused=True, overrides=None):
    """Every backend at 1 GFLOP/s (so a layer of M MFLOP takes M ms) on LAYERS, and numba-cpu-fused's two
    chains at 2 GFLOP/s; ``overrides`` maps (backend, case) to extra row fields."""
    overrides = overrides or {}
    rows = []
    for backend in backends:
        for case, mflop, branch, role in LAYERS:
            row = fake_row(backend, case, mflop * 1_000_000, 1.0, branch=branch, role=role)
            rows.append(dict(row, **overrides.get((backend, case), {})))
    if fused:
        for branch, mflop in (("3x3", 34), ("5x5", 6)):
            rows.append(fake_row("numba-cpu-fused", f"{branch} fused", mflop * 1_000_000, 2.0, branch=branch,
                                 role="fused"))
    return fake_table(rows)


def totals_of(table):
    return network_totals(table).set_index("backend")


def test_a_fused_total_is_its_chains_plus_the_twins_other_layers():
    """numba-cpu-fused ran only the two chains (4 of the 6 network layers): its total adds numba-cpu's 1x1 and
    pool proj, covers all 6 layers, and says so; the direct layers count nowhere."""
    totals = totals_of(inception_like())
    assert totals.loc["numpy", "total_s"] == pytest.approx(53e-3)  # 10 + 4 + 30 + 1 + 5 + 3 ms
    fused = totals.loc["numba-cpu-fused"]
    assert fused["total_s"] == pytest.approx(17e-3 + 3e-3 + 10e-3 + 3e-3)  # chains at 2 GFLOP/s + 1x1 + pool
    assert (fused["layers"], fused["layers_ok"], bool(fused["partial"])) == (6, 6, False)
    assert fused["fused_with"] == "numba-cpu"
    line = total_lines(network_totals(inception_like()), "3a")[0]
    assert "33 ms/image on numba-cpu-fused (fused chains + numba-cpu's other layers)" in line


def test_a_fused_total_without_its_twins_layers_is_partial():
    """The twin's pool proj failed: 5 of 6 layers; no twin in the run at all: the chains alone, 4 of 6."""
    failed = inception_like(overrides={("numba-cpu", "pool proj"): dict(status="failed", time_s=None)})
    fused = totals_of(failed).loc["numba-cpu-fused"]
    assert (fused["layers_ok"], bool(fused["partial"])) == (5, True)
    alone = totals_of(inception_like(backends=("numpy",))).loc["numba-cpu-fused"]
    assert (alone["layers"], alone["layers_ok"], bool(alone["partial"])) == (6, 4, True)
    assert alone["total_s"] == pytest.approx(20e-3) and alone["fused_with"] is None
    line = total_lines(network_totals(inception_like(backends=("numpy",))), "3a")[0]
    assert "20 ms/image on numba-cpu-fused (partial: 2 of 6 layers not run)" in line


def test_totals_carry_the_trust_of_the_rows_behind_them():
    """A noisy numpy layer marks numpy's total; a noisy numba-cpu conv inside a fused branch marks numba-cpu's
    total but not the fused one (the chain replaced that row); a direct layer's flag marks nothing."""
    table = inception_like(overrides={("numpy", "pool proj"): dict(flags="noisy", trusted=False),
                                      ("numba-cpu", "5x5"): dict(flags="noisy;unsettled", trusted=False),
                                      ("numba-cpu", "3x3 direct"): dict(flags="noisy", trusted=False)})
    totals = totals_of(table)
    assert (bool(totals.loc["numpy", "trusted"]), totals.loc["numpy", "untrusted"]) == (False, 1)
    assert totals.loc["numba-cpu", "flags"] == "noisy;unsettled"
    assert bool(totals.loc["numba-cpu-fused", "trusted"])
    line = total_lines(network_totals(table), "3a")[0]
    assert "53! ms/image on numpy (untrusted: 1 row noisy)" in line
    assert "53! ms/image on numba-cpu (untrusted: 1 row noisy, unsettled)" in line
    assert "33 ms/image on numba-cpu-fused (fused" in line


def test_whole_network_layer_tables_give_the_known_multiply_adds():
    """ResNet-50's convolutions 4.09 G (torchvision's figure), the resnet50 preset's 1.47 G of them; GoogLeNet
    ~1.5 G as its paper says; MobileNet's pointwise layers 540 M with the 512->512 one five times."""
    assert networks.network_macs(networks.resnet50_network()) == pytest.approx(4.09e9, rel=0.01)
    assert networks.network_macs(networks.resnet50()) == pytest.approx(1.467e9, rel=0.001)
    assert networks.network_macs(networks.googlenet()) == pytest.approx(1.58e9, rel=0.01)
    assert networks.network_macs(networks.mobilenet_pointwise()) == pytest.approx(539.5e6, rel=0.001)


def test_a_preset_that_is_part_of_a_network_says_so_in_its_totals():
    """The resnet50 preset's total is labelled as a part of ResNet-50 with its share of the multiply-adds; a
    synthetic preset says it is no network; a layer file (a whole network) gets no label."""
    rows = [fake_row("numpy", layer.label, int(2 * networks.network_macs([layer])), 100.0)
            for layer in networks.resnet50()]
    table = fake_table(rows)
    assert layer_set_macs(table) == (17, pytest.approx(1.467e9, rel=0.001))
    cov = coverage(table, "resnet50")
    line = total_lines(network_totals(table), "resnet50", cov)[0]
    assert line.startswith("resnet50 convs [part of ResNet-50: the stem and the first bottleneck block of each "
                           "stage, 36% of its multiply-adds]: ")
    assert macs_text(table, "resnet50", cov) == \
        "resnet50: 17 layers, 1.47 G multiply-adds per image (36% of ResNet-50's 4.09 G)"
    assert totals_block(table, "resnet50", "resnet50") == [line, macs_text(table, "resnet50", cov)]
    smoke = totals_block(table, "smoke", "smoke")
    assert smoke[0].startswith("smoke convs [synthetic layers, not a network]: ") and len(smoke) == 2
    whole = totals_block(table, "layers:r50.toml", "layers:r50.toml")
    assert whole[0].startswith("layers:r50.toml convs: ") and whole[1].endswith("per image")
    assert coverage(table, None) is None


def test_no_totals_where_nothing_ran():
    table = fake_table([fake_row("numpy", "a", 1_000, None, status="failed")])
    assert math.isnan(totals_of(table).loc["numpy", "total_s"])
    assert total_lines(network_totals(table), "net") == [] and totals_block(table, "net", None) == []
    assert total_lines(None, "net") == [] and network_totals(table.iloc[0:0]).empty


def test_the_layer_set_is_each_layer_once_whatever_batch_dtype_threads_or_backend_measured_it():
    # smoke with --axis N=1,4 --axis dtype=float32,float64 said "10 layers, 19.8 k" for 5 layers of 9.88 k, and
    # a layer with its own batch (N=2) larger than the others' was left out
    rows = []
    for backend in ("numpy", "naive"):
        for n in (1, 4):
            for dtype in ("float32", "float64"):
                for threads in (1, 2):
                    rows.append(fake_row(backend, "a", 2000 * n, 1.0, N=n, dtype=dtype, threads=threads, k=1))
                    rows.append(fake_row(backend, "b", 6000 * n, 1.0, N=n, dtype=dtype, threads=threads))
        rows.append(fake_row(backend, "c", 2 * 500 * 2, 1.0, N=2, k=5))  # its own batch of 2: 500 MACs per image
    assert layer_set_macs(fake_table(rows)) == (3, pytest.approx(1000 + 3000 + 500))


def test_the_layer_set_of_a_real_run_with_axes_is_its_layers_once():
    # case names carry the axis values ("1x1 N=4 float64"): deduplicating on them counted every layer again per
    # batch and dtype (the committed example said 12 layers, 256 M for inception 3a's 6 layers, 128 M)
    from harness.cases import build_cases
    from harness.presets import get_preset

    smoke = get_preset("smoke")
    rows = [fake_row("numpy", case.name, case.spec.flops, 1.0, layer=case.layer.label, **case.layer.shape(),
                     dtype=case.dtype, threads=case.threads)
            for case in build_cases(smoke, {"N": (1, 4), "dtype": ("float32", "float64")})]
    alone = [fake_row("numpy", case.name, case.spec.flops, 1.0, layer=case.layer.label, **case.layer.shape())
             for case in build_cases(smoke)]
    assert layer_set_macs(fake_table(rows)) == layer_set_macs(fake_table(alone))
    assert layer_set_macs(fake_table(alone))[0] == len(smoke.layers)
