"""The probe as a witness of the machine's speed, only as far as the kernels follow it (harness.probefollow).

The AMD EPYC VM's probe reads in two states (185-200 us or 290-330 us) while every kernel runs at one speed;
a run whose majority of readings fell in the slow state held back every slowdown as "the machine itself ran
slower". Each test of a verdict fails on the rule before (the probe trusted in full); the Intel VM's case - kernels
that follow the machine - stays held back, also where the reading around a pass is too noisy to show it."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.comparison import exit_code
from harness.probefollow import follow_share, machine_for, point_readings, probe_follow

from .test_compare_rule import judged, write_passes_run

FAST, SLOW = 190e-6, 300e-6  # the two states of the AMD VM's probe
BASE_STATES = [FAST, SLOW, FAST, SLOW, FAST]  # median reading: fast
NEW_STATES = [SLOW, FAST, SLOW, FAST, SLOW]  # median reading: slow, 1.58x


def test_a_slowdown_is_slower_when_the_probe_moved_but_the_kernels_never_followed_it(tmp_path):
    write_passes_run(tmp_path, "base", [1.0] * 5, seed=1, probe_s=BASE_STATES, every_point=True)
    write_passes_run(tmp_path, "new", [1.0] * 5, backend_scale=1.3, seed=2, probe_s=NEW_STATES, every_point=True)
    result = judged(tmp_path, "base", "new")
    assert result.attrs["machine_ratio"] == pytest.approx(SLOW / FAST)
    assert result.attrs["probe_follow"]["a"] < 0.2  # and b, the backend that did not move, confirms it
    rows = result.query("backend == 'a'")
    assert (rows["verdict"] == "slower").all(), rows["note"].tolist()
    assert exit_code(result) == 1 and not (result.query("backend == 'b'")["verdict"] == "slower").any()
    # and unchanged code on those runs raises no alarm
    write_passes_run(tmp_path, "same", [1.0] * 5, seed=3, probe_s=NEW_STATES, every_point=True)
    assert exit_code(judged(tmp_path, "base", "same")) != 1


def test_kernels_that_follow_the_probe_keep_the_machines_move_held_back(tmp_path):
    # the Intel VM's case: a pass read in the slow state ran its kernels slower by as much; NEW, read mostly in that
    # state, is slower as a whole - the machine's, not the code's
    follow = [s / FAST for s in BASE_STATES]
    write_passes_run(tmp_path, "base", follow, seed=1, probe_s=BASE_STATES, every_point=True)
    write_passes_run(tmp_path, "new", [s / FAST for s in NEW_STATES], seed=2, probe_s=NEW_STATES, every_point=True)
    result = judged(tmp_path, "base", "new")
    assert result.attrs["probe_follow"]["a"] == pytest.approx(1.0)
    rows = result.query("backend == 'a'")
    assert not (rows["verdict"] == "slower").any() and exit_code(result) != 1


def test_disturbed_flags_still_hold_back_where_the_kernels_do_not_follow_the_probe(tmp_path):
    # a reading around a pass measures the pass's state with noise: a low within-run slope cannot tell kernels that
    # do not follow the probe from a noisy probe, so a point flagged `disturbed` on both sides stays held back
    for run_id, scale in (("base", 1.0), ("new", 1.6)):
        write_passes_run(tmp_path, run_id, [1.0] * 5, backend_scale=scale, seed=1, probe_s=BASE_STATES,
                         every_point=True)
        path = tmp_path / f"{run_id}.csv"
        table = pd.read_csv(path)
        first = (table["backend"] == "a") & (table["case"] == table["case"].iloc[0])
        table["flags"] = np.where(first, "disturbed", "")
        table.to_csv(path, index=False)
    result = judged(tmp_path, "base", "new")
    rows = result.query("backend == 'a'")
    assert (rows["verdict"] == "inconclusive").sum() == 1 and (rows["verdict"] == "slower").sum() == len(rows) - 1


def scaled_run(folder, run_id, factor):
    """Every time of run ``run_id`` in ``folder`` (table, samples, passes) multiplied by ``factor``: the machine
    slower for the whole run, every kernel with it."""
    import json as json_

    for suffix, columns in ((".csv", ["time_s", "time_min_s"]), (".samples.csv", ["time_s"])):
        path = folder / f"{run_id}{suffix}"
        table = pd.read_csv(path)
        table[columns] = table[columns] * factor
        table.to_csv(path, index=False)
    path = folder / f"{run_id}.passes.jsonl"
    records = [json_.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record["samples_s"] = [t * factor for t in record["samples_s"]]
    path.write_text("".join(json_.dumps(r) + "\n" for r in records))


def test_a_machine_that_moved_with_its_kernels_is_held_back_even_where_the_readings_are_too_noisy_to_show_it(tmp_path):
    # NEW ran in a slower phase: the probe 1.25x, every kernel of both backends 1.25x; within the runs the readings
    # around the passes vary without the passes following them (a noisy witness): the share alone would let the
    # phase through as a 1.25x slowdown, the other backend's move with the machine keeps it back
    write_passes_run(tmp_path, "base", [1.0] * 5, seed=1, probe_s=BASE_STATES, every_point=True)
    write_passes_run(tmp_path, "new", [1.0] * 5, seed=2, probe_s=[1.25 * FAST, 1.25 * SLOW, 1.25 * FAST,
                                                                   1.25 * SLOW, 1.25 * FAST], every_point=True)
    scaled_run(tmp_path, "new", 1.25)
    result = judged(tmp_path, "base", "new")
    assert result.attrs["machine_ratio"] == pytest.approx(1.25)
    assert result.attrs["probe_follow"] == {"a": 1.0, "b": 1.0}  # the other backend moved with the machine
    assert not (result["verdict"] == "slower").any() and exit_code(result) != 1


def test_one_freak_reading_does_not_decide_the_share_and_a_copy_counts_once():
    rng = np.random.default_rng(3)
    from harness.passgroups import PASSES_ATTR, PROBES_ATTR

    passes, probes = {}, {}
    for i in range(6):  # a probe steady within 1%, the kernels following it in full
        states = np.exp(rng.normal(0, 0.01, 5))
        passes[("a", str(i))] = [[1e-4 * s] * 5 for s in states]
        probes[("a", str(i))] = list(2e-4 * states)
    attrs = {PASSES_ATTR: passes, PROBES_ATTR: probes}
    assert probe_follow(attrs, {}) == {"a": 1.0}
    freak_probes = dict(probes)
    freak_probes[("a", "0")] = [probes[("a", "0")][0] * 2.0] + probes[("a", "0")][1:]
    freak = {PASSES_ATTR: passes, PROBES_ATTR: freak_probes}
    assert probe_follow(freak, {}) == {"a": 1.0}  # one reading moved: it cannot decide the share
    assert probe_follow(attrs, attrs) == probe_follow(attrs, {})  # a run against its own copy: its passes once


def test_the_share_is_the_slopes_upper_bound_and_one_where_the_passes_cannot_tell():
    rng = np.random.default_rng(0)

    def groups(slope, n_points=8, passes=5, probe_sd=0.2, noise=0.02):
        out = []
        for _ in range(n_points):
            x = rng.normal(0, probe_sd, passes)
            y = slope * x + rng.normal(0, noise, passes)
            out.append(list(zip(x - x.mean(), y - y.mean())))
        return out

    assert follow_share(groups(0.0)) < 0.1
    assert 0.4 < follow_share(groups(0.5)) < 0.7
    assert follow_share(groups(1.0)) == 1.0
    assert follow_share(groups(0.0, n_points=2, passes=3)) == 1.0  # too few passes to tell
    assert follow_share(groups(0.0, probe_sd=0.001)) == 1.0  # a steady probe: nothing to learn from
    assert follow_share(groups(0.0, noise=0.5)) > 0.3  # noisy passes: only as far as they show
    assert follow_share([]) == 1.0


def test_runs_without_probe_readings_follow_in_full():
    assert probe_follow({}, {}) == {}
    assert machine_for(1.4, None) == 1.4 and machine_for(1.4, 0.0) == 1.0
    assert machine_for(1.21, 0.5) == pytest.approx(1.1) and math.isnan(machine_for(math.nan, 0.5))


def test_damaged_passes_testify_to_nothing():
    from harness.passgroups import PASSES_ATTR, PROBES_ATTR

    rounds = [[1e-4] * 5, [1e-4, math.nan, 1e-4], [1e-4, math.inf, 1e-4], [1e-4, -1.0, 1e-4]]
    attrs = {PASSES_ATTR: {("a", str(i)): [r, r] for i, r in enumerate(rounds)},
             PROBES_ATTR: {("a", str(i)): [FAST, SLOW] for i in range(len(rounds))}}
    assert [len(g) for g in point_readings(attrs)["a"].values()] == [2]  # only the point with readable rounds
    assert probe_follow(attrs, attrs) == {"a": 1.0}  # too few passes to tell: the probe in full
    bad_probe = {PASSES_ATTR: attrs[PASSES_ATTR], PROBES_ATTR: {k: [math.nan, -1.0] for k in attrs[PROBES_ATTR]}}
    assert probe_follow(bad_probe, bad_probe) == {}
