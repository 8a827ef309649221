"""Figures drawn from hand-made run tables: every kind, what is skipped, legends, layout (PNG and open figures)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib.image
import pandas as pd
import pytest

from harness.reduction import reduction_of_run
from harness.render.figures import KINDS, draw, draw_all, figure_of, per_host, with_ci
from harness.render.plotting import BACKEND_COLORS, backend_colors, ok_rows, plain, pyplot, save_figure, title
from tests.fakes import FAKE_META, FAKE_PEAK, fake_row, fake_run_table, fake_table


def test_plotting_helpers():
    """Colours fixed by the registry (a plugin after it), "$" kept literal, titles name preset and machine."""
    colors = backend_colors(["numpy", "zz-plugin"])
    assert colors["naive"] == BACKEND_COLORS[0] and colors["numpy"] == BACKEND_COLORS[1]
    assert backend_colors(["numpy"])["numpy"] == colors["numpy"] and "zz-plugin" in colors
    assert plain("1$x$") == r"1\$x\$"
    assert title("Throughput", FAKE_META) == "Throughput\npreset tiny \\$x\\$ on Test CPU (h1)"
    assert list(ok_rows(fake_run_table())["status"].unique()) == ["ok"]
    assert with_ci(10.0, 0.25) == (10.0, 8.0, pytest.approx(10 / 0.75))
    assert with_ci(10.0, math.nan) == (10.0, 10.0, 10.0) and with_ci(10.0, None) == (10.0, 10.0, 10.0)


def test_every_figure_kind_is_drawn_and_not_blank(tmp_path):
    """One run table with a branch, a failed row, an untrusted row and two thread counts draws all kinds."""
    table = fake_run_table()
    reduction = reduction_of_run(table, None, FAKE_PEAK)
    assert len(reduction) == 2 and "ideal_s" in reduction
    paths = draw_all(table, FAKE_META, tmp_path / "plots", reduction=reduction)
    assert [p.name for p in paths] == [f"{kind}.png" for kind in KINDS]
    for path in paths:
        image = matplotlib.image.imread(path)
        assert min(image.shape[:2]) > 300, path.name
        assert image[..., :3].std() > 0.05, f"{path.name} is blank"


def test_a_one_panel_breakdown_keeps_title_legend_and_ticks_inside_the_figure():
    """One reduction pair (the smoke preset's case): nothing is cut off, and the legend covers no tick label."""
    reduction = reduction_of_run(fake_run_table(), None, FAKE_PEAK)
    fig = draw("breakdown", fake_run_table(), FAKE_META, None, reduction=reduction)  # no path: the open figure
    fig.canvas.draw()
    renderer, box = fig.canvas.get_renderer(), fig.bbox
    legend = fig.legends[0].get_window_extent(renderer)
    for part in (fig._suptitle.get_window_extent(renderer), legend):
        assert box.x0 <= part.x0 and part.x1 <= box.x1 and box.y0 <= part.y0 and part.y1 <= box.y1
    for label in fig.axes[0].get_xticklabels():
        assert not label.get_window_extent(renderer).overlaps(legend), label.get_text()
    pyplot().close(fig)


def test_figures_that_do_not_apply_are_skipped():
    """No timed rows, no baseline, < 3 sizes, one thread count, no peak, no reduction: None, nothing drawn."""
    failed = fake_table([fake_row("numpy", "a", 1_000, None, status="failed")])
    assert all(draw(kind, failed, FAKE_META, None) is None for kind in KINDS)
    two = fake_table([fake_row("naive", "a", 1_000, 1.0), fake_row("naive", "b", 2_000, 1.0)])
    assert draw("speedup", two, FAKE_META, None) is None  # no numpy rows
    assert draw("time_vs_work", two, FAKE_META, None) is None
    assert draw("threads", two, FAKE_META, None) is None
    assert draw("roofline", two, {"preset": "p"}, None) is None
    assert draw("reduction", two, FAKE_META, None, reduction=pd.DataFrame()) is None
    assert draw("breakdown", two, FAKE_META, None, reduction=None) is None
    with pytest.raises(ValueError, match="unknown figure 'pie'"):
        draw("pie", two, FAKE_META, None)


def test_open_figure_labels_backends_cases_and_untrusted_points():
    """figure_of returns the open figure: one legend entry per backend (trusted or not) plus the hollow-marker
    key, cases as rows with "$" literal, and the preset in the title."""
    table = fake_table([fake_row("numpy", "a$1", 1_000_000, 2.0), fake_row("naive", "a$1", 1_000_000, 3.0, trusted=False),
                    fake_row("numpy", "b", 2_000_000, 4.0, trusted=False),
                    fake_row("naive", "b", 2_000_000, None, status="failed")])
    view = SimpleNamespace(meta={"preset": "p", "settings": {"baseline": "numpy"}}, table=table, reduction=None)
    fig = figure_of("gflops", view)
    try:
        ax = fig.axes[0]
        # numpy has trusted and untrusted points, naive only untrusted ones: each backend named once
        assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
            "hollow: untrusted (see flags)", "naive", "numpy"]
        assert [t.get_text() for t in ax.get_yticklabels()] == [r"a\$1", "b"]
        assert "preset p" in ax.get_title() and ax.get_xscale() == "log"
        assert save_figure(fig, None) is fig  # no path: laid out and handed back open
    finally:
        pyplot().close(fig)


def test_runs_across_hosts_draw_one_series_per_host():
    table = fake_table([fake_row("numpy", "a", 1_000, 1.0, host="n1"), fake_row("numpy", "a", 1_000, 1.0, host="n2")])
    assert list(per_host(table)["backend"]) == ["numpy@n1", "numpy@n2"]
    one = table.assign(host="n1")
    assert list(per_host(one)["backend"]) == ["numpy", "numpy"]
