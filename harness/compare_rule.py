"""The decision rule of ``harness compare`` for one matched point: an interval of the time ratio, then a verdict.

The ratio NEW/BASE of the two medians is judged in log space (the rounds of each run's median pass where
both runs' passes are known, :mod:`harness.passgroups`). Its uncertainty has two parts that add in quadrature:

* within the runs: the spread of each run's rounds, as the distribution-free 95%
  CI of each median (:func:`harness.timing.median_ci`) turned into a standard error;
* between the runs: ``floor_half``, from the process-to-process spread of this backend's
  log ratios (buffer placement, a runtime's per-process choices, frequency, the
  neighbours of the moment), which the rounds of one process cannot show
  (:mod:`harness.noisefloor` estimates it) - or the spread of the point's own passes where
  that is wider (:func:`passes_half`: a kernel whose speed differs from pass to pass).

The interval is ``log(ratio) +/- sqrt((z * se_within)**2 + floor_half**2)`` with ``z`` the
two-sided normal quantile of ``alpha`` and ``floor_half`` the run-to-run part at the
same level. A point is ``slower`` (``faster``) when the whole interval lies beyond the
threshold - at any kernel size, 2 us or 2 s - and its best round followed
(:func:`best_round_followed`: interference inflates medians, rarely the best case; a
real slowdown moves both), and so did its fastest pass where the runs' passes are known
(:func:`fastest_pass_followed`: a real slowdown slows every pass; a competing process
slows some). A point whose backend moved as a whole beyond the threshold (:mod:`harness.backendmove`: the
mean over its points, with an interval from their scatter) and whose own ratio and interval agree with that
move shares it: ``slower`` with a note that says so, even where its own interval straddles the threshold or
its passes alone would doubt it - one point on a shared VM cannot show a 1.3x change, sixteen that moved
together can. ``same`` when the whole interval lies inside the threshold
(or both runs hold identical samples); ``inconclusive`` otherwise, with a note naming
what made the interval straddle the threshold.

``detectable`` is the smallest slowdown (a ratio) that would have been judged
``slower`` with this uncertainty: ``(1 + threshold) * exp(half-width)`` - the point's own power; the
summary adds its backend's, for a move of all the backend's points together.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from .backendmove import BackendMove, shares

#: Fewer timed rounds than this in either run and a point gets no verdict: the order-statistic CI of a median
#: of n rounds covers at most 1 - 2 * 0.5**n (50% at 2 rounds, 94% at 5).
MIN_ROUNDS = 5
#: The 95% CI of a median spans about this many standard errors.
CI95_WIDTH_SE = 2 * 1.959964
#: How a note names what kept a point from a verdict (the summary counts them).
REASON_FLOOR = "run-to-run floor"
REASON_ROUNDS = "rounds' spread"
REASON_BEST = "best round unchanged"
REASON_FEW = "too few rounds"
REASON_PASS = "fastest pass unchanged"
REASON_RANGE = "within the other run's passes"
REASON_PASSES = "its passes' spread"
#: How a note names a verdict the point shares with its backend's move (:mod:`harness.backendmove`).
REASON_MOVED = "moved with its backend"
#: Fewer passes than this in the two runs together and a point's own passes say nothing of its floor.
MIN_PASSES = 4
#: The quantile of the rounds the gate compares (0.5: the median).
QUANTILE = 0.5
IDENTICAL = "identical samples"
#: How far apart (a factor) a point's median pass and its fastest pass must move for the point to count as hit by
#: a burst of interference (:func:`burst_hit`). Over all 1572 points of pairs of unchanged runs on the Intel VM (smoke,
#: inception3a, quiet and at one thread) the two moved apart by at most 2.05x - kernels that run at one of two speeds
#: from pass to pass (numpy's and numba-cpu's smoke points), which the floor must cover - but for one point caught
#: beside a burst (10.2x); beside a busy loop with ``--clock process`` by up to 4.8x.
BURST_FACTOR = 3.0
#: How far (a factor) the best round may lag half the median's move in log (see :func:`best_round_followed`).
BEST_ROUND_SLACK = 2.0


@dataclass(frozen=True)
class Judgement:
    """The verdict on one matched point, with the numbers behind it (ratios are NEW/BASE times)."""

    verdict: str
    ratio: float
    ratio_lo: float
    ratio_hi: float
    ratio_min: float
    p_value: float
    detectable: float
    note: str


def z_of(alpha: float) -> float:
    """The two-sided standard-normal quantile of significance level ``alpha`` (2.58 for 0.01)."""
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


def location(samples) -> float:
    """The statistic the gate compares: the ``QUANTILE`` quantile of the rounds' per-call times."""
    import numpy as np

    return float(np.quantile(np.asarray(samples, dtype=float), QUANTILE))


