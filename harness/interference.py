"""Interference in ``harness compare``: a move that a flag of one run (unsettled, disturbed) explains is not the code's.

The sweep flags a row measured under interference (:mod:`harness.trust`, :mod:`harness.probe`);
compare reads the flags of both runs' rows and demotes a ``slower`` (``faster``) verdict that only
the flagged run shows to ``inconclusive``, with a note that names the run to measure again; the probe's
reading of the machine's own speed holds back moves the machine made (:func:`machine_demoted`).
"""
from __future__ import annotations

import math

from .contention import known_share, more_contended
from .handoff import SLOW_FLAG, SLOW_HANDOFF_MAX
from .pacetrust import ACROSS_ATTR
from .settings import CONTENDED_MAX, DISTURBED_MAX
from .trust import INTERFERENCE_FLAGS


def interference_flags(merged_row, side: str, kinds=INTERFERENCE_FLAGS) -> set[str]:
    """The interference flags (of ``kinds``) of one side (``"_base"``/``"_new"``) of a merged row (none when the
    input has no ``flags`` column, e.g. pytest-benchmark JSON)."""
    flags = merged_row.get(f"flags{side}")
    if not isinstance(flags, str):
        return set()
    return {f for f in flags.split(";") if f in kinds}


#: The interference flags of the machine's state, and the most of a move a flag explains (beyond it, the code's):
#: :func:`interference_demoted` and :func:`state_moved` read both.
STATE_FLAGS = ("unsettled", "disturbed", SLOW_FLAG)
STATE_MAX = {SLOW_FLAG: SLOW_HANDOFF_MAX, "disturbed": DISTURBED_MAX}


def explaining_flags(merged_row, side: str, kinds, beyond) -> set[str]:
    """The flags (of ``kinds``) of ``side``'s row that the other side's row lacks, less those whose bound in
    ``STATE_MAX`` the move lies beyond (``beyond(factor) -> bool``): what may explain a move towards ``side``."""
    other = "_base" if side == "_new" else "_new"
    extra = interference_flags(merged_row, side, kinds) - interference_flags(merged_row, other, kinds)
    return {f for f in extra if not (f in STATE_MAX and beyond(STATE_MAX[f]))}


#: How a note names a point demoted for interference (:func:`interference_demoted`; the summary's advice reads them).
NOTE_INTERFERED = "measured under interference"
NOTE_SLOWED_CORES = "on a slowed core"
#: How a note names contention as the interference (:func:`contended_words`; the summary's advice reads it).
NOTE_CONTENDED = "(contended:"


def interference_demoted(judged: dict, merged_row, passes_known: bool = False) -> dict:
    """``slower`` (``faster``) becomes ``inconclusive`` when NEW (BASE) carries an interference flag the other
    run's row does not: its move cannot be told from the interference. Seen on the Intel VM: two unchanged smoke
    runs beside two busy loops, a 2.7 us kernel whose every pass stalled at ~6 ms in one run (`unsettled`) was
    judged 2362x slower, exit 1. Identical flags on both sides (a slowdown injected into a copy) change nothing.

    Where both runs' pass medians are known (``passes_known``), ``passes-disagree`` no longer demotes: the
    fastest-pass check (:func:`harness.compare_rule.fastest_pass_followed`) asks the sharper question of the
    same passes. Measured on the Zen 5 VM with one competing process (inception3a, 4 runs, 12 ordered pairs):
    numba-cpu x1.3 caught on 145 of 192 rows with the flag, 159 without, the same 1 of 12 A/A alarms.
    Contention (:mod:`harness.contention`) is judged from both rows' ``others_share``, not their flags: a move
    towards a run whose point was contended and met more of it than the other's by ``CONTENTION_GAP``
    (:func:`harness.contention.more_contended`) is demoted unless its whole interval lies beyond
    ``CONTENDED_MAX`` (a competing process slowed a 2-thread kernel by up to 3.7x on the 2-vCPU Intel VM); both
    runs beside the same busy process, or a share just either side of the flag's limit, change nothing. A
    contended point with passes that met little of it may be judged on those (:mod:`harness.keptpasses`).
    ``disturbed`` (every pass on a slowed core, :mod:`harness.probe`) demotes also when the other run's row
    carries it too - the fastest pass of such a point is slowed, by a factor that differs from run to run - but
    only a move a slowed core can explain: a ``slower`` whose whole interval lies beyond ``DISTURBED_MAX``
    (a ``faster`` below its inverse) stands. ``slow-handoff``, which compare gives a point every pass of which ran
    while the cores handed work to each other slowly and the other run's did not
    (:func:`harness.keptpasses.flag_slow_handoff`), demotes likewise up to ``SLOW_HANDOFF_MAX`` (3x: the state moved
    unchanged microsecond kernels up to 2.47x)."""
    verdict = judged.get("verdict")
    if verdict not in ("slower", "faster"):
        return {}
    suspect, other = ("_new", "_base") if verdict == "slower" else ("_base", "_new")
    kinds = STATE_FLAGS if passes_known else (*INTERFERENCE_FLAGS, SLOW_FLAG)
    shares = merged_row.get(f"others_share{suspect}"), merged_row.get(f"others_share{other}")
    contended = more_contended(*shares)
    run = "NEW" if suspect == "_new" else "BASE"
    if contended and not interval_beyond(judged, CONTENDED_MAX):
        return dict(verdict="inconclusive",
                    note=f"{contended_words(run, shares)}: its {verdict} {judged['ratio']:.3g}x is not the code's; "
                         f"measure {run} again on a quiet machine")
    extra = explaining_flags(merged_row, suspect, kinds, lambda factor: interval_beyond(judged, factor))
    both = interference_flags(merged_row, suspect, ("disturbed",)) - extra  # a slowed core on both sides
    if interval_beyond(judged, DISTURBED_MAX):
        both = set()
    if extra:
        return dict(verdict="inconclusive",
                    note=f"{run} was {NOTE_INTERFERED} ({', '.join(sorted(extra))}) and the other run "
                         f"was not: its {verdict} {judged['ratio']:.3g}x is not the code's; measure {run} again")
    if both:
        return dict(verdict="inconclusive",
                    note=f"both runs were measured with every pass {NOTE_SLOWED_CORES} (disturbed): the "
                         f"{verdict} {judged['ratio']:.3g}x may be the cores', not the code's; measure both again")
    return {}


