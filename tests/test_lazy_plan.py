"""A huge sweep starts measuring at once: its plan is walked as the sweep goes, never built up front.

A fake executor notes how many point keys the plan had made when each pass started; a
sweep of ``N_CASES`` cases must have made one (its own) when the first pass starts, not
``N_CASES``. Passes still interleave (every point's pass 0, then every point's pass 1),
resumed runs still skip their finished points and pool their kept passes, and the
progress total of a new run is counted without making a point.
"""
from __future__ import annotations

import pytest

import harness.plan as plan
from harness.cases import build_cases
from harness.layers import Layer
from harness.presets import Preset, get_preset
from harness.results import MemoryWriter
from harness.rows import PointResult, failed_point
from harness.sweeploop import run_sweep
from harness.timing import TimingConfig

N_CASES = 300
CONFIG = TimingConfig(budget_s=0.01, warmup_s=0.0)
CASES = build_cases(Preset("many", "many small layers",
                           tuple(Layer(f"L{i}", C=1 + i % 3, H=4, W=4, F=2, k=1) for i in range(N_CASES))))


@pytest.fixture
def keys_made(monkeypatch) -> list[int]:
    """A one-item list: how many point keys the plan has made so far."""
    made = [0]
    real = plan.point_key

    def counting(backend, case):
        made[0] += 1
        return real(backend, case)

    monkeypatch.setattr(plan, "point_key", counting)
    return made


def ok_pass(job, median_s: float = 1e-6) -> PointResult:
    """A steady ok pass of ``job``'s point: five rounds within 0.1% of ``median_s``."""
    row = dict(failed_point("r", job.backend, "cpu", job.case, "").row, status="ok", reason="", flops=1000,
               bytes=100, calls_per_round=1, warmup_s=0.0, steady=True)
    return PointResult(row, tuple(median_s * (1 + 0.001 * (i - 2) / 5) for i in range(5)))


class NotingExecutor:
    """Runs no kernel: answers each pass with ``answer(job)`` and notes (keys made, case, backend) as it starts."""

    wants_data = False

    def __init__(self, keys_made: list[int], answer=ok_pass):
        self.keys_made, self.answer, self.started, self.renewals = keys_made, answer, [], []

    def renew(self, backends=None):
        """Note where a new round of passes began (after how many passes) and for which backends."""
        self.renewals.append((len(self.started), sorted(backends)))

    def map(self, items, on_start=None):
        """Yield ``(tag, result)`` for each item, one after the other."""
        for tag, job, _ in items:
            self.started.append((self.keys_made[0], job.case.name, job.backend))
            yield tag, self.answer(job)


def test_the_first_pass_starts_before_the_rest_of_the_plan_is_made(keys_made):
    executor = NotingExecutor(keys_made)
    writer = MemoryWriter()
    stats = run_sweep(CASES, ["numpy", "naive"], CONFIG, writer, run_id="r", repeats=1, executor=executor)
    assert executor.started[0] == (1, "L0", "numpy")  # its own key only; the plan made N_CASES x 2 before
    assert max(made - n for n, (made, _, _) in enumerate(executor.started)) == 1  # one key per point, as it goes
    assert stats.by_status == {"ok": 2 * N_CASES} and [r["point"] for r in writer.rows] == list(range(2 * N_CASES))


def test_passes_still_interleave_pass_by_pass_in_sweep_order(keys_made):
    executor = NotingExecutor(keys_made)
    writer = MemoryWriter()
    run_sweep(CASES, ["numpy"], CONFIG, writer, run_id="r", repeats=2, executor=executor, fresh_workers=True)
    names = [name for _, name, _ in executor.started]
    assert names == [c.name for c in CASES] * 2
    assert executor.started[0][0] == 1 and executor.started[N_CASES][0] == N_CASES + 1  # pass 1 walks the plan anew
    assert all(row["passes"] == 2 for row in writer.rows) and len(writer.rows) == N_CASES
    assert executor.renewals == [(N_CASES, ["numpy"])]  # fresh processes once, between the two rounds of passes


