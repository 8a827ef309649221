"""The views on hand-made run tables: number formatting, the summary grid, terminal tables and verdicts."""
from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest

from harness.reduction import reduction_of_run
from harness.render import console as con
from harness.render.fmt import fmt_seconds, fmt_value, is_missing, machine_name, md_escape
from harness.render.summary import Cell, not_run, summary_grid
from harness.render.verdicts import backend_order, verdict_lines
from tests.fakes import fake_row, fake_run_table, fake_table

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _plain_output(capsys) -> tuple[str, str]:
    """Captured (stdout, stderr) without any terminal colour codes (FORCE_COLOR may be set)."""
    out, err = capsys.readouterr()
    return ANSI.sub("", out), ANSI.sub("", err)


# fmt


def test_missing_values_format_as_empty_text():
    """None and NaN are missing (0 is not); fmt_value formats the rest with the spec."""
    assert is_missing(None) and is_missing(math.nan) and not is_missing(0.0) and not is_missing("")
    assert fmt_value(None, ".2f") == "" and fmt_value(math.nan, ".2f") == ""
    assert fmt_value(1.23456, ".2f") == "1.23" and fmt_value(0.0, ".1%") == "0.0%"


@pytest.mark.parametrize("seconds, text", [
    (2.5e-6, "2.5 us"), (1.234e-3, "1.23 ms"), (1e-3, "1 ms"), (0.5, "500 ms"), (1.0, "1 s"), (4.5, "4.5 s"),
    (123.4, "123 s"), (None, ""), (math.nan, ""), (0.9996, "1 s"), (999.7e-6, "1 ms"), (999.4e-6, "999 us"),
])
def test_seconds_in_the_unit_that_reads_best(seconds, text):
    assert fmt_seconds(seconds) == text


def test_machine_name_with_and_without_gpu():
    assert machine_name({"cpu_model": "Xeon", "host": "n1"}) == "Xeon (n1)"
    assert machine_name({"cpu_model": "Xeon", "host": "n1", "gpu": {"name": "H100"}}) == "H100 / Xeon (n1)"
    assert machine_name({}) == "unknown machine (?)"


def test_markdown_escape_makes_table_text_literal():
    assert md_escape("a|b *c*\n[x](y) $z$") == r"a\|b \*c\* \[x\]\(y\) \$z\$"
    assert md_escape(3) == "3"


# summary grid


def test_summary_grid_cells_best_untrusted_and_status_words():
    """Backends in table order; the best of >= 2 timed cells; "!" on untrusted cells; status words; "" where a
    backend has no row; MFLOP from the first row with flops, "?" with none."""
    table = fake_table([
        fake_row("numpy", "a", 2_000_000, 10.0),
        fake_row("naive", "a", 2_000_000, 20.04, flags="noisy", trusted=False),
        fake_row("numpy", "b", 4_000_000, None, status="skipped"),
        fake_row("naive", "b", 4_000_000, 7.0),
        dict(fake_row("numpy", "c", 1_000_000, 1.0), flops=None),
    ])
    backends, grid = summary_grid(table)
    assert backends == ["numpy", "naive"]
    assert [(r.case, r.mflop) for r in grid] == [("a", "2"), ("b", "4"), ("c", "?")]
    assert grid[0].cells == (Cell("10", "ok", best=False), Cell("20!", "ok", best=True, flags="noisy"))
    assert grid[0].cells[1].untrusted and not grid[0].cells[0].untrusted
    assert grid[1].cells == (Cell("skipped", "skipped"), Cell("7", "ok"))  # one timed backend: no best
    assert grid[2].cells == (Cell("1", "ok"), Cell("", ""))


def test_summary_grid_reads_nan_flags_as_trusted_text():
    """A flags cell read back from CSV as NaN adds no "!"."""
    table = fake_table([fake_row("numpy", "a", 1_000_000, 12.345, flags=math.nan)])
    _, grid = summary_grid(table)
    assert grid[0].cells[0] == Cell("12.3", "ok")


