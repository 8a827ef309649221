"""What a sweep measures: settings -> preset and cases -> points, each with its one index in the run.

A *point* is one backend on one case. Convolution backends measure every case; a
fused chain backend (:mod:`harness.backends`) measures every reduction branch, as a
:class:`harness.fused.ChainCase` placed right after the branch's conv case. Points
are numbered in that order - case by case, backend by backend - and the number is
the row's ``point`` column, the same whichever executor measured it.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass

from .backends import CHAIN, kind_of
from .cases import build_cases, check_no_overflow, point_key
from .fused import chain_cases
from .layerfile import layers_preset, load_layer_file
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


def plan_points(cases, backends) -> list[Point]:
    """Every point of a sweep, in sweep order (see the module docstring)."""
    conv = [b for b in backends if kind_of(b) != CHAIN]
    chains = [b for b in backends if kind_of(b) == CHAIN]
    pairs = chain_cases(cases) if chains else {}
    groups = []
    for case in cases:
        groups.append((case, conv))
        if case in pairs:
            groups.append((pairs[case], chains))
    points = []
    for group, (case, names) in enumerate(groups):
        for backend in names:
            points.append(Point(len(points), backend, case, point_key(backend, case), group))
    return points


def resolve_cases(settings: SweepSettings):
    """(preset, cases) for ``settings``; raises ValueError for a bad layer file, too many threads, or axis values
    whose FLOPs or bytes overflow int64."""
    overrides = settings.overrides()
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
    return load_layer_file(settings.layers)[1] if settings.layers else []
