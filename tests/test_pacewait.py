"""Waiting out the machine's slow state (harness/pacewait.py) on a fake probe and a fake wall clock."""
from __future__ import annotations

import math

import pytest

from harness.pacewait import (FAST_IN_A_ROW, KEPT_SESSIONS, MIN_READINGS, PaceWait, kept_lows, stored_usual)
from harness.settings import SLOW_PACE

USUAL, SLOW = 100e-6, 150e-6  # seconds: the VM's fast and slow states read ~1.5x apart


class FakeMachine:
    """A probe that returns the readings given (then the last one forever), each taking ``step_s`` of wall time."""

    def __init__(self, readings, step_s=0.01):
        self.readings, self.step_s, self.now, self.probes = list(readings), step_s, 0.0, 0

    def probe(self) -> float:
        self.now += self.step_s
        self.probes += 1
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]

    def wall(self) -> float:
        return self.now


def seeded(machine, stored_s=None, **kw) -> PaceWait:
    gate = PaceWait(machine.probe, wall=machine.wall, stored_s=stored_s, **kw)
    for _ in range(MIN_READINGS):
        gate.note(USUAL)
    return gate


def test_the_usual_pace_is_the_lower_of_the_sessions_low_and_the_stored_one():
    gate = PaceWait(lambda: USUAL)
    assert gate.usual_s() is None and not gate.is_slow(10.0)  # nothing known: never slow, never waits
    for _ in range(MIN_READINGS - 1):
        gate.note(USUAL)
    assert gate.usual_s() is None  # too few readings of its own
    gate.note(USUAL)
    assert gate.usual_s() == USUAL
    for bad in (math.nan, -1.0, 0.0, None, True):
        gate.note(bad)
    assert len(gate.readings) == MIN_READINGS
    # a session that started in the slow state and stayed there: the stored usual pace says it is slow
    slow_session = PaceWait(lambda: SLOW, stored_s=USUAL)
    for _ in range(MIN_READINGS):
        slow_session.note(SLOW)
    assert slow_session.usual_s() == USUAL and slow_session.is_slow(SLOW)
    assert not slow_session.is_slow(USUAL * SLOW_PACE) and slow_session.is_slow(USUAL * SLOW_PACE * 1.01)
    # a stored pace slower than this session's own (an earlier session slow throughout): the session's counts
    assert PaceWait(lambda: USUAL, stored_s=SLOW).usual_s() == SLOW
    fast_session = PaceWait(lambda: USUAL, stored_s=SLOW)
    for _ in range(MIN_READINGS):
        fast_session.note(USUAL)
    assert fast_session.usual_s() == USUAL


def test_a_machine_at_its_usual_pace_is_not_waited_for():
    machine = FakeMachine([USUAL])
    gate = seeded(machine)
    assert gate.wait() == 0.0 and gate.waits == 0 and gate.waited_s == 0.0
    assert machine.probes == FAST_IN_A_ROW  # a few readings, ~0.3 ms on the VM


def test_a_slow_stretch_is_waited_out_and_a_lucky_fast_reading_does_not_end_it():
    readings = [SLOW] * 5 + [USUAL] + [SLOW] * 3 + [USUAL] * FAST_IN_A_ROW
    machine = FakeMachine(readings, step_s=0.01)
    gate = seeded(machine)
    waited = gate.wait()
    assert machine.probes == len(readings)  # it went on past the single fast reading
    assert waited == pytest.approx(len(readings) * 0.01) and gate.waits == 1 and gate.gave_up == 0
    assert len(gate.readings) == MIN_READINGS  # a wait's readings are not the session's


def test_a_wait_ends_at_its_limit_and_all_waits_at_the_budget():
    machine = FakeMachine([SLOW], step_s=0.125)  # exact in binary
    gate = seeded(machine, max_wait_s=1.0, budget_s=2.5)
    assert gate.wait() == pytest.approx(1.0) and gate.gave_up == 1
    assert gate.wait() == pytest.approx(1.0) and gate.gave_up == 2
    assert gate.wait() == pytest.approx(0.5) and gate.waited_s == pytest.approx(2.5)  # what the budget had left
    probes = machine.probes
    assert gate.wait() == 0.0 and machine.probes == probes  # the budget is spent: timed as the machine comes
    assert gate.waited_s == pytest.approx(2.5) and gate.waits == 3 and "3 ran out of time" in gate.summary()
    assert gate.after_round(SLOW) == 0.0 and gate.after_round(USUAL) == 0.0 and gate.unwaited == 1
    assert "the budget spent, 1 slow round(s) were followed by others without a wait" in gate.summary()
    never_machine = FakeMachine([SLOW])
    never = seeded(never_machine, budget_s=0)
    assert never.wait() == 0.0 and never_machine.probes == 0  # CONVBENCH_BENCH_WAIT_S=0: never waits
    never.after_round(SLOW)
    assert "waiting off, 1 slow round(s) were followed by others without a wait" in never.summary()


