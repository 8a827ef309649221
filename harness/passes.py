"""A point's passes checked against each other, then pooled into its row.

A point is measured in ``repeats`` passes spread over the sweep, so that an episode of
interference on a shared machine hits one pass rather than all of a point's rounds. Two
passes *agree* when their medians differ by no more than ``PASS_AGREEMENT`` beyond their
own confidence intervals; the *consistent* passes are the largest group that agree with
each other (the faster group on a tie: interference only slows a kernel down).

After each pass, :func:`point_done` says whether the point is final: a pass that is not
``ok`` decides at once; otherwise the point needs ``repeats`` consistent passes with every
other pass slower than they are (:func:`settled`), and gets up to ``MAX_EXTRA_PASSES``
more passes to find them. :func:`combine_passes` pools the consistent passes; the passes
left out are named in ``reason`` with how much slower (or faster) they ran. A point that did
not settle (a faster pass still left out) is pooled from its fastest agreeing passes instead
(:func:`fastest_group`: a slow majority is what interference makes, not the kernel) and its
``passes_disagree`` column says so (trust flag ``passes-disagree``).
"""
from __future__ import annotations

import numpy as np

from .rows import PointResult, finish_row
from .settings import MAX_EXTRA_PASSES, PASS_AGREEMENT
from .timing import RoundTimes, TimingConfig, median_rel_ci


def pass_median_s(result: PointResult) -> float:
    """The median per-call seconds of one pass."""
    return float(np.median(result.samples_s))


def agree(a: PointResult, b: PointResult, agreement: float = PASS_AGREEMENT) -> bool:
    """Whether two ``ok`` passes agree: the ratio of their medians is within (1 + agreement) x both CIs."""
    lo, hi = sorted((pass_median_s(a), pass_median_s(b)))
    allowed = (1 + agreement) * (1 + median_rel_ci(a.samples_s)) * (1 + median_rel_ci(b.samples_s))
    return lo > 0 and hi / lo <= allowed


def agreeing_from(results: list[PointResult], order: list[int], agreement: float = PASS_AGREEMENT) -> list[int]:
    """The first pass of ``order`` (indices, fastest first) and the passes after it that agree with it and with
    each other, up to the first that does not."""
    group = order[:1]
    for other in order[1:]:
        if not all(agree(results[other], results[g], agreement) for g in group):
            break
        group.append(other)
    return group


def consistent_passes(results: list[PointResult], agreement: float = PASS_AGREEMENT) -> list[int]:
    """Indices (in pass order) of the largest group of passes that all agree; the faster group on a tie."""
    order = sorted(range(len(results)), key=lambda i: pass_median_s(results[i]))
    best: list[int] = []
    for start in range(len(order)):
        group = agreeing_from(results, order[start:], agreement)
        if len(group) > len(best):
            best = group
    return sorted(best)


def fastest_group(results: list[PointResult], agreement: float = PASS_AGREEMENT) -> list[int]:
    """Indices (in pass order) of the fastest pass and every pass that agrees with it and with each other: what
    an unsettled point is summarised by (interference only slows a kernel, so the slower majority of passes that
    disagree is the suspect one, not the fast few)."""
    order = sorted(range(len(results)), key=lambda i: pass_median_s(results[i]))
    return sorted(agreeing_from(results, order, agreement))


def point_done(results: list[PointResult], repeats: int, *, timed: bool = True,
               max_extra: int = MAX_EXTRA_PASSES, agreement: float = PASS_AGREEMENT) -> bool:
    """Whether a point with these passes is final (see the module docstring)."""
    if not results:
        return False
    if results[-1].status != "ok":
        return True
    if len(results) < repeats:
        return False
    if not timed or repeats <= 1:
        return True
    return settled(results, consistent_passes(results, agreement), repeats) or len(results) - repeats >= max_extra


def settled(results: list[PointResult], keep: list[int], repeats: int) -> bool:
    """Whether the consistent passes ``keep`` decide the point: ``repeats`` of them, and every pass left out
    slower than they are (interference only slows a kernel: a faster pass left out means the consistent ones
    may all have been slowed)."""
    fastest_kept = min(pass_median_s(results[i]) for i in keep)
    return len(keep) >= repeats and all(pass_median_s(r) > fastest_kept for i, r in enumerate(results)
                                        if i not in keep)


def left_out_text(results: list[PointResult], keep: list[int], pooled_s: float) -> str:
    """``"pass 0 ran 19.0x slower than passes 1, 2"``: each pass left out, against the pooled median."""
    kept = ", ".join(map(str, keep))
    parts = []
    for i, result in enumerate(results):
        if i not in keep:
            ratio = pass_median_s(result) / pooled_s
            how = f"{ratio:.1f}x slower" if ratio >= 1 else f"{1 / ratio:.1f}x faster"
            parts.append(f"pass {i} ran {how}")
    return f"{'; '.join(parts)} than pass{'es' if len(keep) > 1 else ''} {kept}"


def combine_passes(results: list[PointResult], config: TimingConfig, repeats: int | None = None,
                   agreement: float = PASS_AGREEMENT) -> PointResult:
    """One point measured in several passes: pool the samples of its consistent passes; a pass not ok decides.

    ``repeats`` (default: the number of passes) is how many consistent passes the point asked for.
    """
    for result in results:
        if result.status != "ok":
            return result
    if len(results) == 1:
        return results[0]
    repeats = repeats or len(results)
    keep = consistent_passes(results, agreement)
    unsettled = len(keep) < len(results) and not settled(results, keep, repeats)
    if unsettled:
        keep = fastest_group(results, agreement)
    pooled = [results[i] for i in keep]
    times = tuple(t for r in pooled for t in r.samples_s)
    first, last = results[0].row, results[-1].row
    rounds = RoundTimes(times, first["calls_per_round"], converged=median_rel_ci(times) <= config.target_rel_ci,
                        warmup_s=sum(r.row.get("warmup_s") or 0.0 for r in pooled),
                        steady=all(r.row.get("steady", True) for r in pooled))
    row = dict(finish_row(first, rounds, config), passes=len(keep), passes_disagree="")
    if last.get("t_end") is not None:
        row["t_end"] = last["t_end"]
    if len(keep) < len(results):
        text = left_out_text(results, keep, float(np.median(times)))
        if unsettled:
            row["passes_disagree"] = text
            note = f"passes disagree: {text}; summarised by the fastest (interference only slows a kernel)"
        else:
            note = f"re-measured: {text}, left out"
        row["reason"] = "; ".join(r for r in (note, row["reason"]) if r)
    return PointResult(row, times)
