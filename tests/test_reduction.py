"""The reduction study on hand-made tables: savings, bootstrap intervals, trust, and the verdict sentences."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.reduction import reduction_table, saving_interval
from harness.render.verdicts import verdict_lines


def _row(backend, case, role, flops, time_s, status="ok", N=1, trusted=True):
    return dict(backend=backend, case=case, branch="3a 5x5", role=role, flops=flops, bytes=flops // 4, time_s=time_s,
                gflops=flops / time_s / 1e9 if time_s else None, status=status, N=N, dtype="float32", threads=2,
                trusted=trusted)


def _samples(table, rel_spread=0.01, seed=0):
    """20 rounds per timed row, lognormal around the row's time."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in table[table["status"] == "ok"].itertuples():
        for i, t in enumerate(r.time_s * rng.lognormal(0, rel_spread, 20)):
            rows.append(dict(backend=r.backend, case=r.case, round=i, time_s=t))
    return pd.DataFrame(rows)


TABLE = pd.DataFrame([
    _row("numpy", "direct", "direct", 1000, 10.0),
    _row("numpy", "reduce", "reduce", 40, 1.0),
    _row("numpy", "conv", "conv", 60, 1.5),
    _row("naive", "direct", "direct", 1000, 4.0),
    _row("naive", "reduce", "reduce", 40, 1.0),
    _row("naive", "conv", "conv", 60, 1.0),
])


def test_savings_efficiency_and_intervals():
    red = reduction_table(TABLE, _samples(TABLE)).set_index("backend")
    assert red.loc["numpy", "flop_saving"] == pytest.approx(10.0)
    assert red.loc["numpy", "time_saving"] == pytest.approx(4.0)
    assert red.loc["numpy", "efficiency"] == pytest.approx(0.4)
    assert red.loc["naive", "time_reduced_s"] == pytest.approx(2.0)
    for b in ("numpy", "naive"):  # 1% noise per round: a tight interval around the point estimate
        r = red.loc[b]
        assert r["time_saving_lo"] < r["time_saving"] < r["time_saving_hi"]
        assert r["time_saving_hi"] / r["time_saving_lo"] < 1.05
        assert r["efficiency_lo"] == pytest.approx(r["time_saving_lo"] / r["flop_saving"])
        assert bool(r["trusted"])


def test_noisier_samples_give_wider_intervals():
    tight = reduction_table(TABLE, _samples(TABLE, 0.01)).set_index("backend").loc["numpy"]
    loose = reduction_table(TABLE, _samples(TABLE, 0.2)).set_index("backend").loc["numpy"]
    assert loose["time_saving_hi"] - loose["time_saving_lo"] > 5 * (tight["time_saving_hi"] - tight["time_saving_lo"])


def test_interval_from_known_samples_covers_the_ratio():
    lo, hi = saving_interval(np.full(9, 10.0), np.full(9, 1.0), np.full(9, 1.5))
    assert lo == pytest.approx(4.0) and hi == pytest.approx(4.0)
    assert all(np.isnan(saving_interval([1.0], [1.0], [1.0])))


def test_verdict_reads_with_interval_share_and_registry_order():
    lines = verdict_lines(reduction_table(TABLE, _samples(TABLE)))
    assert len(lines) == 2
    assert lines[0].startswith("3a 5x5 branch: 10.0x fewer FLOPs; time saved 2.0x [")
    assert "on naive = 20% of the FLOP saving" in lines[0] and "on numpy = 40% of the FLOP saving" in lines[1]


def test_impossible_saving_is_flagged_and_untrusted_says_so():
    table = pd.DataFrame([
        _row("numpy", "direct", "direct", 1000, 100.0),
        _row("numpy", "reduce", "reduce", 40, 1.0, trusted=False),
        _row("numpy", "conv", "conv", 60, 1.0),
    ])
    red = reduction_table(table, _samples(table))
    assert not red["trusted"].iloc[0]
    line = verdict_lines(red)[-1]
    assert "50.0x [" in line and "MORE than the FLOP saving" in line and "untrusted" in line


def test_without_samples_there_is_no_interval_and_it_says_so():
    line = verdict_lines(reduction_table(TABLE))[0]
    assert "no interval" in line


def test_incomplete_branch_is_left_out():
    table = pd.DataFrame([
        _row("numpy", "direct", "direct", 1000, 10.0),
        _row("numpy", "reduce", "reduce", 40, 1.0),
        _row("numpy", "conv", "conv", 60, None, status="skipped"),
    ])
    assert reduction_table(table).empty
    assert verdict_lines(reduction_table(table)) == []