def contention_noted(judged: dict, merged_row) -> dict:
    """An ``inconclusive`` point whose run met more contention than the other's (:func:`contention_split`) gets a
    note that names that first: its interval was left wide by its backend's floor, which rows such as this one
    set where every row met it (beside a busy process for all of NEW, x/ 26-29 on the Intel VM), and "run-to-run
    floor" alone hid why. {} for any other row."""
    if judged.get("verdict") != "inconclusive" or not contention_split(merged_row):
        return {}
    new, base = merged_row.get("others_share_new"), merged_row.get("others_share_base")
    run, shares = ("NEW", (new, base)) if more_contended(new, base) else ("BASE", (base, new))
    return dict(note=f"{contended_words(run, shares)}; {judged.get('note', '')}")


def contended_words(run: str, shares: tuple) -> str:
    """How a note names a run that met more contention than the other (``shares``: its ``others_share``, the
    other run's): "NEW was measured under interference (contended: other processes held 39% of its cores during
    its median pass, 1% in the other run)"; the summary's advice finds :data:`NOTE_CONTENDED` in it."""
    return (f"{run} was {NOTE_INTERFERED} {NOTE_CONTENDED} other processes held {shares[0]:.0%} of its cores during "
            f"its median pass, {fmt_share(shares[1])} in the other run)")


def interval_beyond(judged: dict, factor: float) -> bool:
    """True when a ``slower`` verdict's whole interval lies above ``factor`` (a ``faster`` one's below its inverse):
    a move no interference of that size explains."""
    if judged.get("verdict") == "slower":
        return judged.get("ratio_lo", 0) > factor
    return judged.get("ratio_hi", math.inf) < 1 / factor


def fmt_share(share) -> str:
    """A share as a percentage, or "unknown" (a run from before the ``others_share`` column)."""
    return f"{share:.0%}" if known_share(share) else "unknown"


def contention_split(merged_row) -> bool:
    """True when either run's point was contended and met more of it than the other's
    (:func:`harness.contention.more_contended`): such a point neither widens its backend's floor nor enters its
    backend's move (:mod:`harness.comparison`)."""
    new, base = merged_row.get("others_share_new"), merged_row.get("others_share_base")
    return more_contended(new, base) or more_contended(base, new)


def state_moved(merged_row, log_ratio: float, threshold: float) -> bool:
    """True when a point moved beyond the threshold towards a run whose row carries an interference flag of the
    machine's state (unsettled, disturbed, slow-handoff) that the other run's row does not, by no more than that
    state explains (``SLOW_HANDOFF_MAX``, ``DISTURBED_MAX``): :func:`interference_demoted` holds back such a move,
    and the point enters no backend's move (:mod:`harness.comparison`). A flagged point that did not move (numpy's
    BLAS in the hand-off state) stays in; its spread stays in its backend's floor, which judges points the same state
    may have moved less. Seen on the Zen 2 VM: six of nine numba-cpu points of one unchanged smoke run ran in the
    slow hand-off state throughout, 1.8-1.9x; with them the nine moved numba-cpu 1.53x [1.13, 2.07], and its 5x5
    direct, judged on one kept pass inside a x/ 2.8 floor, shared that move: exit 1."""
    if not math.isfinite(log_ratio) or abs(log_ratio) <= math.log1p(threshold):
        return False
    towards = "_new" if log_ratio > 0 else "_base"
    return bool(explaining_flags(merged_row, towards, STATE_FLAGS, lambda factor: abs(log_ratio) > math.log(factor)))