def test_backends_that_ran_nowhere_leave_the_grid_with_one_reason_each():
    """Every row skipped or unavailable: no column, and why in one phrase (the shared reason, or the first with the
    number of cases); a backend with one timed, wrong or failed row keeps its column."""
    table = fake_table([
        fake_row("numpy", "a", 1_000_000, 10.0),
        fake_row("naive", "a", 1_000_000, None, status="skipped", reason="estimated 2 s"),
        fake_row("gpu", "a", 1_000_000, None, status="unavailable", reason="no GPU"),
        fake_row("bad", "a", 1_000_000, None, status="wrong", reason="off by 1"),
        fake_row("numpy", "b", 2_000_000, 20.0),
        fake_row("naive", "b", 2_000_000, None, status="skipped", reason="estimated 4 s"),
        fake_row("gpu", "b", 2_000_000, None, status="unavailable", reason="no GPU"),
        fake_row("bad", "b", 2_000_000, None, status="skipped", reason="too big"),
    ])
    assert not_run(table) == {"naive": "skipped on all 2 cases, e.g. a: estimated 2 s", "gpu": "unavailable: no GPU"}
    backends, grid = summary_grid(table)
    assert backends == ["numpy", "bad"]
    assert grid[0].cells == (Cell("10", "ok"), Cell("wrong", "wrong"))


# terminal


def test_gflops_table_columns_and_marked_cells():
    """Columns case, MFLOP, then one per backend; the best cell reversed, untrusted yellow, markup escaped."""
    table = fake_table([fake_row("numpy", "[b]x", 2_000_000, 10.0), fake_row("naive", "[b]x", 2_000_000, 20.0, flags="noisy"),
                    fake_row("numpy", "y", 1_000_000, None, status="failed")])
    out = con.gflops_table(table, "title")
    assert [c.header for c in out.columns] == ["case", "MFLOP", "numpy", "naive"]
    assert out.columns[0]._cells == [r"\[b]x", "y"]
    assert out.columns[2]._cells == ["10", "[red]failed[/]"]
    assert out.columns[3]._cells == ["[bold reverse][yellow]20![/][/]", ""]


def test_print_summary_prints_table_reasons_banner_totals_verdicts_paths(capsys):
    table = fake_run_table()
    table.loc[len(table)] = fake_row("naive", "9x9", 1_000, None, status="failed", reason="other")
    con.print_summary(table, title="Smoke [GFLOP/s]", verdicts=["3a 5x5 branch: 9.7x fewer FLOPs"],
                      paths=["results/t.csv"], banner="1 of 9 rows flagged [noisy]", totals=["tiny: 1.2 ms"])
    out, _ = _plain_output(capsys)
    assert "Smoke [GFLOP/s]" in out
    lines = out.splitlines()
    row = next(line for line in lines if line.lstrip("│ ").startswith("5x5 direct"))
    assert re.search(r"5x5 direct\s*│\s*10\s*│\s*4\s*│\s*8\s*│", row)  # case, MFLOP, numpy, naive
    assert "3.5!" in out and "failed" in out
    assert "  failed naive | 3x3: boom [red]x[/red] (and 1 more)" in lines
    assert "How far to trust these numbers: 1 of 9 rows flagged [noisy]; untrusted cells end in '!'" in out
    assert out.index("Network totals") < out.index("  tiny: 1.2 ms") < out.index("The 1x1 reduction, measured:")
    assert "  3a 5x5 branch: 9.7x fewer FLOPs" in lines and lines[-1] == "  results/t.csv"


def test_print_summary_of_a_clean_run_prints_only_the_table(capsys):
    """No untimed rows, no banner, totals, verdicts or paths: nothing but the table."""
    table = fake_table([fake_row("numpy", "a", 1_000_000, 2.0)])
    con.print_summary(table, title="T", verdicts=[], paths=[], banner=None)
    out, _ = _plain_output(capsys)
    assert "a " in out and "2 " in out
    for absent in ("How far", "Network totals", "reduction", "Wrote", "failed"):
        assert absent not in out


def test_print_check_formats_errors_and_leaves_missing_ones_empty(capsys):
    rows = [dict(case="3x3", backend="numpy", status="ok", max_abs_err=1.5e-6, tolerance=1e-4, error_margin=0.015,
                 reason=""),
            dict(case="5x5", backend="naive", status="failed", max_abs_err=None, tolerance=0.0, reason="[x] crashed")]
    con.print_check(rows, title="Correctness")
    out, _ = _plain_output(capsys)
    assert "Correctness" in out
    assert re.search(r"3x3\s*│\s*numpy\s*│\s*ok\s*│\s*1\.50e-06\s*│\s*1\.00e-04\s*│\s*0\.01\s*│", out)
    assert re.search(r"5x5\s*│\s*naive\s*│\s*failed\s*│\s*│\s*│\s*│\s*\[x\] crashed", out)


