"""The reduction study on a hand-made table."""
from __future__ import annotations

import pandas as pd
import pytest

from harness.reduction import reduction_table, verdict_lines


def _row(backend, case, role, flops, time_s, status="ok", N=1):
    return dict(backend=backend, case=case, branch="3a 5x5", role=role, flops=flops, time_s=time_s,
                status=status, N=N, dtype="float32", threads=2)


def test_savings_and_efficiency():
    table = pd.DataFrame([
        _row("a", "direct", "direct", 1000, 10.0),
        _row("a", "reduce", "reduce", 40, 1.0),
        _row("a", "conv", "conv", 60, 1.5),
        _row("b", "direct", "direct", 1000, 4.0),
        _row("b", "reduce", "reduce", 40, 1.0),
        _row("b", "conv", "conv", 60, 1.0),
    ])
    red = reduction_table(table).set_index("backend")
    assert red.loc["a", "flop_saving"] == pytest.approx(10.0)
    assert red.loc["a", "time_saving"] == pytest.approx(4.0)
    assert red.loc["a", "efficiency"] == pytest.approx(0.4)
    assert red.loc["b", "time_reduced_s"] == pytest.approx(2.0)
    lines = verdict_lines(reduction_table(table))
    assert lines == ["3a 5x5 branch: 10.0x fewer FLOPs; time saved 4.0x on a, 2.0x on b"]


def test_incomplete_branch_is_left_out():
    table = pd.DataFrame([
        _row("a", "direct", "direct", 1000, 10.0),
        _row("a", "reduce", "reduce", 40, 1.0),
        _row("a", "conv", "conv", 60, None, status="skipped"),
    ])
    assert reduction_table(table).empty
    assert verdict_lines(reduction_table(table)) == []
