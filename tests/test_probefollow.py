"""The probe as a witness of the machine's speed, only as far as the kernels follow it (harness.probefollow).

The AMD EPYC VM's probe reads in two states (185-200 us or 290-330 us) while every kernel runs at one speed;
a run whose majority of readings fell in the slow state held back every slowdown as "the machine itself ran
slower", and points whose passes all read the slow state were flagged ``disturbed`` and held back too. Each test
fails on the rule before (the probe trusted in full); the Intel VM's case - kernels that follow the probe - stays
held back."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from harness.comparison import exit_code
from harness.probefollow import follow_share, machine_for, probe_flags_count, probe_follow

from .test_compare_rule import judged, write_passes_run

FAST, SLOW = 190e-6, 300e-6  # the two states of the AMD VM's probe
BASE_STATES = [FAST, SLOW, FAST, SLOW, FAST]  # median reading: fast
NEW_STATES = [SLOW, FAST, SLOW, FAST, SLOW]  # median reading: slow, 1.58x


def test_a_slowdown_is_slower_when_the_probe_moved_but_the_kernels_never_followed_it(tmp_path):
    write_passes_run(tmp_path, "base", [1.0] * 5, seed=1, probe_s=BASE_STATES, every_point=True)
    write_passes_run(tmp_path, "new", [1.0] * 5, backend_scale=1.3, seed=2, probe_s=NEW_STATES, every_point=True)
    result = judged(tmp_path, "base", "new")
    assert result.attrs["machine_ratio"] == pytest.approx(SLOW / FAST)
    assert result.attrs["probe_follow"]["a"] < 0.2 and result.attrs["probe_follow"]["b"] < 0.2
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


def test_disturbed_flags_of_a_backend_that_does_not_follow_the_probe_hold_nothing_back(tmp_path):
    # the recipe on the AMD VM: a run against its own copy with backend a 1.6x slower; a's first point read
    # the slow state in every pass (flagged `disturbed` on both sides), its kernels at their usual speed
    for run_id, scale in (("base", 1.0), ("new", 1.6)):
        write_passes_run(tmp_path, run_id, [1.0] * 5, backend_scale=scale, seed=1, probe_s=BASE_STATES,
                         every_point=True)
        path = tmp_path / f"{run_id}.csv"
        table = pd.read_csv(path)
        table["flags"] = np.where((table["backend"] == "a") & (table["case"] == table["case"].iloc[0]),
                                  "disturbed", "")
        table.to_csv(path, index=False)
    result = judged(tmp_path, "base", "new")
    assert result.attrs["probe_follow"]["a"] < 0.5
    assert (result.query("backend == 'a'")["verdict"] == "slower").all() and exit_code(result) == 1


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
    assert probe_flags_count(None) and probe_flags_count(0.5) and not probe_flags_count(0.3)


def paced_files(tmp_path, name, seeds, pace_factors, follow=0.0, **kwargs):
    """Generated suite files (tests.test_benchfiles.suite) whose every pace reading of file i is times
    ``pace_factors[i]`` and whose rounds are times ``pace_factors[i] ** follow``; their names, comma-separated."""
    from .test_benchfiles import suite

    paths = []
    for i, (seed, factor) in enumerate(zip(seeds, pace_factors), 1):
        doc = suite(seed, **kwargs)
        for bench in doc["benchmarks"]:
            info, stats = bench["extra_info"], bench["stats"]
            info["paces_s"] = [p * factor for p in info["paces_s"]]
            stats["data"] = [t * factor ** follow for t in stats["data"]]
            stats["median"] = float(np.median(stats["data"]))
        path = tmp_path / f"{name}-{i}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    return ",".join(paths)


def test_files_whose_pace_moved_while_their_times_did_not_judge_a_slowdown_as_one(tmp_path):
    # three files a side on the AMD VM: each file's pace read 1.5-1.6x slower or not, the kernels at one speed; NEW's
    # median file read slow, and every numba-cpu benchmark 1.3x slower was held back as the machine's
    slow = dict(slow=lambda backend, layer: 1.3 if backend == "numba-cpu" else 1.0)
    base = paced_files(tmp_path, "base", [1, 2, 3], [1.0, 1.6, 1.0])
    new = paced_files(tmp_path, "new", [4, 5, 6], [1.6, 1.0, 1.6], **slow)
    result = compared_files(base, new)
    assert result.attrs["probe_follow"]["numba-cpu"] < 0.5
    assert set(result.loc[result["backend"] == "numba-cpu", "verdict"]) == {"slower"} and exit_code(result) == 1
    assert not ((result["verdict"] == "slower") & (result["backend"] != "numba-cpu")).any()


def test_files_whose_times_followed_their_pace_keep_the_machines_move_held_back(tmp_path):
    base = paced_files(tmp_path, "base", [1, 2, 3], [1.0, 1.6, 1.0], follow=1.0)
    new = paced_files(tmp_path, "new", [4, 5, 6], [1.6, 1.0, 1.6], follow=1.0)
    result = compared_files(base, new)
    assert result.attrs["probe_follow"]["numba-cpu"] == pytest.approx(1.0)
    assert exit_code(result) != 1


def compared_files(base, new):
    from harness.comparison import compare_runs, resolve_run

    return compare_runs(resolve_run(base, "unused"), resolve_run(new, "unused"))


def test_damaged_passes_testify_to_nothing():
    from harness.passgroups import PASSES_ATTR, PROBES_ATTR

    rounds = [[1e-4] * 5, [1e-4, math.nan, 1e-4], [1e-4, math.inf, 1e-4], [1e-4, -1.0, 1e-4]]
    attrs = {PASSES_ATTR: {("a", str(i)): [r, r] for i, r in enumerate(rounds)},
             PROBES_ATTR: {("a", str(i)): [FAST, SLOW] for i in range(len(rounds))}}
    from harness.probefollow import point_deviations

    assert [len(g) for g in point_deviations(attrs)["a"]] == [2]  # only the point with readable rounds
    assert probe_follow(attrs, attrs) == {"a": 1.0}  # too few passes to tell: the probe in full
    bad_probe = {PASSES_ATTR: attrs[PASSES_ATTR], PROBES_ATTR: {k: [math.nan, -1.0] for k in attrs[PROBES_ATTR]}}
    assert probe_follow(bad_probe, bad_probe) == {}
