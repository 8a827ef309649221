"""Figures drawn from hand-made run tables: every kind, what is skipped, legends, layout (PNG and open figures)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from harness.reduction import reduction_of_run
from harness.render.axes import linear_top, log_limits
from harness.render.figure_kinds import KINDS, draw, draw_all, figure_of
from harness.render.figures import per_host, with_ci
from harness.render.plotting import BACKEND_COLORS, backend_colors, ok_rows, plain, pyplot, save_figure, title
from tests.fakes import FAKE_META, FAKE_PEAK, fake_roof, fake_row, fake_run_table, fake_table


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


def absurd_run():
    """fake_run_table with one bad point in every figure: numpy's 1x1 has a CI upper bound 1000x its median
    (``rel_ci`` 0.999); numpy's 5x5 direct layer and naive's 5x5 reduce had bimodal rounds (half of them 1000x
    slower), so the branch's bootstrap intervals run over three decades (up for numpy, down for naive). Naive's
    1x1 @2 is untrusted. Returns (table, samples, reduction)."""
    table = fake_run_table()
    table.loc[(table["backend"] == "numpy") & (table["case"] == "1x1"), "rel_ci"] = 0.999
    table.loc[(table["backend"] == "naive") & (table["case"] == "1x1 @2"), ["flags", "trusted"]] = ["noisy", False]
    rows = []
    for r in table[table["status"] == "ok"].itertuples():
        for i in range(20):
            slow = (r.backend, r.case) in (("numpy", "5x5 direct"), ("naive", "5x5 reduce")) and i % 2
            rows.append(dict(run_id="t", backend=r.backend, case=r.case, round=i,
                             time_s=r.time_s * (1000.0 if slow else 1.0 + 0.001 * i)))
    samples = pd.DataFrame(rows)
    return table, samples, reduction_of_run(table, samples, FAKE_PEAK)


def within_10x(limits, values, log: bool) -> bool:
    """An axis keeps within 10x of the data's range: log axes from min/10 to max*10, linear ones (from 0) up to
    10x the largest value."""
    lo, hi = sorted(limits)
    values = [v for v in values if v == v]
    if log:
        return min(values) / 10 <= lo and hi <= max(values) * 10
    return min(0.0, min(values)) - 1e-9 <= lo and hi <= 10 * max(values)


def test_every_figure_keeps_its_axes_within_10x_of_the_data_despite_an_absurd_interval():
    """The limits read back from each figure's Axes: one interval 1000x its median stretches no axis."""
    table, _, reduction = absurd_run()
    for r in reduction.itertuples():  # the bimodal rounds did make both intervals absurd
        assert r.time_saving_hi / r.time_saving_lo > 100
    ok = table[table["status"] == "ok"]
    figures = {kind: draw(kind, table, FAKE_META, None, reduction=reduction) for kind in KINDS}
    try:
        assert all(fig is not None for fig in figures.values())
        assert within_10x(figures["gflops"].axes[0].get_xlim(), ok["gflops"], log=True)
        base = ok[ok["backend"] == "numpy"].set_index("case")["time_s"]
        naive = ok[ok["backend"] == "naive"].set_index("case")["time_s"]
        speedups = (base / naive).dropna()
        assert within_10x(figures["speedup"].axes[0].get_xlim(), speedups, log=True)
        work = figures["time_vs_work"].axes[0]
        assert within_10x(work.get_xlim(), ok["flops"], log=True)
        assert within_10x(work.get_ylim(), ok["time_s"], log=True)
        threads = figures["threads"].axes[0]
        assert within_10x(threads.get_ylim(), [5 / 3, 10 / 6, 2.0], log=False)  # 1x1: 3->5 and 6->10 GFLOP/s
        assert within_10x(figures["reduction"].axes[0].get_ylim(), reduction["efficiency"], log=False)
        panel = figures["breakdown"].axes[0]
        assert within_10x(panel.get_ylim(), 100 / reduction["time_saving"], log=False)
        roof = figures["roofline"].axes[0]
        assert within_10x(roof.get_ylim(), ok["gflops"], log=True)
        # the absurd whiskers are cut at the edge and end in an arrow head there
        for fig, marker, axis in ((figures["gflops"], ">", 0), (figures["speedup"], ">", 0),
                                  (figures["reduction"], "^", 1), (figures["breakdown"], "^", 1)):
            ax = fig.axes[0]
            edge = (ax.get_xlim(), ax.get_ylim())[axis][1 if marker in ">^" else 0]
            arrows = [line for line in ax.get_lines() if line.get_marker() == marker and len(line.get_xdata())]
            assert arrows, (fig, marker)
            assert any(np.isclose((line.get_xdata(), line.get_ydata())[axis][0], edge) for line in arrows)
    finally:
        for fig in figures.values():
            pyplot().close(fig)


