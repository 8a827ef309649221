"""Cases: the points of a sweep, built as layers x axis values, and the ``--axis`` parser.

A :class:`Case` is frozen and knows its :class:`kernels.ConvSpec`; its name is
the layer label plus the value of every axis that varies in the sweep, and of every
single ``--axis`` value that changes the layer (``--axis k=7``: "1x1 k=7"), so names
are unique within one backend, say what was measured, and are stable across runs
(``compare`` and ``--resume`` match on them).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from kernels import SUPPORTED_DTYPES, ConvSpec, ShapeOverflowError, resolve_padding

from .errors import did_you_mean
from .layers import AXES, MAX_DIM, POINT_KEY, Layer
from .presets import Preset


@dataclass(frozen=True)
class Case:
    """One point of a sweep (before choosing a backend): a layer with every axis fixed.

    ``layer`` carries the shape with every axis applied (its ``dtype`` None means float32);
    ``threads`` is how many threads every library may use for this point.
    """

    name: str
    layer: Layer
    threads: int
    kind = "conv"  # a point's kind (see harness.fused.ChainCase for the other one)

    @property
    def dtype(self) -> str:
        """The case's dtype (float32 unless an axis or the layer says otherwise)."""
        return self.layer.dtype or "float32"

    @property
    def spec(self) -> ConvSpec:
        """The convolution's ConvSpec (raises ValueError/TypeError for an impossible shape)."""
        shape = self.layer.shape()
        shape["padding"] = resolve_padding(shape["padding"], shape["k"])
        return ConvSpec(dtype=self.dtype, **shape)

    def fields(self) -> dict:
        """The case's columns of a run table: name, layer label, shape, dtype, threads, branch, role, count."""
        layer = self.layer
        return dict(case=self.name, **layer.shape(), dtype=self.dtype, threads=self.threads, layer=layer.label,
                    branch=layer.branch, role=layer.role, count=layer.count)

    @functools.cached_property
    def key_text(self) -> tuple[str, ...]:
        """:attr:`key` as strings, made once: every backend's point key shares them (a million-case sweep keeps
        one set of strings, not one per backend)."""
        return tuple(str(v) for v in self.key)

    @property
    def key(self) -> tuple:
        """Identity of the point within a run (without the backend): ``POINT_KEY`` less the backend."""
        layer = self.layer
        return (self.name, *(getattr(layer, name) for name in _KEY_SHAPE), self.dtype, self.threads)


#: The shape fields of ``POINT_KEY``, between the case name and dtype, threads (checked at import).
_KEY_SHAPE = POINT_KEY[2:-2]
assert POINT_KEY[:2] == ("backend", "case") and POINT_KEY[-2:] == ("dtype", "threads")


def point_key(backend: str, case: Case) -> tuple:
    """The (backend, case identity) key of a point, as strings, matching ``POINT_KEY`` columns read from disk."""
    return (str(backend), *case.key_text)


#: Largest value an integer axis accepts (beyond it, sizes overflow the kernels' integer types).
MAX_AXIS_VALUE = MAX_DIM


def parse_axis_value(name: str, text: str):
    """Parse one value of axis ``name``; raises ValueError naming the axis and the allowed values."""
    text = text.strip()
    if name == "dtype":
        if text not in SUPPORTED_DTYPES:
            raise ValueError(f"axis dtype: {text!r} is not one of {', '.join(SUPPORTED_DTYPES)}")
        return text
    if name == "padding" and text == "same":
        return text
    try:
        if not text.isascii() or "_" in text:  # int() takes '1_000', '３' and '١': a layer file refuses them too
            raise ValueError(text)
        value = int(text)
    except ValueError:
        allowed = "an int >= 0 or 'same'" if name == "padding" else "an int"
        raise ValueError(f"axis {name}: {text!r} is not {allowed}") from None
    minimum = 0 if name == "padding" else 1
    if value < minimum:
        raise ValueError(f"axis {name}: {value} must be >= {minimum}")
    if value > MAX_AXIS_VALUE:
        raise ValueError(f"axis {name}: {value} is absurdly large (at most {MAX_AXIS_VALUE})")
    return value


