"""Network totals in words: one line per batch/dtype/threads, each total with its coverage and trust mark.

Reads like ``resnet50 convs [part of ResNet-50: the stem and the first bottleneck
block of each stage, 36% of its multiply-adds]: 1.2 ms/image on numpy, 0.9! ms/image
on numba-cpu (untrusted: 2 rows noisy)``. A total that did not
run every layer says ``partial``; a fused chain backend's total says which
backend's times fill in the layers outside its chains.
"""
from __future__ import annotations

import math

from ..totals import coverage, layer_set_macs, network_totals
from .fmt import fmt_count
from .verdicts import backend_order


def total_text(r) -> str:
    """"0.9! ms/image on numba-cpu (untrusted: ...)" for one row of :func:`harness.totals.network_totals`."""
    mark = "" if r.trusted else "!"
    text = f"{r.ms_per_image:.3g}{mark} ms/image on {r.backend}"
    if isinstance(r.fused_with, str) and r.fused_with:
        text += f" (fused chains + {r.fused_with}'s other layers)"
    if r.partial:
        text += f" (partial: {r.layers - r.layers_ok} of {r.layers} layers not run)"
    if not r.trusted:
        flags = ", ".join(r.flags.split(";")) if isinstance(r.flags, str) and r.flags else "unchecked"
        text += f" (untrusted: {r.untrusted} {'row' if r.untrusted == 1 else 'rows'} {flags})"
    return text


def part_label(cov: dict | None) -> str:
    """" [part of ResNet-50: the stem ..., 36% of its multiply-adds]", " [synthetic layers, not a network]", or
    "" for a whole network."""
    if not cov:
        return ""
    if not cov["network"]:
        return f" [{cov['part']}]"
    share = cov["macs"] / cov["network_macs"] if cov["network_macs"] else math.nan
    of = f", {share:.0%} of its multiply-adds" if math.isfinite(share) else ""
    return f" [part of {cov['network']}: {cov['part']}{of}]"


def total_lines(totals, name: str, cov: dict | None = None) -> list[str]:
    """"NAME convs [part] (N=1): 1.23 ms/image on numpy, 0.98 ms/image on numba-cpu (partial: ...)", one line
    per batch/dtype/threads combination, backends in registry order."""
    if totals is None or totals.empty:
        return []
    lines = []
    varying = [c for c in ("N", "dtype", "threads") if totals[c].nunique() > 1]
    order = backend_order(totals["backend"])
    for key, part in totals.groupby(varying or (lambda _: 0), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        where = f" ({', '.join(f'{c}={v}' for c, v in zip(varying, key))})" if varying else ""
        part = part[part["layers_ok"] > 0]
        if part.empty:
            continue
        part = part.assign(_o=part["backend"].map(order.index)).sort_values("_o", kind="stable")
        lines.append(f"{name} convs{part_label(cov)}{where}: " + ", ".join(total_text(r) for r in part.itertuples()))
    return lines


def macs_text(table, name: str, cov: dict | None = None) -> str | None:
    """"NAME: 17 layers, 1.47 G multiply-adds per image (36% of ResNet-50's 4.09 G)"; None without FLOPs."""
    measured = layer_set_macs(table)
    if measured is None:
        return None
    layers, macs = measured
    text = f"{name}: {layers} layers, {fmt_count(macs)} multiply-adds per image"
    if cov and cov["network"] and cov["network_macs"]:
        text += f" ({macs / cov['network_macs']:.0%} of {cov['network']}'s {fmt_count(cov['network_macs'])})"
    return text


def totals_block(table, name: str, preset: str | None) -> list[str]:
    """Every totals line of a run (:func:`total_lines`, then :func:`macs_text`), as the views print them."""
    cov = coverage(table, preset)
    lines = total_lines(network_totals(table), name, cov)
    macs = macs_text(table, name, cov)
    return lines + [macs] if lines and macs else lines