#: How a note names a point demoted because the machine itself changed speed between the runs (the summary reads it).
NOTE_MACHINE = "the machine itself ran"


def machine_moved(machine: float, threshold: float) -> int:
    """+1 when the machine itself ran slower during NEW by more than the threshold (``machine``: NEW's median probe
    reading over BASE's), -1 when faster by more than its inverse, 0 within it or unknown (NaN)."""
    if not math.isfinite(machine) or machine <= 0:
        return 0
    moved, band = math.log(machine), math.log1p(threshold)
    return 1 if moved > band else -1 if moved < -band else 0


def machine_demoted(judged: dict, machine: float, threshold: float) -> dict:
    """``slower`` (``faster``) becomes ``inconclusive`` when the machine itself ran slower (faster) during NEW than
    during BASE by more than the threshold: ``machine`` is the ratio of the runs' median probe readings
    (:func:`harness.passgroups.machine_ratio`, a fixed pure-Python loop timed around every pass; NaN: unknown) as
    far as the pace left it in the backend's times (:func:`harness.pace.left_over`); the note says so.
    On the Intel VM the host has phases that last longer than a smoke sweep: two unchanged runs of four in two
    sets of the same day ran their probe 0.87x and 0.89x faster than the other three and numba-cpu's (and numpy's)
    points 1.2-2x faster as a whole - the backend's move called it, exit 1 in 2 of 12 pairs in both sets. A
    verdict against the machine's direction stands (a slowdown of the code measured on a faster machine is still
    one), and so does every verdict when the probes agree within the threshold."""
    verdict = judged.get("verdict")
    moved = machine_moved(machine, threshold)
    if verdict not in ("slower", "faster") or moved != (1 if verdict == "slower" else -1):
        return {}
    pace = "slower" if moved > 0 else "faster"
    return dict(verdict="inconclusive",
                note=f"{NOTE_MACHINE} {pace} during NEW than during BASE (the probe's move still in its times "
                     f"{machine:.2f}x, beyond the "
                     f"threshold): its {verdict} {judged['ratio']:.3g}x may be the machine's; measure both again")


def move_verdict(move, machine: float, threshold: float) -> str:
    """A backend's move's verdict, held back where the machine itself moved the same way (:func:`machine_demoted`)
    or where its points' fastest passes did not follow it (:meth:`harness.backendmove.BackendMove.followed`: then
    no point shares it, and the summary must not call it either)."""
    verdict = move.verdict(threshold)
    if verdict in ("slower", "faster") and not move.followed():
        return (f"{verdict}, held back: the fastest passes did not follow (fastest-pass ratio "
                f"{move.fastest_pass_ratio:.2f}x)")
    held = machine_demoted(dict(verdict=verdict, ratio=move.ratio), machine, threshold)
    return f"{verdict}, held back: the machine moved too (probe {machine:.2f}x)" if held else verdict


def machine_warnings(result, threshold: float, probe_alone: bool = False) -> list[str]:
    """The warnings of a comparison about the machine's speed: why the pace's move between the runs was left in the
    times (``attrs[ACROSS_ATTR]``, :mod:`harness.pacetrust`), where it was, and, where the machine itself moved
    beyond the threshold (``attrs["machine_ratio"]``), how far and how many verdicts that held back (its rows'
    notes); [] when neither. ``probe_alone``: an earlier warning said the benchmarks' times did not follow the
    probe (:func:`harness.runwarnings.probe_alone`), so the move is named as the probe's, not the machine's."""
    across, machine = result.attrs.get(ACROSS_ATTR), result.attrs.get("machine_ratio") or math.nan
    held_back = ("the machine's move held back as without a pace" if math.isfinite(machine) else
                 "no probe reading compared")
    out = [f"the pace's move between the runs was not divided out (the times are judged as measured across the "
           f"runs, {held_back}): {across}"] if across else []
    if not machine_moved(machine, threshold):
        return out
    held = int(result["note"].str.contains(NOTE_MACHINE, regex=False).sum())
    whose = ("the probe (see above: the times did not follow it) read" if probe_alone else
             "the machine itself ran" if not across else "the machine (or the probe: see above) ran")
    return out + [f"{whose} {abs(machine - 1):.0%} {'slower' if machine > 1 else 'faster'} during NEW "
                  f"than during BASE (median probe reading {machine:.2f}x): {held} verdict(s) in that direction held "
                  "back as inconclusive; measure both runs again, back to back"]