def parse_axis(text: str) -> tuple[str, tuple]:
    """Parse ``NAME=v1,v2`` into (name, values); raises ValueError naming what is wrong."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not values.strip():
        raise ValueError(f"--axis {text!r}: expected NAME=v1,v2 with NAME one of {', '.join(AXES)}")
    if name not in AXES:
        raise ValueError(f"unknown axis {name!r}{did_you_mean(name, AXES)}; axes are: {', '.join(AXES)}")
    parsed = tuple(parse_axis_value(name, v) for v in values.split(","))
    return name, tuple(dict.fromkeys(parsed))


def build_cases(preset: Preset, overrides: dict | None = None, *, default_threads: int = 1,
                layers: Sequence[Layer] | None = None) -> Sequence[Case]:
    """Expand ``preset`` (or ``layers``) into Cases: every layer x every combination of axis values.

    ``overrides`` maps axis name -> tuple of values and replaces the preset's axis
    (or the layer's own value) for every layer. Cases are returned in layer order (a list; for layers made as
    they are read, a :class:`LayerCases` made as it is read, when no axis changes a layer);
    impossible shapes are kept (their ``spec`` raises) so the sweep can record them.
    """
    axes = {"threads": (default_threads,)}
    axes.update(preset.axes)
    axes.update(overrides or {})
    varying = [a for a in AXES if len(axes.get(a, ())) > 1]
    names = [a for a in AXES if a in axes]
    layers = layers if layers is not None else preset.layers
    if names == ["threads"] and len(axes["threads"]) == 1:  # no axis changes a layer (a layer file's sweep)
        cases = LayerCases(layers, axes["threads"][0])
        return cases if not isinstance(layers, (list, tuple)) else list(cases)  # made as read, as the layers are
    cases = []
    for layer in layers:
        base = dict(layer.shape(), dtype=layer.dtype or "float32", threads=default_threads)
        # a single --axis value that changes this layer is named too: "1x1 k=7", not a 7x7 called "1x1"
        named = varying + [a for a in AXES if a not in varying and a != "threads" and a in (overrides or {})
                           and base[a] != axes[a][0]]
        for combo in itertools.product(*(axes[a] for a in names)):
            values = dict(base, **dict(zip(names, combo)))
            suffix = " ".join(_axis_label(a, values[a]) for a in AXES if a in named)
            threads = values.pop("threads")
            changed = {a: v for a, v in values.items() if base[a] != v}  # float32 is what a dtype-less layer is
            # the layer itself when no axis changes it: replace() for each of a million layers costs seconds
            cases.append(Case(name=f"{layer.label} {suffix}".strip(),
                              layer=dataclasses.replace(layer, **changed) if changed else layer, threads=threads))
    return cases


class LayerCases(Sequence):
    """The cases of layers that no axis changes, one a layer, each made when it is read: the cases of a layer file
    of a million plain rows (:class:`harness.layercsv.LayerColumns`) cost nothing before a sweep starts."""

    def __init__(self, layers, threads: int):
        self.layers, self.threads = layers, threads

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.case(self.layers[index])

    def __iter__(self):
        return map(self.case, self.layers)

    def case(self, layer: Layer) -> Case:
        """The case of ``layer``: its label for a name (as :func:`build_cases` names it), these threads."""
        return Case(name=layer.label.strip(), layer=layer, threads=self.threads)


def most_threads(cases) -> int:
    """The most threads a case of ``cases`` uses (read off :class:`LayerCases` without making its cases)."""
    if isinstance(cases, LayerCases):
        return cases.threads
    return max((case.threads for case in cases), default=1)


def check_no_overflow(cases) -> None:
    """Raise ShapeOverflowError naming the first case whose FLOPs or bytes overflow int64 (``--axis`` values
    that multiply beyond any real convolution); other impossible shapes are left to the sweep's rows."""
    for case in cases:
        try:
            case.spec  # noqa: B018 - building it is the check
        except ShapeOverflowError as exc:
            raise ShapeOverflowError(f"case {case.name!r}: {exc}") from None
        except (TypeError, ValueError):
            continue


def _axis_label(axis: str, value) -> str:
    if axis == "dtype":
        return str(value)
    if axis == "threads":
        return f"t={value}"
    return f"{axis}={value}"