def test_where_the_saving_goes_adds_up_and_names_its_parts():
    from harness.breakdown import add_parts, per_call_cost

    # every call costs 0.5 s of overhead plus 1 s per 100 FLOPs, except the reduce, 3x slower per FLOP
    rows = [_row("numpy", "direct", "direct", 1000, 0.5 + 10.0), _row("numpy", "reduce", "reduce", 40, 0.5 + 1.2),
            _row("numpy", "conv", "conv", 60, 0.5 + 0.6), _row("numpy", "other", None, 500, 0.5 + 5.0)]
    rows[-1]["branch"] = None
    table = pd.DataFrame(rows)
    assert per_call_cost(table[table["role"] != "reduce"], "numpy", "float32", 2) == pytest.approx(0.5)
    peak = {"gemm_gflops": {"float32": 1e-7}, "copy_gbytes_per_s": 1e-9}
    red = add_parts(reduction_table(table), table, peak).iloc[0]
    assert red["lost_s"] == pytest.approx(red["lost_reduce_s"] + red["lost_conv_s"] + red["lost_call_s"])
    assert red["lost_s"] == pytest.approx(red["time_reduced_s"] - red["ideal_s"])
    assert red["lost_reduce_s"] > 0.5 and red["lost_call_s"] > 0
    assert red["predicted_saving"] > 1 and red["reduce_bound_s"] > 0
    line = verdict_lines(add_parts(reduction_table(table), table, peak))
    assert "at best" in line[0] and "lost to: the 1x1 reduce" in line[1] and "per-call cost" in line[1]


def test_a_gpu_backend_is_predicted_with_the_gpus_roof_and_only_with_it():
    from harness.breakdown import add_parts

    rows = [_row("numba-cuda", "direct", "direct", 1000, 10.0), _row("numba-cuda", "reduce", "reduce", 40, 1.2),
            _row("numba-cuda", "conv", "conv", 60, 1.0)]
    table = pd.DataFrame([dict(r, device="cuda") for r in rows])
    cpu_only = {"fma_gflops": {"float32": 1e-6}, "fma_gflops_1t": {"float32": 5e-7}, "threads": 2,
                "bandwidth_gbytes_per_s": {"triad": 1e-9}}
    red = add_parts(reduction_table(table), table, cpu_only).iloc[0]
    assert math.isnan(red["predicted_saving"])  # the host CPU's roof bounds nothing on the GPU
    with_gpu = dict(cpu_only, gpu={"fma_gflops": {"float32": 1e-7}, "copy_gbytes_per_s": 1e-6})
    red = add_parts(reduction_table(table), table, with_gpu).iloc[0]
    # compute-bound at 100 FLOP/s: the direct layer 10 s, the pair 0.4 + 0.6 s
    assert red["predicted_saving"] == pytest.approx(10.0) and red["reduce_bound_s"] == pytest.approx(0.4)
    assert red["roof_device"] == "cuda"


def test_a_branch_run_on_two_devices_names_each_roof_it_predicts_from():
    from harness.breakdown import add_parts

    rows = []
    for backend, device in (("numba-cuda", "cuda"), ("torch", "cpu"), ("mps-plugin", "mps")):
        rows += [dict(r, device=device) for r in (
            _row(backend, "direct", "direct", 1000, 10.0), _row(backend, "reduce", "reduce", 40, 1.2),
            _row(backend, "conv", "conv", 60, 1.0))]
    table = pd.DataFrame(rows)
    peak = {"fma_gflops": {"float32": 1e-6}, "fma_gflops_1t": {"float32": 5e-7}, "threads": 2,
            "bandwidth_gbytes_per_s": {"triad": 1e-6},
            "gpu": {"fma_gflops": {"float32": 1e-7}, "copy_gbytes_per_s": 1e-6}}
    red = add_parts(reduction_table(table), table, peak).set_index("backend")
    assert red.loc["numba-cuda", "roof_device"] == "cuda" and red.loc["torch", "roof_device"] == "cpu"
    assert math.isnan(red.loc["mps-plugin", "predicted_saving"]) and red.loc["mps-plugin", "roof_device"] == ""
    heads = [line for line in verdict_lines(red.reset_index()) if "at best" in line]
    assert len(heads) == 2 and "on this GPU" in heads[0] and "on this machine's CPU" in heads[1]
    cpu_only = table[table["device"] == "cpu"]
    heads = [line for line in verdict_lines(add_parts(reduction_table(cpu_only), cpu_only, peak)) if "at best" in line]
    assert len(heads) == 1 and heads[0].endswith("less time on this machine (roofline bound of each layer from the "
                                                 "measured peak)")


def test_a_fused_row_goes_beside_its_unfused_twin():
    table = pd.DataFrame([
        _row("numba-cpu", "direct", "direct", 1000, 10.0), _row("numba-cpu", "reduce", "reduce", 40, 1.0),
        _row("numba-cpu", "conv", "conv", 60, 1.5),
        dict(_row("numba-cpu-fused", "3a 5x5 fused", "fused", 100, 1.25)),
    ])
    red = reduction_table(table, _samples(table)).set_index("backend")
    assert list(red.index) == ["numba-cpu"]  # the fused row is a column of its twin's row, not a row
    r = red.loc["numba-cpu"]
    assert r["fused_backend"] == "numba-cpu-fused" and r["time_saving_fused"] == pytest.approx(8.0)
    assert r["efficiency_fused"] == pytest.approx(0.8) and r["time_saving_fused_lo"] < 8.0 < r["time_saving_fused_hi"]
    line = verdict_lines(reduction_table(table, _samples(table)))[-1]
    assert "fused in one pass (numba-cpu-fused): 8.0x [" in line and "= 80% of the FLOP saving" in line


