"""The fields of a layer file, and a CSV layer file of plain rows read column by column.

A layer file of a million rows is read in a few seconds when every row is plain: the
header names known fields (each once, the required ones among them), every row has one
value per column, counts are digits within range, padding digits or ``same``, dtypes
known, labels non-empty and unique, no reduction links, no impossible shape. Each of
these is checked on a whole column at once. :func:`plain_csv_layers` returns None for
anything else, and :mod:`harness.layerfile`'s row-by-row reader then reads the file and
names the file, line and field that is wrong - one reader of errors, whatever the size.
"""
from __future__ import annotations

import csv
import functools
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

from kernels import SUPPORTED_DTYPES, ConvSpec, resolve_padding

from .layers import INT_SHAPE_FIELDS, MAX_DIM, Layer

REQUIRED = ("label", "C", "H", "W", "F", "k")
OPTIONAL = {"N": 1, "stride": 1, "padding": 0, "dtype": None, "reduce_of": None, "direct_of": None,
            "count": 1}
INT_FIELDS = (*INT_SHAPE_FIELDS, "count")
#: A column of counts, joined with newlines: digits only, one number a line.
_COUNTS = re.compile(r"[0-9]+(?:\n[0-9]+)*")
_PADDINGS = re.compile(r"(?:[0-9]+|same)(?:\n(?:[0-9]+|same))*")
_SHAPE_ORDER = ("N", "C", "H", "W", "F", "k", "stride", "padding")


_INT_TEXT = re.compile(r"-?[0-9]+")  # a CSV cell that is an int ("²" is a digit to str.isdigit, not to int())


def check_field(name: str, value, text: bool = False):
    """One field's value, checked (ValueError naming the field otherwise); ``text``: a CSV cell, where numbers
    arrive as text (TOML has real ints)."""
    if name in INT_FIELDS:
        if text and type(value) is str and _INT_TEXT.fullmatch(value):
            value = int(value)
        if type(value) is not int or value < 1:  # type(): a bool is no count
            raise ValueError(f"field {name!r} must be an int >= 1, got {value!r}")
        if value > MAX_DIM:
            raise ValueError(f"field {name!r} = {value} is absurdly large (at most {MAX_DIM})")
        return value
    if name == "padding":
        if text and isinstance(value, str) and _INT_TEXT.fullmatch(value):
            value = int(value)
        if value != "same" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"field 'padding' must be an int >= 0 or 'same', got {value!r}")
        if value != "same" and value > MAX_DIM:
            raise ValueError(f"field 'padding' = {value} is absurdly large (at most {MAX_DIM})")
        return value
    if name == "dtype" and value not in SUPPORTED_DTYPES:
        raise ValueError(f"field 'dtype' must be one of {', '.join(SUPPORTED_DTYPES)}, got {value!r}")
    if not isinstance(value, str) or not value:
        raise ValueError(f"field {name!r} must be a non-empty string, got {value!r}")
    return value


def checked_fields(entry: dict, text: bool = False) -> dict:
    """``entry``'s fields checked (:func:`check_field`) over the defaults, and its shape checked: what a layer
    file's reader accepts, or ValueError saying what it refuses (without file or entry; the caller names them)."""
    values = dict(OPTIONAL, **{k: check_field(k, v, text=text) for k, v in entry.items()})
    problem = shape_problem(*(values[f] for f in _SHAPE_ORDER))
    if problem:
        raise ValueError(f"impossible shape: {problem}")
    return values


def layer_problem(entry: dict) -> str | None:
    """Why a layer file's reader would refuse a layer of these fields (:func:`checked_fields`), or None."""
    try:
        checked_fields(entry)
    except ValueError as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=4096)
def shape_problem(N: int, C: int, H: int, W: int, F: int, k: int, stride: int, padding) -> str | None:
    """Why no ConvSpec has this shape, or None (cached: a network repeats its shapes)."""
    try:
        ConvSpec(N=N, C=C, H=H, W=W, F=F, k=k, stride=stride, padding=resolve_padding(padding, k))
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def _counts(column: tuple[str, ...]) -> list[int] | None:
    """The column's values as counts 1..MAX_DIM, or None when one is anything else."""
    if not _COUNTS.fullmatch("\n".join(column)):
        return None
    try:
        values = list(map(int, column))
    except ValueError:  # a quoted cell holding a newline between digits
        return None
    return values if min(values) >= 1 and max(values) <= MAX_DIM else None


def _paddings(column: tuple[str, ...]) -> list | None:
    """The column's values as paddings (an int 0..MAX_DIM or "same"), or None when one is anything else."""
    if not _PADDINGS.fullmatch("\n".join(column)):
        return None
    try:
        values = [v if v == "same" else int(v) for v in column]
    except ValueError:  # a quoted cell holding a newline
        return None
    return values if max((v for v in values if v != "same"), default=0) <= MAX_DIM else None


def _column(name: str, column: tuple[str, ...]) -> list | None:
    """One column's checked values (a column of defaults when all its cells are empty), or None."""
    if name in ("reduce_of", "direct_of"):
        return [None] * len(column) if not any(column) else None  # links: the row-by-row reader checks them
    if name == "label":
        labels = list(column)
        plain = all(labels) and list(map(str.strip, labels)) == labels and len(set(labels)) == len(labels)
        return labels if plain else None
    if name in INT_FIELDS:
        return _counts(column)
    if name == "padding":
        return _paddings(column)
    dtypes = set(column)  # dtype
    if not dtypes <= {*SUPPORTED_DTYPES, ""}:
        return None
    return [v or None for v in column] if "" in dtypes else list(column)


def plain_csv_layers(path: Path) -> LayerColumns | None:
    """The layers of a CSV layer file of plain rows (see the module docstring), made as they are read; or None
    when a row is not plain."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header or len(set(header)) != len(header) or not set(REQUIRED) <= set(header) <= {*REQUIRED,
                                                                                                       *OPTIONAL}:
                return None  # also a header with spaces around a name: the row-by-row reader strips them
            rows = [row for row in reader if row]
    except (UnicodeDecodeError, csv.Error):  # the row-by-row reader says what
        return None
    if not rows or any(len(row) != len(header) for row in rows):
        return None
    columns = {}
    for name, column in zip(header, zip(*rows)):
        columns[name] = _column(name, column)
        if columns[name] is None:
            return None
    n = len(rows)
    del rows
    fields = {name: columns.get(name) or [default] * n for name, default in OPTIONAL.items()}
    fields.update((name, columns[name]) for name in REQUIRED)
    if any(shape_problem(*shape) for shape in set(zip(*(fields[f] for f in _SHAPE_ORDER)))):
        return None
    return LayerColumns(fields)


class LayerColumns(Sequence):
    """The layers of a plain CSV layer file, kept as its checked columns: each :class:`Layer` is made when it is
    read, so a sweep of a million layers starts without making a million of them first."""

    def __init__(self, fields: dict[str, list]):
        self.columns = [fields[name] for name in _LAYER_ORDER]

    def __len__(self) -> int:
        return len(self.columns[0])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return _layer(*(column[index] for column in self.columns))

    def __iter__(self):
        return itertools.starmap(_layer, zip(*self.columns))


#: Layer's fields in the order it takes them (branch and role are None: a plain file has no reduction links).
_LAYER_ORDER = ("label", "C", "H", "W", "F", "k", "stride", "padding", "N", "dtype", "count")


def _layer(label, C, H, W, F, k, stride, padding, N, dtype, count) -> Layer:
    return Layer(label, C, H, W, F, k, stride, padding, N, None, None, dtype, count)
