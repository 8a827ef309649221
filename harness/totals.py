"""Network totals: the count-weighted time per image of a run's layer set, per backend.

A preset or layer file is a network's convolutions (or a part of them: see
:func:`harness.networks.preset_part`); ``count`` says how often the network runs
each one (ResNet-18's 20 convolutions are 11 shapes). The total per image is
``sum(count * time_s) / N`` over the layers a backend ran. Left out: the
reduction study's direct layers (a kxk applied to the unreduced input, not part
of the network). A fused chain backend (``numba-cpu-fused``) measured only the
branches' reduce + conv pairs, so its total is its chains plus its unfused
twin's time for every other layer: a total for the same network, the branches
fused.

Every total says how many of the network's layers it covers (``partial`` when
not all) and whether the rows behind it are trusted (``untrusted`` of them, with
their ``flags``), so a total is never more certain than its rows.
"""
from __future__ import annotations

import math

from .backends import unfused_twin
from .fused import FUSED_ROLE
from .networks import preset_part
from .trust import is_trusted

GROUP = ["backend", "N", "dtype", "threads"]
TOTAL_COLUMNS = GROUP + ["layers", "layers_ok", "total_s", "ms_per_image", "partial", "untrusted", "flags",
                         "trusted", "fused_with"]


def network_rows(table):
    """The rows that are the network's layers: not the reduction study's hypothetical direct layers, not the
    fused chains (each stands for a reduce + conv pair of the network)."""
    if "role" not in table.columns:
        return table
    return table[~table["role"].astype(str).isin(["direct", FUSED_ROLE])]


def fused_rows(table):
    """The timed fused-chain rows of a run (none when it has no ``role`` column)."""
    if "role" not in table.columns:
        return table.iloc[0:0]
    return table[(table["role"].astype(str) == FUSED_ROLE) & (table["status"] == "ok")]


def total_of(rows, layers: int, covered: int, **key) -> dict:
    """One total: ``rows`` are the timed rows it adds up (each ``count`` times), covering ``covered`` of the
    network's ``layers``."""
    flags = sorted({f for text in rows["flags"] if isinstance(text, str) for f in text.split(";") if f}) \
        if "flags" in rows.columns else []
    untrusted = sum(not is_trusted(r) for r in rows.to_dict("records"))
    total_s = float((rows["_count"] * rows["time_s"]).sum()) if len(rows) else math.nan  # none ran: unknown
    n = int(key["N"]) if key["N"] == key["N"] else 1
    return dict(key, layers=layers, layers_ok=covered, total_s=total_s, ms_per_image=1e3 * total_s / max(n, 1),
                partial=covered < layers, untrusted=untrusted, flags=";".join(flags), trusted=untrusted == 0,
                fused_with=None)


def network_totals(table):
    """Per backend, N, dtype and threads: layers, layers run, total seconds per batch, ms per image, partial,
    trust (``untrusted`` rows, their ``flags``, ``trusted``); fused chain backends combined with their twin
    (``fused_with``)."""
    import pandas as pd

    net = network_rows(table)
    if net.empty:
        return pd.DataFrame(columns=TOTAL_COLUMNS)
    net = net.assign(_count=net["count"].fillna(1).astype(float) if "count" in net.columns else 1.0)  # float: never wraps
    fused = fused_rows(table)
    fused = fused.assign(_count=fused["count"].fillna(1).astype(float) if "count" in fused.columns else 1.0)
    rows = []
    for (n, dtype, threads), group in net.groupby(GROUP[1:], sort=False):
        cases = set(group["case"])  # the network's layers at this batch, dtype and threads
        key = dict(N=n, dtype=dtype, threads=threads)
        for backend, part in group.groupby("backend", sort=False):
            ok = part[part["status"] == "ok"]
            rows.append(total_of(ok, len(cases), len(ok), backend=backend, **key))
        same = (fused["N"] == n) & (fused["dtype"] == dtype) & (fused["threads"].astype(str) == str(threads))
        for backend, chains in fused[same].groupby("backend", sort=False):
            rows.append(fused_total(chains, group, unfused_twin(backend), backend=backend, **key))
    return pd.DataFrame(rows, columns=TOTAL_COLUMNS)


def fused_total(chains, group, twin: str | None, **key) -> dict:
    """The total of fused ``chains`` (one row per branch) with the ``twin`` backend's rows for the network
    layers no chain covers (``group``: the network rows at the chains' batch, dtype and threads)."""
    in_chain = group["branch"].isin(set(chains["branch"])) & group["role"].astype(str).isin(["reduce", "conv"])
    rest = group[~in_chain & (group["backend"] == twin) & (group["status"] == "ok")]
    covered = set(group.loc[in_chain, "case"]) | set(rest["case"])
    import pandas as pd

    total = total_of(pd.concat([chains, rest]), group["case"].nunique(), len(covered), **key)
    return dict(total, fused_with=twin if len(rest) else None)


def layer_set_macs(table) -> tuple[int, float] | None:
    """(layers, multiply-adds per image, count-weighted) of a run's network layers, or None without FLOPs."""
    net = network_rows(table)
    if net.empty or "flops" not in net.columns:
        return None
    # one row per layer, whatever backend, batch, dtype and threads measured it (a layer may have its own N)
    # the layer's label (a case name carries the axis values: "3a 1x1 N=8") and its shape
    shape = [c for c in ("layer" if "layer" in net.columns else "case", "C", "H", "W", "F", "k", "stride", "padding")
             if c in net.columns]
    layers = net.drop_duplicates(subset=shape)
    counts = layers["count"].fillna(1).astype(float) if "count" in layers.columns else 1.0
    macs = float((counts * layers["flops"].astype(float) / 2 / layers["N"].astype(float)).sum())  # float: never wraps
    return (len(layers), macs) if math.isfinite(macs) and macs > 0 else None


def coverage(table, preset: str | None) -> dict | None:
    """What a run's layer set is of its network: ``network`` (None: not one network), ``part`` (words),
    ``macs`` (the layer set's per image) and ``network_macs`` (the whole network's, or None). None for a
    layer file or unknown preset, which is taken to be a whole network."""
    part = preset_part(preset)
    measured = layer_set_macs(table)
    if part is None:
        return None
    return dict(network=part.network, part=part.part, macs=measured[1] if measured else math.nan,
                network_macs=part.network_macs)

