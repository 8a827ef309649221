"""What a sweep measures: settings -> preset and cases -> points, each with its one index in the run.

A *point* is one backend on one case. Convolution backends measure every case; a
fused chain backend (:mod:`harness.backends`) measures every reduction branch, as a
:class:`harness.fused.ChainCase` placed right after the branch's conv case. Points
are numbered in that order - case by case, backend by backend - and the number is
the row's ``point`` column, the same whichever executor measured it.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass

from .backends import CHAIN, kind_of
from .cases import LayerCases, build_cases, check_no_overflow, parse_axis, point_key
from .fused import chain_cases
from .layercsv import LayerColumns
from .layerfile import layers_preset, read_layer_file
from .layers import SHAPE_FIELDS
from .presets import get_preset
from .settings import SweepSettings
from .threads import max_threads


@dataclass(frozen=True)
class Point:
    """One backend on one case (a Case or a ChainCase): its index in the run, its key, its case group."""

    index: int
    backend: str
    case: object
    key: tuple
    group: int  # points of one group share the case's data


def chain_pairs(cases, chains) -> dict:
    """{conv case: its ChainCase} when ``chains`` (chain backends) run; none without them, and none for the cases
    of a plain CSV layer file, which has no reduction links (so a million of them are not walked to find none)."""
    if not chains or (isinstance(cases, LayerCases) and isinstance(cases.layers, LayerColumns)):
        return {}
    return chain_cases(cases)


def iter_points(cases, backends) -> Iterator[Point]:
    """Every point of a sweep, in sweep order (see the module docstring), made one at a time as it is needed:
    a sweep of a million cases starts measuring without a million points and keys built first."""
    conv = [b for b in backends if kind_of(b) != CHAIN]
    chains = [b for b in backends if kind_of(b) == CHAIN]
    pairs = chain_pairs(cases, chains)
    index = group = 0
    for case in cases:
        for members, names in ((case, conv), (pairs.get(case) if pairs else None, chains)):
            if members is None:
                continue
            for backend in names:
                yield Point(index, backend, members, point_key(backend, members), group)
                index += 1
            group += 1


def plan_points(cases, backends) -> list[Point]:
    """Every point of a sweep, in sweep order, as a list (:func:`iter_points` makes them one at a time)."""
    return list(iter_points(cases, backends))


def count_points(cases, backends) -> int:
    """How many points :func:`iter_points` makes, without making them (no keys: cheap for a million cases)."""
    conv = sum(kind_of(b) != CHAIN for b in backends)
    chains = len(backends) - conv
    pairs = chain_pairs(cases, chains)
    return conv * len(cases) + (chains * sum(case in pairs for case in cases) if pairs else 0)


def planned_passes(cases, backends, repeats: int, done: set, kept: dict) -> int:
    """The passes a sweep plans to measure (a progress bar's total): ``repeats`` per point not ``done``, less the
    passes ``kept`` from before. Counted without making a point when nothing is done or kept (a new run)."""
    if not done and not kept:
        return repeats * count_points(cases, backends)
    return sum(max(0, repeats - len(kept.get(p.key, ()))) for p in iter_points(cases, backends)
               if p.key not in done)


def resolve_cases(settings: SweepSettings):
    """(preset, cases) for ``settings``; raises ValueError for a bad layer file, too many threads, or axis values
    whose FLOPs or bytes overflow int64."""
    overrides = settings.overrides()
    for name, values in overrides.items():  # dtype, threads and a resumed run's axes: checked as --axis checks them
        parse_axis(f"{name}={','.join(map(str, values))}")
    for t in overrides.get("threads", ()):
        if t > max_threads():
            raise ValueError(f"threads={t} exceeds the {max_threads()} threads Numba can use here (NUMBA_NUM_THREADS)")
    collecting = gc.isenabled()
    gc.disable()  # a million layers are millions of objects, none garbage yet: the collector would double the time
    try:
        preset = layers_preset(settings.layers) if settings.layers else get_preset(settings.preset)
        cases = build_cases(preset, overrides, default_threads=max_threads())
    finally:
        if collecting:
            gc.enable()
    if set(overrides) & set(SHAPE_FIELDS):  # presets and layer files were checked when loaded; axes multiply them
        check_no_overflow(cases)
    return preset, cases


def unsupported_layers(settings: SweepSettings) -> list:
    """The convolutions of the settings' layer file the kernels cannot run (benchdnn files), with reasons."""
    return list(read_layer_file(settings.layers)[1]) if settings.layers else []
