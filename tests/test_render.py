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
from tests.fakes import FAKE_PEAK, fake_row, fake_run_table, fake_table

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


def test_print_summary_prints_table_reasons_banner_paths_totals_and_ends_with_the_answer(capsys):
    """Order: GFLOP/s table, reasons, banner, paths, totals - then the answer table and the verdict sentences,
    the last block of the output."""
    table = fake_run_table()
    table.loc[len(table)] = fake_row("naive", "9x9", 1_000, None, status="failed", reason="other")
    con.print_summary(table, title="Smoke [GFLOP/s]", verdicts=["3a 5x5 branch: 9.7x fewer FLOPs"],
                      paths=["results/t.csv"], banner="1 of 9 rows flagged [noisy]", totals=["tiny: 1.2 ms"],
                      reduction=reduction_of_run(table, None, FAKE_PEAK))
    out, _ = _plain_output(capsys)
    assert "Smoke [GFLOP/s]" in out
    lines = out.splitlines()
    row = next(line for line in lines if line.lstrip("│ ").startswith("5x5 direct"))
    assert re.search(r"5x5 direct\s*│\s*10\s*│\s*4\s*│\s*8\s*│", row)  # case, MFLOP, numpy, naive
    assert "3.5!" in out and "failed" in out
    assert "  failed naive | 3x3: boom [red]x[/red] (and 1 more)" in lines
    assert "How far to trust these numbers: 1 of 9 rows flagged [noisy]; untrusted cells end in '!'" in out
    order = ["How far to trust", "Wrote:", "  results/t.csv", "Network totals", "  tiny: 1.2 ms",
             "The 1x1 reduction, measured", "The answer:"]
    assert [out.index(text) for text in order] == sorted(out.index(text) for text in order)
    answer = lines.index(next(line for line in lines if line.startswith("The answer:")))
    header = ["branch", "backend", "FLOP saving", "roof-predicted saving", "time saving [95% CI]", "% realised",
              "trusted"]
    assert [cell.strip() for cell in lines[answer + 2].strip("┃").split("┃")] == header
    assert [[cell.strip() for cell in line.strip("│").split("│")] for line in lines[answer + 4:answer + 6]] == [
        ["3a 5x5", "naive", "10.0x", "10.0x", "3.6x [no interval]", "36%", "yes"],
        ["3a 5x5", "numpy", "10.0x", "10.0x", "3.6x [no interval]", "36%", "yes"]]
    assert lines[-1].startswith("└") and lines[answer + 6].startswith("└")  # the answer table closes the output


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


@pytest.mark.parametrize("value, text", [(5.83, "5.8"), (0.04, "0.04"), (0.0456, "0.046"), (1850.1, "1850"),
                                         (99.96, "100"), (math.nan, ""), (None, "")])
def test_ratios_read_at_every_size(value, text):
    """A lower interval end of 0.04 must not read "0.0"; one of 1850 needs no decimals."""
    from harness.render.fmt import fmt_ratio

    assert fmt_ratio(value) == text


def test_counts_carry_an_si_prefix():
    from harness.render.fmt import fmt_count

    assert fmt_count(1.467e9) == "1.47 G" and fmt_count(6640) == "6.64 k" and fmt_count(12.0, "B") == "12 B"


def test_a_shape_no_backend_can_run_does_not_give_an_unavailable_backend_a_column():
    """--axis k=5 on a 4x4 layer fails as 'invalid case' for every backend, numba-cuda on a machine without a GPU
    too: it kept a column of 'unavailable' and 'failed' cells."""
    invalid = "invalid case: kernel size k=5 is larger than the padded input (4x4)"
    table = fake_table([
        fake_row("numpy", "a", 1_000_000, 10.0),
        fake_row("gpu", "a", 1_000_000, None, status="unavailable", reason="no GPU"),
        fake_row("numpy", "b", 2_000_000, None, status="failed", reason=invalid),
        fake_row("gpu", "b", 2_000_000, None, status="failed", reason=invalid),
        fake_row("broken", "a", 1_000_000, None, status="failed", reason="first call: RuntimeError: boom"),
        fake_row("broken", "b", 2_000_000, None, status="failed", reason=invalid),
    ])
    assert not_run(table) == {"gpu": "unavailable: no GPU"}  # its one runnable case said why it did not run
    backends, _ = summary_grid(table)
    assert backends == ["numpy", "broken"]  # a kernel that failed on a runnable case keeps its column