def test_a_resumed_sweep_skips_done_points_and_pools_kept_passes(keys_made):
    points = plan.plan_points(CASES, ["numpy"])
    done = {p.key for p in points[:100]}
    kept_one = {p.key: [ok_pass(_Job(p))] for p in points[100:150]}  # one of two passes kept: one to measure
    kept_all = {p.key: [ok_pass(_Job(p))] * 2 for p in points[150:160]}  # decided already: nothing to measure
    executor = NotingExecutor(keys_made)
    writer, steps = MemoryWriter(), []
    stats = run_sweep(CASES, ["numpy"], CONFIG, writer, run_id="r", repeats=2, executor=executor,
                      done=done, kept={**kept_one, **kept_all}, on_step=steps.append)
    measured = [name for _, name, _ in executor.started]
    assert measured == [c.name for c in CASES[160:]] + [c.name for c in CASES[100:150] + CASES[160:]]
    assert stats.already_done == 100 and stats.by_status == {"ok": N_CASES - 100}
    assert sum(steps) == plan.planned_passes(CASES, ["numpy"], 2, done, {**kept_one, **kept_all}) == 2 * 140 + 50
    assert sorted(r["point"] for r in writer.rows) == list(range(100, N_CASES))


def test_a_point_whose_case_cannot_be_built_is_still_a_final_row_at_once(keys_made):
    bad = build_cases(Preset("bad", "", (Layer("big k", C=1, H=2, W=2, F=1, k=5), Layer("fine", C=1, H=4, W=4, F=1,
                                                                                         k=1))))
    executor = NotingExecutor(keys_made)
    writer = MemoryWriter()
    run_sweep(bad, ["numpy", "naive"], CONFIG, writer, run_id="r", repeats=2, executor=executor)
    assert [name for _, name, _ in executor.started] == ["fine", "fine", "fine", "fine"]
    assert [(r["case"], r["status"]) for r in writer.rows][:2] == [("big k", "failed")] * 2


def test_the_total_of_a_new_run_is_counted_without_making_a_point(keys_made):
    assert plan.count_points(CASES, ["numpy", "naive"]) == 2 * N_CASES
    assert plan.planned_passes(CASES, ["numpy", "naive"], 3, set(), {}) == 6 * N_CASES
    assert keys_made[0] == 0
    smoke = build_cases(get_preset("smoke"))  # reduction branches: the fused chain backend adds a point each
    with_chain = ["numpy", "numba-cpu-fused"]
    chains = sum(case.layer.role == "conv" for case in smoke)
    assert plan.count_points(smoke, with_chain) == len(plan.plan_points(smoke, with_chain)) == len(smoke) + chains
    assert chains == 4


class _Job:
    """What :func:`ok_pass` reads of a job, for a point of the plan."""

    def __init__(self, point):
        self.backend, self.case = point.backend, point.case


def test_a_big_layer_file_is_announced_before_it_is_read(tmp_path, monkeypatch, capsys):
    from harness.commands import sweep

    path = tmp_path / "big.csv"
    path.write_text("label,C,H,W,F,k\n" + "".join(f"L{i},1,4,4,1,1\n" for i in range(100)))
    monkeypatch.setattr(sweep, "BIG_LAYER_FILE_BYTES", path.stat().st_size)
    sweep.say_reading(str(path), quiet=False)
    sweep.say_reading(str(path), quiet=True)
    assert capsys.readouterr().err == f"harness: reading the layers of {path} (0 MB)\n"
    monkeypatch.setattr(sweep, "BIG_LAYER_FILE_BYTES", path.stat().st_size + 1)
    sweep.say_reading(str(path), quiet=False)
    sweep.say_reading(None, quiet=False)
    assert capsys.readouterr().err == ""
