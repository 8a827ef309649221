"""The reduction study in words: one line per branch, every saving with its interval and its share.

Reads like ``3a 5x5 branch (N=1): 9.7x fewer FLOPs; time saved 5.6x [5.3, 5.9] on
numba-cpu = 58% of the FLOP saving, ...``, backends in the registry's order. A
saving larger than the FLOP saving beyond its interval is flagged and explained,
never printed as fact; a branch measured on untrusted rows says so.
"""
from __future__ import annotations

import math

from .fmt import fmt_ratio, fmt_seconds

#: The parts of the lost time (see :mod:`harness.breakdown`), as the sentences name them.
LOSS_PARTS = (("lost_reduce_s", "the 1x1 reduce"), ("lost_conv_s", "the small-C conv"),
              ("lost_call_s", "per-call cost"))


def backend_order(backends) -> list[str]:
    """``backends`` in the registry's order (unknown ones, e.g. plugins from old runs, after it, sorted)."""
    import kernels

    known = [b for b in kernels.list_backends() if b in set(backends)]
    return known + sorted(set(backends) - set(known))


#: How a roofline prediction names the roof it came from, when a branch has predictions from several devices.
ROOF_PLACES = {"cpu": "on this machine's CPU", "cuda": "on this GPU"}


def loss_text(r) -> str:
    """Where the lost part of the FLOP saving went, as shares that lie in 0-100% and add up to 100%.

    "lost to: the 1x1 reduce 60%, per-call cost 40% (of 0.14 ms above the ideal 0.3 ms); the small-C conv won
    back 0.02 ms (faster per FLOP than the direct layer)". The ideal is the pair at the direct layer's speed per
    FLOP. The three parts of :mod:`harness.breakdown` add up to the net loss, but a part is
    negative when that layer ran faster per FLOP than the direct one: as a share of the net loss the others
    would then exceed 100%. So shares are of the gross loss (the positive parts), and a negative part is
    written as time won back.
    """
    if not r.lost_s > 0:
        return "nothing lost: the pair ran at least as fast per FLOP as the direct layer"
    if r.lost_s < 0.05 * r.time_reduced_s:
        return "almost nothing lost: the pair ran within 5% of the direct layer's speed per FLOP"
    names = {part: name + (", memory-bound" if part == "lost_reduce_s" and r.reduce_memory_bound else "")
             for part, name in LOSS_PARTS}
    values = {part: getattr(r, part) for part in names}
    gross = sum(v for v in values.values() if v > 0)
    lost = ", ".join(f"{names[p]} {100 * v / gross:.0f}%" for p, v in values.items() if v > 0)
    text = f"lost to: {lost} (of {fmt_seconds(gross)} above the ideal {fmt_seconds(r.ideal_s)})"
    won = [f"{dict(LOSS_PARTS)[p]} won back {fmt_seconds(-v)}" for p, v in values.items() if v < 0]
    if won:
        text += "; " + ", ".join(won) + " (faster per FLOP than the direct layer)"
    return text


def saving_text(r) -> str:
    """"5.6x [5.3, 5.9] on numba-cpu = 58% of the FLOP saving" for one reduction row (with warnings)."""
    interval = f" [{fmt_ratio(r.time_saving_lo)}, {fmt_ratio(r.time_saving_hi)}]" \
        if math.isfinite(r.time_saving_lo) else " [no interval: no samples]"
    text = f"{fmt_ratio(r.time_saving)}x{interval} on {r.backend} = {r.efficiency:.0%} of the FLOP saving"
    beyond = r.time_saving_lo > r.flop_saving if math.isfinite(r.time_saving_lo) else r.time_saving > r.flop_saving
    if beyond:
        text += (f" (MORE than the FLOP saving: the direct layer ran at {r.gflops_direct:.3g} GFLOP/s, the reduced "
                 f"pair at {r.flops_reduced / r.time_reduced_s / 1e9:.3g}; the direct layer is {r.backend}'s weak "
                 "spot, not a saving the reduction earns)")
    if not r.trusted:
        text += " (untrusted: a row of this branch is flagged)"
    if hasattr(r, "lost_s") and r.lost_s == r.lost_s and not beyond:
        text += f"; {loss_text(r)}"
    fused = getattr(r, "time_saving_fused", math.nan)
    if isinstance(fused, float) and fused == fused:
        lo, hi = r.time_saving_fused_lo, r.time_saving_fused_hi
        interval = f" [{fmt_ratio(lo)}, {fmt_ratio(hi)}]" if lo == lo else ""
        text += (f"; fused in one pass ({r.fused_backend}): {fmt_ratio(fused)}x{interval} = {r.efficiency_fused:.0%} "
                 "of the FLOP saving" + ("" if r.fused_trusted else " (untrusted)"))
    return text


def verdict_lines(reduction) -> list[str]:
    """One sentence per branch (and batch/dtype/threads when they vary) and backend, backends in registry
    order, after the branch's roofline prediction when the run has a peak."""
    if reduction is None or reduction.empty:
        return []
    lines = []
    varying = [c for c in ("N", "dtype", "threads") if reduction[c].nunique() > 1]
    order = backend_order(reduction["backend"])
    for key, group in reduction.groupby(["branch"] + varying, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        where = ", ".join(f"{c}={v}" for c, v in zip(varying, key[1:]))
        group = group.assign(_order=group["backend"].map(order.index)).sort_values("_order")
        label = f"{key[0]} branch" + (f" ({where})" if where else "")
        head = f"{label}: {group['flop_saving'].iloc[0]:.1f}x fewer FLOPs"
        predicted: dict = {}  # device -> the branch's prediction from that device's roof
        for r in group.to_dict("records"):
            saving = r.get("predicted_saving", math.nan)
            if saving == saving:  # not NaN: a roof predicted it
                predicted.setdefault(r.get("roof_device") or "cpu", saving)  # older tables: CPU only
        for device, saving in predicted.items():
            place = "on this machine" if list(predicted) == ["cpu"] else ROOF_PLACES.get(device, f"on {device}")
            lines.append(f"{head}; at best {saving:.1f}x less time {place} (roofline bound of each "
                         "layer from the measured peak)")
        lines += [f"{head}; time saved {saving_text(r)}" for r in group.itertuples()]
    return lines
