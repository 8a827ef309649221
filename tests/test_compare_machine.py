"""Two things a point's own numbers cannot show: how its speed varies from pass to pass, and whether the machine
itself changed speed between the runs (its probe) - each judged on synthetic runs that the rule before got wrong."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.benchjson import load_benchmark_json
from harness.comparison import exit_code
from harness.runwarnings import MIN_SLOW_ROUNDS, slow_files

from .test_benchpace import compared, slowed, with_paces, written
from .test_compare_rule import judged, write_passes_run


def test_a_kernel_with_two_speeds_from_pass_to_pass_is_judged_by_its_own_passes_spread(tmp_path):
    # Intel VM, two unchanged smoke runs: numpy's 3 us 5x5 reduce ran at 1.6 us in some passes and
    # 3.1 us in others; BASE drew none of the fast speed in 3 passes, NEW 3 of 5. The median passes differ
    # 1.75x, the fastest pass followed and NEW's median lies beyond every pass of BASE, the backend's other
    # points agree run to run: the old rule said `faster`, exit 1.
    write_passes_run(tmp_path, "base", [1.0, 1.0, 1.0], seed=1)
    write_passes_run(tmp_path, "new", [0.9, 0.88, 0.56, 0.5, 0.56], seed=2)
    result = judged(tmp_path, "base", "new")
    row = result.query("backend == 'a' and case == 'layer 0'").iloc[0]
    assert row["ratio"] < 0.6 and row["verdict"] == "inconclusive" and "its passes' spread" in row["note"]
    assert exit_code(result) == 3
    # the same point faster in every pass of NEW is still `faster`: agreeing passes add no width
    write_passes_run(tmp_path, "fast", [0.56, 0.5, 0.56, 0.52, 0.55], seed=3)
    row = judged(tmp_path, "base", "fast").query("backend == 'a' and case == 'layer 0'").iloc[0]
    assert row["verdict"] == "faster", row["note"]


def test_the_passes_half_width_is_unknown_with_too_few_passes_and_grows_with_their_spread():
    from harness.compare_rule import passes_half

    assert passes_half([1.0], [2.0, 2.1], 0.01) == 0.0  # 3 passes together: unknown
    assert passes_half(None, [1.0, 2.0, 3.0, 4.0], 0.01) == 0.0
    assert passes_half([1.0, 1.0], [1.0, 1.0], 0.01) == 0.0  # agreeing passes add nothing
    narrow, wide = passes_half([1.0] * 3, [1.0, 1.05, 0.95], 0.01), passes_half([1.0] * 3, [1.0, 2.0, 0.5], 0.01)
    assert 0 < narrow < wide
    assert passes_half([1.0] * 3, [1.0, 2.0, 0.5], 0.05) < wide  # a looser alpha, a narrower interval



def test_a_machine_that_ran_faster_during_new_does_not_make_unchanged_code_faster(tmp_path):
    # Intel VM, two sets of four unchanged smoke runs the same day: one run of each set ran its probe 0.87x and
    # 0.89x the others' and numba-cpu's points 1.2-2x faster as a whole - the backend's move said `faster`, exit 1
    write_passes_run(tmp_path, "base", [1.0, 1.0, 1.0], seed=1, probe_s=500e-6)
    write_passes_run(tmp_path, "phase", [1.0, 1.0, 1.0], backend_scale=0.7, seed=2, probe_s=435e-6)
    result = judged(tmp_path, "base", "phase")
    rows = result.query("backend == 'a'")
    assert (rows["ratio"] < 0.75).all() and (rows["verdict"] == "inconclusive").all()
    assert rows["note"].str.contains("the machine itself ran faster during NEW").all()
    assert exit_code(result) == 3 and result.attrs["machine_ratio"] == pytest.approx(0.87)
    # the same runs with probes that agree: the backend really is faster
    write_passes_run(tmp_path, "steady", [1.0, 1.0, 1.0], backend_scale=0.7, seed=2, probe_s=490e-6)
    assert (judged(tmp_path, "base", "steady").query("backend == 'a'")["verdict"] == "faster").all()


def test_a_slowdown_measured_on_a_faster_machine_is_still_one(tmp_path):
    write_passes_run(tmp_path, "base", [1.0, 1.0, 1.0], seed=1, probe_s=500e-6)
    write_passes_run(tmp_path, "slow", [1.0, 1.0, 1.0], backend_scale=1.5, seed=2, probe_s=430e-6)
    result = judged(tmp_path, "base", "slow")
    assert (result.query("backend == 'a'")["verdict"] == "slower").all() and exit_code(result) == 1
    # on a machine that ran slower during NEW, that slower is no longer the code's alone
    write_passes_run(tmp_path, "slow-machine", [1.0, 1.0, 1.0], backend_scale=1.5, seed=2, probe_s=580e-6)
    rows = judged(tmp_path, "base", "slow-machine").query("backend == 'a'")
    assert (rows["verdict"] == "inconclusive").all() and rows["note"].str.contains("ran slower during NEW").all()


def test_runs_without_probe_readings_are_judged_as_before(tmp_path):
    write_passes_run(tmp_path, "base", [1.0, 1.0, 1.0], seed=1)
    write_passes_run(tmp_path, "fast", [1.0, 1.0, 1.0], backend_scale=0.7, seed=2)
    result = judged(tmp_path, "base", "fast")
    assert (result.query("backend == 'a'")["verdict"] == "faster").all() and result.attrs["machine_ratio"] is None


def test_a_run_started_on_busy_cores_with_kernels_on_two_threads_is_named_with_advice(tmp_path):
    from harness.runwarnings import busy_runs

    from .test_compare_rule import write_run

    quiet = {"host": "h", "cpu_model": "cpu", "versions": {}, "run_id": "base", "load_before": 0.4, "cpu_count": 2}
    busy = dict(quiet, run_id="new", load_before=2.3)
    write_run(tmp_path, "base", seed=1, meta=quiet)
    write_run(tmp_path, "new", seed=2, meta=busy)
    warnings = judged(tmp_path, "base", "new").attrs["warnings"]
    named = [w for w in warnings if "load average" in w]
    assert len(named) == 1 and named[0].startswith("NEW was started with the load average at 2.30 on 2 cores")
    assert "--threads 1" in named[0]
    one_thread = pd.DataFrame({"threads": [1, 1]})
    assert busy_runs(quiet, busy, one_thread, one_thread) == []  # --threads 1: the advice is taken
    assert [w[:20] for w in busy_runs(busy, busy, None, None)] == ["the run was started "]  # both builds of an A/B run
    write_run(tmp_path, "same", seed=2, meta=dict(busy, run_id="same"))
    assert not judged(tmp_path, "same", "same").attrs["warnings"]  # a run against itself measured nothing
    assert busy_runs({}, {"load_before": "?"}) == []  # pytest-benchmark files, odd metadata: nothing said


def test_a_run_whose_points_met_busy_processes_on_two_threads_is_named_though_started_quiet():
    from harness.runwarnings import busy_runs

    quiet = {"run_id": "base", "load_before": 0.4, "cpu_count": 2}
    late = dict(quiet, run_id="new")  # a busy process started after the sweep: the load before says nothing
    table = pd.DataFrame({"status": ["ok"] * 4 + ["failed"], "threads": [2] * 5,
                          "others_share": [0.4, 0.3, 0.25, 0.1, 0.9]})
    calm = table.assign(others_share=[0.4, 0.1, 0.1, 0.1, 0.9])  # one of four: a moment, not the run
    named = busy_runs(quiet, late, calm, table)
    assert len(named) == 1 and named[0].startswith("NEW timed 3 of its 4 points on more than one thread beside other "
                                                   "busy processes (they held 25% or more of its cores)")
    assert named[0].endswith("sweep both builds with --threads 1 (best: one A/B run, sweep --against)")
    assert busy_runs(quiet, late, calm, calm) == []
    assert busy_runs(quiet, late, table, table.assign(threads=1))[0].startswith("BASE timed 3 of its 4")
    # measured shares outrank the load average, which lags a busy process that just ended (quiet runs were warned)
    assert busy_runs(dict(quiet, load_before=2.5), late, calm, calm) == []
    unknown = table.assign(others_share=float("nan"))  # a run from before the column: the load average decides
    assert busy_runs(dict(quiet, load_before=2.5), late, unknown, calm)[0].startswith("BASE was started with the load")
    # unknown shares count for neither side of the half: 3 of 3 known points contended
    half_known = table.assign(others_share=[0.4, 0.3, 0.25, float("nan"), 0.9])
    assert busy_runs(quiet, late, calm, pd.concat([half_known, unknown]))[0].startswith("NEW timed 3 of its 3 points")
    # both builds of one A/B run: one run, every point of it counted, and no advice to make it an A/B run
    ab = busy_runs(late, late, table, table)
    assert len(ab) == 1 and ab[0].startswith("the run timed 6 of its 8 points") and "best: one A/B run" not in ab[0]
    assert busy_runs(quiet, late, None, table.drop(columns="others_share")) == []  # a run from before the column


def test_benchmark_files_run_in_the_machines_slow_state_are_named(tmp_path):
    # AMD EPYC VM, 50 pairs of unchanged files: 95% of medians within +/-10% where both files ran at most a tenth
    # of their rounds in the slow state, 81% otherwise - and compare said nothing of which kind a pair was
    def slow_state(doc):  # every third round of every benchmark read its pace 1.5x slower (its times 2% slower)
        with_paces(doc, seed=1)
        slowed(doc, 1.02, [bench["name"] for bench in doc["benchmarks"]])
        for bench in doc["benchmarks"]:
            paces = bench["extra_info"]["paces_s"]
            bench["extra_info"]["paces_s"] = [p * (1.5 if i % 3 == 0 else 1.0) for i, p in enumerate(paces)]

    quiet, slow = written(tmp_path, "quiet.json", with_paces), written(tmp_path, "slow.json", slow_state)
    named = [w for w in compared(quiet, slow).attrs["warnings"] if "slow state" in w]
    assert len(named) == 1 and named[0].startswith("NEW ran 33% of its benchmark rounds while the machine's pace")
    assert "BASE ran 33%" in " ".join(compared(slow, quiet).attrs["warnings"])
    quiet2 = written(tmp_path, "quiet2.json", lambda doc: with_paces(doc, seed=2), lambda doc: slowed(doc, 1.02, [
        bench["name"] for bench in doc["benchmarks"]]))
    assert not [w for w in compared(quiet, quiet2).attrs["warnings"] if "slow state" in w]
    samples = load_benchmark_json(slow)[1]
    few = samples.iloc[:MIN_SLOW_ROUNDS - 1]
    assert len(samples) >= MIN_SLOW_ROUNDS and slow_files(("a", None, few, {}), ("b", None, few, {})) == []
    unpaced = load_benchmark_json(written(tmp_path, "unpaced.json"))[1]
    assert slow_files(("a", None, unpaced, {}), ("b", None, unpaced, {})) == []
    # a file slow all along: its own 2nd percentile is slow too, so it is judged by the lower of the two sides'
    throughout = written(tmp_path, "throughout.json", lambda doc: with_paces(doc, seed=3, factor_of=lambda n: 1.4),
                         lambda doc: slowed(doc, 1.02, [bench["name"] for bench in doc["benchmarks"]]))
    followed = written(tmp_path, "followed.json", lambda doc: with_paces(doc, seed=3, factor_of=lambda n: 1.4),
                       lambda doc: slowed(doc, 1.35, [bench["name"] for bench in doc["benchmarks"]]))
    assert "NEW ran 100% of its benchmark rounds" in " ".join(compared(quiet, followed).attrs["warnings"])
    # ... but where the times did not follow the probe (a-10 of the AMD EPYC VM: probe 1.40x slower in one session
    # from start to end, kernels as before), the probe is named, not the machine
    (said,) = [w for w in compared(quiet, throughout).attrs["warnings"] if "did not follow" in w]
    assert said.startswith("NEW's probe read over 1.25x its usual on 100% of its benchmark rounds, but the "
                           "benchmarks' times did not follow it (slope 0.0") and said.endswith("re-run NEW before "
                                                                                               "suspecting the code")
    assert "the probe's own reading (of that process" in said
    assert "NEW ran 100%" not in " ".join(compared(quiet, throughout).attrs["warnings"])
    # only the side the pace moved towards is told so (a helper's review: BASE's probe slow throughout, NEW in a
    # real slow state on 40% of its rounds with its times following: NEW's is the machine's)
    def real_slow_state(doc):
        with_paces(doc, seed=4)
        for bench in doc["benchmarks"]:
            paces, data = bench["extra_info"]["paces_s"], bench["stats"]["data"]
            slow = [i % 5 < 2 for i in range(len(paces))]
            bench["extra_info"]["paces_s"] = [p * (1.5 if s else 1.0) for p, s in zip(paces, slow)]
            bench["stats"]["data"] = [t * (1.5 if s else 1.0) for t, s in zip(data, slow)]

    real = written(tmp_path, "real.json", real_slow_state)
    both = compared(throughout, real).attrs["warnings"]
    assert [w[:20] for w in both if "did not follow" in w] == ["BASE's probe read ov"]
    assert [w[:8] for w in both if "NEW ran" in w] == ["NEW ran "]  # the machine's slow state, as before

    def ab_file(doc):  # both builds in one file (CONVBENCH_BENCH_AGAINST), the base build 2% faster
        slow_state(doc)
        for bench in list(doc["benchmarks"]):
            twin = json.loads(json.dumps(bench))
            backend = bench["extra_info"]["backend"]
            twin["extra_info"]["backend"] = f"{backend}@base"
            twin["name"] = twin["name"].replace(f"[{backend}-", f"[{backend}@base-")
            twin["stats"]["data"] = [t / 1.02 for t in bench["stats"]["data"]]
            doc["benchmarks"].append(twin)

    ab = written(tmp_path, "ab.json", ab_file)  # both builds met the same slow machine: nothing to warn of
    assert not [w for w in compared(f"{ab}@base", ab).attrs["warnings"] if "slow state" in w]
    assert not [w for w in compared(ab, f"{ab}@base").attrs["warnings"] if "slow state" in w]  # either way round
    (tmp_path / "other").mkdir()  # another process's A/B file of the same name: two machines' states, warned
    other = written(tmp_path / "other", "ab.json", lambda doc: (ab_file(doc), slowed(doc, 1.05, [
        bench["name"] for bench in doc["benchmarks"]])))
    assert len([w for w in compared(f"{quiet}", other).attrs["warnings"] if "slow state" in w]) == 1
    assert len([w for w in compared(f"{ab}@base", other).attrs["warnings"] if "slow state" in w]) == 2


def test_several_files_a_side_whose_probe_moved_alone_blame_the_probe_not_the_machine(tmp_path):
    # a helper's review: "the probe's own reading" and "the machine itself ran 40% slower" in one comparison
    def names(doc):
        return [bench["name"] for bench in doc["benchmarks"]]

    def file(name, seed, pace, times):
        return written(tmp_path, name, lambda doc: with_paces(doc, seed=seed, factor_of=lambda n: pace),
                       lambda doc: slowed(doc, times, names(doc)))

    base = f"{file('q1.json', 1, 1.0, 1.01)},{file('q2.json', 2, 1.0, 1.02)}"
    warnings = compared(base, f"{file('p1.json', 3, 1.4, 1.015)},{file('p2.json', 4, 1.4, 1.005)}").attrs["warnings"]
    assert [w for w in warnings if w.startswith("NEW's probe read over 1.25x") and "did not follow" in w]
    assert [w for w in warnings if w.startswith("the probe (see above: the times did not follow it) read 40% slower")]
    assert not [w for w in warnings if "the machine itself ran" in w]
    # the kernels followed in one of NEW's files: that is the machine, named as before
    followed = compared(base, f"{file('p3.json', 3, 1.4, 1.015)},{file('g.json', 4, 1.4, 1.4)}").attrs["warnings"]
    assert [w for w in followed if "the machine itself ran 40% slower" in w]