def quantile_ci(samples, q: float, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the ``q`` quantile from order statistics (binomial)."""
    import numpy as np
    from scipy.stats import binom

    xs = np.sort(np.asarray(samples, dtype=float))
    n = len(xs)
    lo = int(binom.ppf((1 - confidence) / 2, n, q))
    hi = int(binom.isf((1 - confidence) / 2, n, q))
    return float(xs[max(lo - 1, 0)]), float(xs[min(hi, n - 1)])


def log_se(samples) -> float:
    """Standard error of log(location) from its distribution-free 95% CI (0 for constant samples)."""
    lo, hi = quantile_ci(samples, QUANTILE)
    return math.log(hi / lo) / CI95_WIDTH_SE


def within_se(base_s, new_s) -> float:
    """Standard error of log(location NEW / location BASE) from the rounds of the two runs."""
    return math.hypot(log_se(base_s), log_se(new_s))


def best_round_followed(median_move: float, best_move: float) -> bool:
    """True when the best round moved with the median (log ratios, positive in the median's direction): by at
    least half as far, less ``log(BEST_ROUND_SLACK)``. A real change moves every round; interference in one
    run (a descheduled thread costs a whole time slice) moves the median by orders of magnitude and the best
    round hardly at all. The slack keeps a backend whose best round jumps between modes from run to run
    (numpy's varied +/-35% on the shared Zen 5 VM) from hiding a 1.3x change."""
    return best_move >= median_move / 2 - math.log(BEST_ROUND_SLACK)


def fastest_pass_followed(median_move: float, base_passes, new_passes) -> bool:
    """True when the fastest pass moved with the median (log ratio, positive in the median's direction) by at
    least half as far, or when either run's passes are unknown. ``*_passes`` are the median seconds of
    each pass of the point (:mod:`harness.passgroups`). Rounds within a pass share its circumstances, so a
    competing process that slowed one or two passes of NEW moves the pooled median with a tight interval of
    rounds, yet NEW's fastest pass stays where BASE's was; a change of the code slows every pass. Measured on a
    2-vCPU Zen 5 VM with one competing process: an A/A pair of ``inception3a`` runs had one false alarm without
    the check (numpy, passes at 270/345/300 us against 270), none with it; an injected 1.3x was still caught on
    15 of 16 numba-cpu rows."""
    fastest_move = fastest_pass_log_ratio(base_passes, new_passes)
    return not math.isfinite(fastest_move) or fastest_move * (1 if median_move >= 0 else -1) >= abs(median_move) / 2


def burst_hit(log_ratio: float, fastest_log_ratio: float) -> bool:
    """True when interference, not the code, moved a point between the runs: its median pass and its fastest pass moved
    more than ``BURST_FACTOR`` apart (as a ratio) (False where the passes are unknown). A change
    of the code moves both alike, whatever its size; a burst of another process during some passes of one run moves
    the median alone. Such a point is judged, but neither widens the run-to-run floor of its backend's other points nor
    enters its backend's move (:mod:`harness.noisefloor`, :mod:`harness.backendmove`): one point caught beside a
    burst on a quiet Intel VM (median 12.8x, fastest pass 1.4x) widened numba-cpu's floor to x/6 and hid an injected
    1.3x on all sixteen of its points."""
    if not (math.isfinite(log_ratio) and math.isfinite(fastest_log_ratio)):
        return False
    return abs(log_ratio - fastest_log_ratio) > math.log(BURST_FACTOR)


def fastest_pass_log_ratio(base_passes, new_passes) -> float:
    """log(NEW's fastest pass / BASE's) from the two runs' pass medians (NaN where either run's are unknown)."""
    return math.log(min(new_passes) / min(base_passes)) if base_passes and new_passes else math.nan


def within_other_passes(slower: bool, base_passes, new_passes) -> str:
    """Why the move is the machine's, or "" when the run that moved lies beyond every pass of the other - for
    ``slower``, NEW's median pass above BASE's slowest pass; for faster, BASE's median pass above NEW's slowest -
    or when either run's passes are unknown. A machine that switches between speeds (the Intel VM's bursts, two
    competing processes) can run a point's passes at 6 us in one run and at 6 and 10 us in the other; a run
    whose median pass is 10 us is then no slower than the other run's own passes, whichever speed each happened
    to catch more often. A change of the code moves every pass: measured on the Intel VM, 1.3x injected was
    caught as often with the check as without it (within 1 row per set) while the A/A alarms of runs made beside
    two competing processes fell from 3 of 6 pairs to 2."""
    if not base_passes or not new_passes:
        return ""
    moved, other = (new_passes, base_passes) if slower else (base_passes, new_passes)
    if statistics.median(moved) > max(other):
        return ""
    return (f"{REASON_RANGE} (its median pass {fmt_ratio(statistics.median(moved) / max(other))}x the other's "
            f"slowest, whose passes span {fmt_ratio(max(other) / min(other))}x): the machine changed speed between "
            "passes, not the code")


def passes_half(base_passes, new_passes, alpha: float) -> float:
    """The half-width (log) of the run-to-run noise that the point's own passes show, 0 when unknown (fewer than
    ``MIN_PASSES`` passes in the two runs together, or none in one of them).

    Each run's median pass is one of its passes (each a fresh ``prepare``; with ``--fresh-workers`` in a fresh
    worker process, :meth:`harness.executor.WorkerExecutor.renew`; :mod:`harness.passgroups`), so the log ratio of
    the two scatters like the passes do: ``t(alpha, n_base + n_new - 2) * sqrt(pi / 2 * (var_base / n_base + var_new
    / n_new))`` of the log pass medians (``pi / 2``: a median's variance over a mean's; a robust spread, the MAD,
    was tried and lost: it calls two odd passes of five outliers, and which of two speeds is the odd one is what
    differs between runs). A point is judged with the wider of this and its backend's floor: most points' passes
    agree and their backend's spread rules, but a kernel that runs at one of two speeds from pass to pass must not
    get the floor of its steadier neighbours - seen on the Intel VM: numpy's 3 us 5x5 reduce ran 1.6 us in some
    passes and 3.1 us in others; two unchanged smoke runs drew 0 of 3 and 3 of 5 fast passes, a 1.75x "slower" that
    exited 1."""
    base_passes, new_passes = ([p for p in passes if p > 0] for passes in (base_passes or (), new_passes or ()))
    if not base_passes or not new_passes or len(base_passes) + len(new_passes) < MIN_PASSES:
        return 0.0
    var = sum(statistics.variance([math.log(p) for p in passes]) / len(passes)
              for passes in (base_passes, new_passes) if len(passes) > 1)
    from .noisefloor import t_of

    return t_of(alpha, len(base_passes) + len(new_passes) - 2) * math.sqrt(math.pi / 2 * var)


def passes_doubt(log_ratio: float, base_passes, new_passes) -> str:
    """Why the passes say a move beyond the threshold is the machine's, not the code's ("" when they do not, or
    when either run's passes are unknown): its fastest pass stayed (:func:`fastest_pass_followed`), or the run
    that moved lies within the other run's passes (:func:`within_other_passes`)."""
    if not fastest_pass_followed(log_ratio, base_passes, new_passes):
        fastest = fmt_ratio(math.exp(fastest_pass_log_ratio(base_passes, new_passes)))
        return (f"{REASON_PASS} (fastest-pass ratio {fastest}, median {fmt_ratio(math.exp(log_ratio))}): "
                "interference in some passes of one run, not the code")
    return within_other_passes(log_ratio > 0, base_passes, new_passes)


def judge(base_s, new_s, threshold: float, alpha: float, floor_half: float = 0.0, base_passes=None,
          new_passes=None, move: BackendMove | None = None, backend: str = "") -> Judgement:
    """The verdict on two sets of per-call round times (seconds) of one point.

    ``threshold`` is the relative change that counts (0.1 = 10%), ``alpha`` the
    two-sided error level of the interval, ``floor_half`` the half-width (in log)
    that process-to-process noise adds to it (:mod:`harness.noisefloor`);
    ``base_passes`` / ``new_passes`` the median seconds of each pass of the point,
    where known (:func:`fastest_pass_followed`); ``move`` the move of the point's ``backend`` as a whole
    (:mod:`harness.backendmove`), which a point whose own interval straddles the threshold may share.
    """
    import numpy as np
    from scipy.stats import mannwhitneyu

    base, new = np.sort(np.asarray(base_s, dtype=float)), np.sort(np.asarray(new_s, dtype=float))
    ratio = location(new) / location(base)
    ratio_min = float(new[0] / base[0])
    p_value = float(mannwhitneyu(base, new, alternative="two-sided").pvalue)
    within_half = z_of(alpha) * within_se(base, new)
    band, d = math.log1p(threshold), math.log(ratio)
    narrow_half = math.hypot(within_half, floor_half)  # without the point's own passes' spread
    pass_half = passes_half(base_passes, new_passes, alpha)
    own_passes, floor_half = pass_half > floor_half, max(floor_half, pass_half)
    half = math.hypot(within_half, floor_half)
    lo, hi = d - half, d + half
    detectable = math.exp(band + half)
    common = dict(ratio=ratio, ratio_lo=math.exp(lo), ratio_hi=math.exp(hi), ratio_min=ratio_min, p_value=p_value,
                  detectable=detectable)
    if len(base) == len(new) and np.array_equal(base, new):
        return Judgement("same", note=IDENTICAL, **common)
    if min(len(base), len(new)) < MIN_ROUNDS:
        note = f"{REASON_FEW} ({min(len(base), len(new))}; a verdict needs {MIN_ROUNDS} a side)"
        return Judgement("inconclusive", note=note, **common)
    own = 1 if lo > band else -1 if hi < -band else 0
    shared = shares(move, threshold, d, lo, hi)
    beyond = 1 if d - narrow_half > band else -1 if d + narrow_half < -band else 0
    if own or shared or beyond:  # beyond alone: its passes' spread straddles; a sharper doubt names it first
        direction = own or shared or beyond
        if not best_round_followed(direction * math.log(ratio), direction * math.log(ratio_min)):
            note = (f"{REASON_BEST} (min ratio {fmt_ratio(ratio_min)}, median {fmt_ratio(ratio)}): "
                    "interference in one run, not the code")
            return Judgement("inconclusive", note=note, **common)
        doubt = passes_doubt(math.log(ratio), base_passes, new_passes)
        if (doubt and not shared) or not (own or shared):
            return Judgement("inconclusive", note=doubt or straddle_note(
                math.exp(hi), threshold, within_half, floor_half, own_passes), **common)
        return Judgement("slower" if direction > 0 else "faster",
                         note=move_note(backend, move) if shared and (doubt or not own) else "", **common)
    if -band <= lo and hi <= band:
        return Judgement("same", note="", **common)
    note = straddle_note(math.exp(hi), threshold, within_half, floor_half, own_passes)
    return Judgement("inconclusive", note=note, **common)


def move_note(backend: str, move: BackendMove) -> str:
    """The note of a point whose verdict is its backend's move (:func:`harness.backendmove.shares`)."""
    return (f"{REASON_MOVED}: {backend} {fmt_ratio(move.ratio)}x [{fmt_ratio(move.ratio_lo)}, "
            f"{fmt_ratio(move.ratio_hi)}] over {move.points} points, inside this point's own interval")


def fmt_spread(rel: float) -> str:
    """A relative spread as text: "+/-10%" below 100%, a factor ("x/ 43") above."""
    return f"+/-{rel:.0%}" if rel < 1 else f"x/ {1 + rel:.3g}"


def fmt_ratio(ratio: float) -> str:
    """A ratio as text: two decimals in [0.01, 100), else three significant digits."""
    return f"{ratio:.2f}" if 0.01 <= ratio < 100 else f"{ratio:.3g}"


def straddle_note(ratio_hi: float, threshold: float, within_half: float, floor_half: float,
                  own_passes: bool = False) -> str:
    """Why an interval that straddles the threshold does: which part of the uncertainty dominates (``own_passes``:
    the floor is the point's own passes' spread, :func:`passes_half`)."""
    edge = 1 + threshold if ratio_hi > 1 + threshold else 1 / (1 + threshold)
    within, floor = fmt_spread(math.expm1(within_half)), fmt_spread(math.expm1(floor_half))
    floor_name = REASON_PASSES if own_passes else REASON_FLOOR
    return (f"straddles {edge:.2f}; " + (f"{floor_name} {floor} > rounds {within}" if floor_half >= within_half
                                          else f"{REASON_ROUNDS} {within} > floor {floor}"))