def test_the_answer_is_one_table_per_study_fused_after_its_twin_untrusted_with_its_flags():
    """Two batches: two tables; rows by branch, backends in registry order, the fused chain after numba-cpu;
    a noisy reduce row makes its branch "no: noisy" and only that branch's row."""
    from harness.breakdown import add_parts
    from harness.render.answer import COLUMNS, answer_tables

    rows = []
    for n in (1, 8):
        rows += [dict(_row("numba-cpu", f"direct {n}", "direct", 1000 * n, 10.0 * n), N=n, flags=""),
                 dict(_row("numba-cpu", f"reduce {n}", "reduce", 40 * n, 1.0 * n, trusted=n == 1), N=n,
                      flags="" if n == 1 else "noisy"),
                 dict(_row("numba-cpu", f"conv {n}", "conv", 60 * n, 1.5 * n), N=n, flags=""),
                 dict(_row("numpy", f"direct {n}", "direct", 1000 * n, 4.0 * n), N=n, flags=""),
                 dict(_row("numpy", f"reduce {n}", "reduce", 40 * n, 1.0 * n), N=n, flags=""),
                 dict(_row("numpy", f"conv {n}", "conv", 60 * n, 1.0 * n), N=n, flags=""),
                 dict(_row("numba-cpu-fused", f"3a 5x5 fused {n}", "fused", 100 * n, 1.25 * n), N=n, flags="")]
    table = pd.DataFrame(rows).assign(device="cpu")
    table.loc[table["role"] == "reduce", "bytes"] = 200 * table["N"]  # a memory-heavy 1x1
    # roofs of 100 FLOP/s and 10 B/s: direct 25 s (memory), reduce 20 s (memory), conv 1.5 s -> 1.16x
    peak = {"gemm_gflops": {"float32": 1e-7}, "copy_gbytes_per_s": 1e-8}
    tables = answer_tables(add_parts(reduction_table(table, _samples(table)), table, peak))
    assert [t.title for t in tables] == [
        "The answer (N=1): does the 1x1 reduction save as much time as it saves FLOPs?",
        "The answer (N=8): does the 1x1 reduction save as much time as it saves FLOPs?"]
    assert all(t.columns == COLUMNS for t in tables)
    first, second = tables
    assert [r[1] for r in first.rows] == ["numpy", "numba-cpu", "numba-cpu-fused (fused)"]
    numpy_row, numba_row, fused_row = first.rows
    assert numpy_row[:4] == ("3a 5x5", "numpy", "10.0x", "1.2x") and numpy_row[5:] == ("20%", "yes")
    assert numba_row[4].startswith("4.0x [") and numba_row[5] == "40%"
    assert fused_row[4].startswith("8.0x [") and fused_row[5:] == ("80%", "yes")
    assert first.trusted == (True, True, True)
    assert [r[6] for r in second.rows] == ["yes", "no: noisy", "yes"] and second.trusted == (True, False, True)
    assert answer_tables(None) == [] and answer_tables(reduction_table(table.iloc[0:0])) == []


def test_lost_shares_lie_in_0_to_100_and_a_part_that_gained_is_time_won_back():
    """A conv faster per FLOP than the direct layer makes its part negative: the other shares are of the gross
    loss (adding to 100%), and the gain is written as time won back, with why."""
    from types import SimpleNamespace

    from harness.render.verdicts import loss_text

    r = SimpleNamespace(lost_s=0.8e-3, time_reduced_s=3e-3, ideal_s=2.2e-3, lost_reduce_s=0.6e-3,
                        lost_conv_s=-0.2e-3, lost_call_s=0.4e-3, reduce_memory_bound=True)
    text = loss_text(r)
    assert text == ("lost to: the 1x1 reduce, memory-bound 60%, per-call cost 40% (of 1 ms above the ideal 2.2 ms); "
                    "the small-C conv won back 200 us (faster per FLOP than the direct layer)")
    clean = SimpleNamespace(**dict(vars(r), lost_conv_s=0.1e-3, lost_s=1.1e-3, reduce_memory_bound=False))
    assert loss_text(clean).startswith("lost to: the 1x1 reduce 55%, the small-C conv 9%, per-call cost 36% (of")
    assert loss_text(SimpleNamespace(**dict(vars(r), lost_s=-1e-4))).startswith("nothing lost")
    assert loss_text(SimpleNamespace(**dict(vars(r), lost_s=1e-4))).startswith("almost nothing lost")