def test_a_process_whose_probe_reads_slow_throughout_costs_one_wait_not_the_budget():
    # a-10 of the first set (AMD EPYC VM): the probe read 141 us from start to end against 97-101 us in every
    # other session, the kernels (the pure-Python one too) as fast as before: waiting could never end
    machine = FakeMachine([SLOW], step_s=0.125)  # exact in binary
    gate = PaceWait(machine.probe, wall=machine.wall, stored_s=USUAL, max_wait_s=1.0, budget_s=60)
    for _ in range(MIN_READINGS):
        gate.note(SLOW)
    assert gate.is_slow(SLOW)
    assert gate.wait() == pytest.approx(1.0) and gate.gave_up == 1
    assert gate.stored_s is None and gate.dropped_s == USUAL and gate.usual_s() == SLOW and not gate.is_slow(SLOW)
    assert gate.wait() == 0.0 and gate.waited_s == pytest.approx(1.0)
    assert "stayed over 1.25x the stored usual pace (100 us), so it was judged by its own readings" in gate.summary()
    assert gate.lows_to_keep([USUAL] * 5) == [gate.session_low_s()]  # the stale pace costs no further session a wait
    # a slow stretch at the start that outlasted one wait: once the session reads the stored pace again (three
    # readings in a row), it is restored and waits resume
    gate.note(USUAL), gate.note(SLOW), gate.note(USUAL), gate.note(USUAL)
    assert gate.stored_s is None
    gate.note(USUAL)
    assert gate.stored_s == USUAL and gate.dropped_s is None and gate.is_slow(SLOW)
    assert "until it read that pace again" in gate.summary()
    assert gate.lows_to_keep([USUAL] * 5)[:4] == [USUAL] * 4
    # a session that read the stored pace, even once in a tenth of its readings, keeps it
    keeps = PaceWait(machine.probe, wall=machine.wall, stored_s=USUAL, max_wait_s=1.0)
    for k in range(MIN_READINGS):
        keeps.note(USUAL if k < MIN_READINGS // 5 else SLOW)
    keeps.wait()
    assert keeps.stored_s == USUAL and keeps.dropped_s is None


def test_a_wait_that_ends_on_fast_readings_is_not_counted_as_in_vain():
    machine = FakeMachine([SLOW] * 7 + [USUAL] * 5, step_s=0.125)  # fast again at 0.875 s: 2 of 3 readings by 1 s
    gate = seeded(machine, stored_s=USUAL, max_wait_s=1.0)
    assert gate.wait() == pytest.approx(1.0) and gate.waits == 1 and gate.gave_up == 0 and gate.drops == 0


def test_rounds_and_benchmarks_are_counted():
    machine = FakeMachine([USUAL])
    gate = seeded(machine)
    assert gate.before_rounds() == 0.0 and gate.after_round(USUAL) == 0.0 and gate.benchmarks == 1
    assert "over 1 benchmark(s)" in gate.summary() and len(gate.readings) == MIN_READINGS + 1


def test_the_stored_lows_keep_the_last_sessions_and_ignore_junk():
    lows = []
    for k in range(KEPT_SESSIONS + 3):
        lows = kept_lows(lows, USUAL * (1 + k / 100))
    assert len(lows) == KEPT_SESSIONS and lows[-1] == pytest.approx(USUAL * (1 + (KEPT_SESSIONS + 2) / 100))
    assert kept_lows(lows, None) == lows and kept_lows("junk", USUAL) == [USUAL]
    assert stored_usual([USUAL, SLOW, USUAL]) == USUAL  # one slow session among three does not move it
    assert stored_usual([]) is None and stored_usual({"a": 1}) is None and stored_usual(["x", -1, math.inf]) is None
    assert stored_usual([10 ** 400, USUAL]) == USUAL  # a huge integer in the cache file: ignored, not a crash


@pytest.mark.parametrize("kwargs, name", [({"budget_s": -1}, "budget_s"), ({"max_wait_s": math.nan}, "max_wait_s"),
                                          ({"slack": 1.0}, "slack"), ({"stored_s": 0.0}, "stored_s"),
                                          ({"budget_s": "60"}, "budget_s"), ({"budget_s": True}, "budget_s"),
                                          ({"max_wait_s": 10 ** 400}, "max_wait_s")])
def test_bad_settings_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PaceWait(lambda: USUAL, **kwargs)


def test_the_summary_says_what_happened():
    gate = seeded(FakeMachine([SLOW, SLOW] + [USUAL] * 3))
    gate.wait()
    text = gate.summary()
    assert "waited 0.1 s in 1 wait(s) over 0 benchmark(s)" in text and "100 us" in text and "ran out" not in text
    assert "not known" in PaceWait(lambda: USUAL).summary()
