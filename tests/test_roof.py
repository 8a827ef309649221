"""Rows under the roof (``harness.roof``): the compute and memory roofs per dtype and threads, ``peak_fraction``,
``bound``, the summary per backend, the roofs drawn and predicted with - synthetic roofs and rows, no timing."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.breakdown import roofline_bound_s
from harness.roof import (compute_roof_gflops, describe_roof, drawn_roofs, memory_roof_gbytes_per_s, roof_columns,
                          roof_summary)
from harness.trust import with_trust
from tests.fakes import FAKE_PEAK, fake_roof

ROOF = fake_roof(2)  # 100 GFLOP/s float32 per core (200 on two), 50 / 100 float64; triad 20 GB/s


def row(**kw):
    base = dict(status="ok", device="cpu", dtype="float32", threads=2, flops=1e9, bytes=1e7, gflops=150.0,
                gbytes_per_s=1.5, time_s=1e-3, rel_ci=0.01)
    return dict(base, **kw)


def test_the_compute_roof_follows_dtype_and_threads():
    assert compute_roof_gflops(ROOF, "float32", 2) == 200.0 and compute_roof_gflops(ROOF, "float64", 2) == 100.0
    assert compute_roof_gflops(ROOF, "float32", 1) == 100.0  # one core's FMA units
    assert compute_roof_gflops(ROOF, "float32", 8) == 200.0  # more threads than cores: no more FMA units
    assert compute_roof_gflops(ROOF, "int8", 2) is None and compute_roof_gflops(None, "float32", 2) is None
    assert compute_roof_gflops(FAKE_PEAK, "float32", 2) is None  # a BLAS-only peak is no roof
    assert memory_roof_gbytes_per_s(ROOF) == 20.0 and memory_roof_gbytes_per_s(FAKE_PEAK) is None


def test_peak_fraction_and_bound_of_a_row():
    assert roof_columns(row(), ROOF) == dict(peak_fraction=0.75, bound="compute")  # 100 FLOP/B > ridge 10
    low = roof_columns(row(flops=5e7, bytes=1e7, gflops=10.0), ROOF)  # 5 FLOP/B < ridge 200/20
    assert low == dict(peak_fraction=0.05, bound="memory")
    assert roof_columns(row(threads=1, gflops=50.0), ROOF)["peak_fraction"] == 0.5
    for other in (row(device="cuda"), row(threads=None)):
        got = roof_columns(other, ROOF)
        assert math.isnan(got["peak_fraction"]) and got["bound"] == ""
    failed = roof_columns(row(status="failed", gflops=None), ROOF)
    assert math.isnan(failed["peak_fraction"]) and failed["bound"] == "compute"  # the layer's bound is known
    assert math.isnan(roof_columns(row(), FAKE_PEAK)["peak_fraction"])
    judged = with_trust(row(), 0.02, ROOF)
    assert judged["peak_fraction"] == 0.75 and judged["bound"] == "compute" and judged["trusted"]


def test_summary_names_the_median_geomean_and_worst_layer_per_backend():
    table = pd.DataFrame([
        dict(backend="numba-cpu", case="3a 1x1", status="ok", peak_fraction=0.9),
        dict(backend="numba-cpu", case="3a 5x5 reduce", status="ok", peak_fraction=0.4),
        dict(backend="numba-cpu", case="3a 3x3", status="ok", peak_fraction=0.8),
        dict(backend="numpy", case="3a 1x1", status="ok", peak_fraction=0.5),
        dict(backend="numpy", case="3a 3x3", status="failed", peak_fraction=math.nan),
        dict(backend="numba-cuda", case="3a 1x1", status="ok", peak_fraction=math.nan),
    ])
    geomean = (0.9 * 0.4 * 0.8) ** (1 / 3)
    assert roof_summary(table) == [
        f"numba-cpu: median 80% of the FMA roof (geomean {geomean:.0%}), worst 3a 5x5 reduce at 40%",
        "numpy: median 50% of the FMA roof (geomean 50%), worst 3a 1x1 at 50%"]
    assert roof_summary(pd.DataFrame(dict(backend=["x"], status=["ok"]))) == []


def test_drawn_roofs_fall_back_to_an_older_runs_blas_figures_and_say_so():
    gflops, gbytes, label = drawn_roofs(ROOF, "float32", 2)
    assert (gflops, gbytes) == (200.0, 20.0) and label.startswith("FMA roof 200 GFLOP/s (float32)")
    gflops, gbytes, label = drawn_roofs(FAKE_PEAK, "float32", 2)
    assert (gflops, gbytes) == (50.0, 10.0) and "BLAS GEMM" in label and "older run" in label
    assert drawn_roofs(None, "float32", 2) == (None, None, "")


def test_the_roofline_bound_uses_the_physical_roof_at_the_rows_threads():
    assert roofline_bound_s(2e9, 1e6, ROOF, "float32") == pytest.approx(2e9 / 200e9)
    assert roofline_bound_s(2e9, 1e6, ROOF, "float32", threads=1) == pytest.approx(2e9 / 100e9)
    assert roofline_bound_s(1e6, 2e9, ROOF, "float32") == pytest.approx(2e9 / 20e9)  # memory-bound
    assert math.isnan(roofline_bound_s(1e6, 1e6, None, "float32"))


def test_describe_roof_in_one_line():
    text = describe_roof(dict(ROOF, source="stored in results/peak.json"))
    assert text.startswith("FMA roof float32 200 (100 on one), float64 100 (50 on one) GFLOP/s on 2 threads")
    assert "STREAM triad 20 GB/s" in text and "BLAS GEMM float32 160" in text and text.endswith("results/peak.json")
    assert "before the physical roof" in describe_roof(FAKE_PEAK) and describe_roof(None) == ""


def test_gpu_rows_are_judged_against_the_gpus_roof_where_one_was_measured():
    roof = dict(ROOF, gpu=dict(fma_gflops={"float32": 50_000.0}, copy_gbytes_per_s=2000.0))
    gpu_row = row(device="cuda", threads=1, gflops=10_000.0, flops=1e9, bytes=1e6)
    assert roof_columns(gpu_row, roof) == dict(peak_fraction=0.2, bound="compute")  # 1000 FLOP/B > ridge 25
    assert with_trust(dict(gpu_row, gflops=60_000.0), 0.02, roof)["flags"] == "above-peak"
    assert math.isnan(roof_columns(gpu_row, ROOF)["peak_fraction"])  # no GPU roof: nothing to judge by
    assert compute_roof_gflops(roof, "float32", 1, "cuda") == 50_000.0
    assert memory_roof_gbytes_per_s(roof, "cuda") == 2000.0


def test_gpu_rows_are_drawn_and_bounded_under_the_gpus_roof():
    roof = dict(ROOF, gpu=dict(fma_gflops={"float32": 50_000.0}, copy_gbytes_per_s=2000.0))
    gflops, gbytes, label = drawn_roofs(roof, "float32", 1, "cuda")
    assert (gflops, gbytes) == (50_000.0, 2000.0) and "GPU FMA roof 50000" in label and "device copy" in label
    assert drawn_roofs(ROOF, "float32", 1, "cuda") == (None, None, "")  # no GPU roof: no CPU figure stands in
    assert drawn_roofs(dict(FAKE_PEAK, gpu={}), "float32", 1, "cuda") == (None, None, "")
    assert roofline_bound_s(1e12, 1e6, roof, "float32", device="cuda") == pytest.approx(1e12 / 50_000e9)
    assert roofline_bound_s(1e6, 2e9, roof, "float32", device="cuda") == pytest.approx(2e9 / 2000e9)
    assert math.isnan(roofline_bound_s(1e12, 1e6, ROOF, "float32", device="cuda"))