def test_print_calibration_suggests_the_smallest_clean_threshold(capsys):
    rows = [dict(threshold=0.02, points=10, false_alarms=2, false_alarm_rate=0.2, inconclusive=0,
                 inconclusive_rate=0.0, noise_floor=0.03),
            dict(threshold=0.05, points=10, false_alarms=0, false_alarm_rate=0.0, inconclusive=1,
                 inconclusive_rate=0.1, noise_floor=0.03)]
    con.print_calibration(rows, preset="smoke")
    out, _ = _plain_output(capsys)
    assert re.search(r"2%\s*│\s*10\s*│\s*2\s*│\s*20\.0%\s*│\s*0\s*│\s*0\.0%", out)
    assert "noise floor on this machine: +/-3%" in out
    assert "<= 10% inconclusive points: 5% (compare --threshold 0.05)" in out
    con.print_calibration(rows[:1], preset="smoke")
    assert "no threshold here gave zero false alarms" in _plain_output(capsys)[0]
    con.print_calibration([], preset="smoke")
    assert "+/-0%" in _plain_output(capsys)[0]


def test_progress_prints_failed_points_and_changed_status_lines(capsys, monkeypatch):
    """Off a terminal: a failed point gets a line (markup in its reason literal), ok points none, a status line
    is printed once per change; quiet prints nothing."""
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):  # they would make rich act as a terminal
        monkeypatch.delenv(var, raising=False)
    def result(status, reason=""):
        return SimpleNamespace(row=dict(status=status, backend="numpy", case="3x3", reason=reason))

    with con.SweepProgress(3) as bar:
        bar.start("numpy", SimpleNamespace(name="3x3"))
        bar.done(result("ok"))
        bar.done(result("skipped", "not this one"))
        bar.done(result("wrong", "err [b]1e-3[/b]"))
        bar.status("queue: 2 points", every_s=0)
        bar.status("queue: 2 points", every_s=0)
        bar.step(3)
    _, err = _plain_output(capsys)
    assert "wrong: numpy | 3x3: err [b]1e-3[/b]" in err
    assert "not this one" not in err
    assert [line for line in err.splitlines() if line == "queue: 2 points"] == ["queue: 2 points"]
    with con.SweepProgress(1, quiet=True) as bar:
        bar.done(result("failed", "boom"))
        bar.status("queue", every_s=0)
    assert capsys.readouterr() == ("", "")


# verdicts (sentences are covered in test_reduction.py; here: ordering and the varying-batch label)


def test_backend_order_puts_unknown_backends_after_the_registry_sorted():
    assert backend_order(["zz", "numpy", "aa", "naive", "numpy"]) == ["naive", "numpy", "aa", "zz"]


def test_verdicts_name_the_batch_when_it_varies():
    rows = []
    for n in (1, 4):
        rows += [fake_row("numpy", f"d{n}", 1000 * n, 1.0, N=n, branch="3a 5x5", role="direct"),
                 fake_row("numpy", f"r{n}", 40 * n, 1.0, N=n, branch="3a 5x5", role="reduce"),
                 fake_row("numpy", f"c{n}", 60 * n, 1.0, N=n, branch="3a 5x5", role="conv")]
    lines = verdict_lines(reduction_of_run(fake_table(rows)))
    assert [line.split(":")[0] for line in lines] == ["3a 5x5 branch (N=1)", "3a 5x5 branch (N=4)"]
    assert all("10.0x fewer FLOPs; time saved 10.0x [no interval: no samples] on numpy" in line for line in lines)
    assert verdict_lines(None) == []


def test_network_totals_are_unknown_not_zero_when_no_layer_ran():
    import math

    from harness.totals import network_totals, total_lines

    table = fake_table([fake_row("numpy", "a", 1_000, None, status="failed"),
                        fake_row("naive", "a", 1_000, 2.0)])
    totals = network_totals(table).set_index("backend")
    assert math.isnan(totals.loc["numpy", "total_s"]) and math.isnan(totals.loc["numpy", "ms_per_image"])
    assert totals.loc["naive", "total_s"] == pytest.approx(1_000 / 2e9) and not totals.loc["naive", "partial"]
    assert all("numpy" not in line for line in total_lines(network_totals(table), "net"))