def test_untrusted_rows_are_hollow_or_hatched_in_every_figure():
    """gflops/speedup/threads/time_vs_work: a white-faced marker; reduction: a hollow dot; breakdown: hatched bars
    (numpy's 5x5 direct layer is made untrusted here) and a "(!)" on the backend's tick."""
    table, samples, _ = absurd_run()
    table.loc[(table["backend"] == "numpy") & (table["case"] == "5x5 direct"), ["flags", "trusted"]] = ["noisy", False]
    reduction = reduction_of_run(table, samples, FAKE_PEAK)
    for kind in ("gflops", "speedup", "time_vs_work", "threads", "reduction", "roofline"):
        fig = draw(kind, table, FAKE_META, None, reduction=reduction)
        drawn = [line for line in fig.axes[0].get_lines() if len(line.get_xdata())]
        assert any(line.get_markerfacecolor() in ("white", "w", (1.0, 1.0, 1.0, 1.0)) for line in drawn) or any(
            "white" in str(c.get_facecolor()) or np.allclose(c.get_facecolor()[:, :3], 1.0)
            for c in fig.axes[0].collections if len(c.get_facecolor())), kind
        pyplot().close(fig)
    fig = draw("breakdown", table, FAKE_META, None, reduction=reduction)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["naive", "numpy (!)"]
    hatched = [bar for bar in ax.patches if bar.get_hatch()]
    assert len(hatched) == 2 and all(abs(bar.get_x() + bar.get_width() / 2 - 1) < 1e-9 for bar in hatched)
    pyplot().close(fig)


def test_breakdown_is_normalised_to_the_direct_layer():
    """Each backend's stacked bar reaches 100% / time saving, its light part 100% x reduce / direct; the dashed
    ideal sits at 100% / FLOP saving; the 100% direct line is drawn where the axis reaches it."""
    table, samples, reduction = absurd_run()
    fig = draw("breakdown", table, FAKE_META, None, reduction=reduction)
    ax = fig.axes[0]
    by_backend = reduction.set_index("backend")
    bars = sorted(ax.patches, key=lambda b: (b.get_x(), b.get_y()))
    for i, backend in enumerate(["naive", "numpy"]):
        r = by_backend.loc[backend]
        reduce_bar, conv_bar = bars[2 * i], bars[2 * i + 1]
        assert reduce_bar.get_height() == pytest.approx(100 * r["time_reduce_s"] / r["time_direct_s"])
        assert conv_bar.get_y() + conv_bar.get_height() == pytest.approx(100 / r["time_saving"])
    ideal = [c for c in ax.collections if c.get_linestyle()[0][1]]  # the dashed hlines
    assert ideal and np.allclose(ideal[0].get_segments()[0][:, 1], 100 / by_backend["flop_saving"].iloc[0])
    direct_line = any(list(line.get_ydata()) == [100.0, 100.0] for line in ax.get_lines())
    assert ax.get_ylim()[1] < 100 and not direct_line  # pairs at 28% and 17%: the axis ends near them
    pyplot().close(fig)
    slow = table.copy()  # the pair's conv 4x slower: pairs at 70% and 40%, and the direct line in view
    slow.loc[slow["case"] == "5x5", "time_s"] *= 4
    fig = draw("breakdown", slow, FAKE_META, None, reduction=reduction_of_run(slow, None, FAKE_PEAK))
    ax = fig.axes[0]
    assert ax.get_ylim()[1] > 100 and any(list(line.get_ydata()) == [100.0, 100.0] for line in ax.get_lines())
    pyplot().close(fig)


