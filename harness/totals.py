"""Network totals: the count-weighted time per image of a run's layer set, per backend.

A preset or layer file is a network's convolutions; ``count`` says how often the
network runs each one (ResNet-18's 20 convolutions are 11 shapes). The total per
image is ``sum(count * time_s) / N`` over the layers a backend ran; layers that
are only there for the reduction study (role ``direct``: a kxk applied to the
unreduced input, not part of the network) are left out. A backend that did not
run every layer gets a ``partial`` total.
"""
from __future__ import annotations

import math

#: Paper figures worth putting beside a measured total: preset -> (what, multiply-adds).
PAPER_MACS = {"inception": ("GoogLeNet (whole network, paper: 'Going Deeper with Convolutions')", 1.5e9),
              "inception3a": ("GoogLeNet (whole network, paper: 'Going Deeper with Convolutions')", 1.5e9)}
GROUP = ["backend", "N", "dtype", "threads"]


def network_rows(table):
    """The rows that belong to the network (not the reduction study's hypothetical direct layers)."""
    if "role" not in table.columns:
        return table
    return table[table["role"].astype(str) != "direct"]


def network_totals(table):
    """Per backend, N, dtype and threads: layers, layers run, total seconds per batch, ms per image, partial."""
    import pandas as pd

    rows = []
    net = network_rows(table)
    if net.empty:
        return pd.DataFrame(columns=GROUP + ["layers", "layers_ok", "total_s", "ms_per_image", "partial"])
    counts = net["count"].fillna(1).astype(float) if "count" in net.columns else 1.0  # float: never overflows
    net = net.assign(_count=counts)
    for key, part in net.groupby(GROUP, sort=False):
        ok = part[part["status"] == "ok"]
        total_s = float((ok["_count"] * ok["time_s"]).sum()) if len(ok) else float("nan")  # none ran: unknown
        n = int(key[1]) if key[1] == key[1] else 1
        rows.append(dict(zip(GROUP, key), layers=len(part), layers_ok=len(ok), total_s=total_s,
                         ms_per_image=1e3 * total_s / max(n, 1), partial=len(ok) < len(part)))
    return pd.DataFrame(rows)


def total_lines(totals, name: str) -> list[str]:
    """"NAME convs (N=1): 1.23 ms/image on numpy, 0.98 on numba-cpu (partial: 3 of 11 layers not run)"."""
    from .render.verdicts import backend_order

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
        part = part.assign(_o=part["backend"].map(order.index)).sort_values("_o")
        texts = [f"{r.ms_per_image:.3g} ms/image on {r.backend}" + (
            f" (partial: {r.layers - r.layers_ok} of {r.layers} layers not run)" if r.partial else "")
            for r in part.itertuples()]
        lines.append(f"{name} convs{where}: " + ", ".join(texts))
    return lines


def macs_line(table, preset: str | None) -> str | None:
    """The layer set's multiply-adds per image (count-weighted), beside the paper's figure where there is one."""
    net = network_rows(table)
    if net.empty or "flops" not in net.columns:
        return None
    first = net[net["backend"] == net["backend"].iloc[0]]
    first = first[first["N"] == first["N"].min()]
    counts = first["count"].fillna(1).astype(float) if "count" in first.columns else 1.0
    macs = float((counts * first["flops"].astype(float) / 2 / first["N"]).sum())  # float: int64 would wrap
    if not math.isfinite(macs) or macs <= 0:
        return None
    text = f"{len(first)} layers, {macs / 1e9:.3g} G multiply-adds per image"
    if preset in PAPER_MACS:
        what, paper = PAPER_MACS[preset]
        text += f" (Inception modules only; {what}: {paper / 1e9:.1f} G)"
    return text