@pytest.mark.parametrize("values, ends, limits", [
    ([10.0, 100.0], [], (8.0, 125.0)),
    ([10.0, 100.0], [1e-6, 1e6], (10 / 3 / 1.25, 300 * 1.25)),  # an absurd interval widens by at most 3x
    ([10.0, 100.0], [9.0, 150.0], (9 / 1.25, 150 * 1.25)),
    ([50.0], [], (50 / 1.5 ** 0.5 / 1.25, 50 * 1.5 ** 0.5 * 1.25)),
    ([math.nan, -1.0], [], None),
])
def test_log_limits_come_from_the_values(values, ends, limits):
    got = log_limits(values, ends)
    assert got == (pytest.approx(limits) if limits else None)


def test_linear_top_reaches_references_only_within_reach():
    assert linear_top([0.5], refs=[1.0]) == pytest.approx(1.08)
    assert linear_top([0.2], refs=[1.0]) == pytest.approx(0.2 * 1.08)  # 100% is 5x off: not stretched to
    assert linear_top([0.5], ends=[500.0]) == pytest.approx(1.5 * 1.08)
    assert linear_top([math.nan]) is None


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


def test_a_gpu_run_is_drawn_under_the_gpus_roofs():
    sizes = (("a", 1e9, 1e4), ("b", 4e9, 2e4), ("c", 9e9, 3e4))
    rows = [fake_row("numba-cuda", case, flops, gflops, device="cuda") for case, flops, gflops in sizes]
    table = fake_table(rows)
    assert draw("roofline", table, dict(FAKE_META, peak=dict(fake_roof(2))), None) is None  # no GPU roof measured
    peak = dict(fake_roof(2), gpu=dict(fma_gflops={"float32": 50_000.0}, copy_gbytes_per_s=3000.0))
    fig = draw("roofline", table, dict(FAKE_META, peak=peak), None)
    try:
        ax = fig.axes[0]
        labels = [line.get_label() for line in ax.get_lines()]
        assert any("GPU FMA roof 50000" in label for label in labels), labels
        assert not any("BLAS" in label for label in labels)  # the CPU's GEMM is no line on a GPU's roofline
        assert max(ax.get_lines()[0].get_ydata()) == 50_000.0
        assert "the GPU's roofs" in ax.get_title() and "threads" not in ax.get_title()
    finally:
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


def test_compare_figure_keeps_its_axis_near_the_ratios_despite_an_absurd_interval():
    """One matched row's interval runs to 1000x: the log axis stays within 10x of the ratios and the 20% band,
    and that whisker ends in an arrow at the edge."""
    from harness.render.compare_view import plot_compare

    result = pd.DataFrame([dict(backend="numpy", case="a", verdict="same", ratio=1.02, ratio_lo=0.98, ratio_hi=1.06),
                           dict(backend="numpy", case="b", verdict="inconclusive", ratio=1.3, ratio_lo=0.9,
                                ratio_hi=1300.0)])
    fig = plot_compare(result, None, "base", "new", threshold=0.2)
    ax = fig.axes[0]
    assert within_10x(ax.get_xlim(), [1.02, 1.3, 1 / 1.2, 1.2], log=True)
    arrows = [line for line in ax.get_lines() if line.get_marker() == ">" and len(line.get_xdata())]
    assert len(arrows) == 1 and np.isclose(arrows[0].get_xdata()[0], ax.get_xlim()[1])
    pyplot().close(fig)
