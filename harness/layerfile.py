"""Layers from a file: ``--layers FILE.toml`` (``.csv``, or benchdnn descriptor lines), validated with file,
entry and field in every error.

TOML: one ``[[layer]]`` table per layer. CSV: one row per layer with a header.
Fields: ``label``, ``C``, ``H``, ``W``, ``F``, ``k`` (required); ``N`` (1), ``stride``
(1), ``padding`` (0; an int or "same"), ``dtype`` (the sweep's), and the optional
links ``reduce_of = "LABEL"`` (this 1x1 layer is the reduction in front of layer
LABEL) and ``direct_of = "LABEL"`` (this layer is LABEL applied straight to the
unreduced input), which feed the reduction study; ``count`` (1) is how many times the
network runs the layer.

Any other file is read as oneDNN benchdnn descriptor lines (:mod:`harness.benchdnn`);
convolutions the kernels cannot run are returned apart, with the reason, by
:func:`load_layer_file`.
"""
from __future__ import annotations

import csv
import functools
import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from kernels import resolve_padding

from .benchdnn import load_descriptor_file
from .layercsv import OPTIONAL, REQUIRED, LayerColumns, checked_fields, plain_csv_layers, shape_problem
from .layers import Layer
from .presets import Preset

class LayerFileError(ValueError):
    """A layer file that cannot be used; the message names the file, the entry and the field."""


class Unsupported(NamedTuple):
    """A convolution of a layer file the kernels cannot run: label, reason, benchdnn descriptor, count."""

    label: str
    reason: str
    desc: str
    count: int


def _read_entries(path: Path) -> list[tuple[str, dict]]:
    if not path.is_file():
        raise LayerFileError(f"{path}: {'a directory, not a layer file' if path.is_dir() else 'no such layer file'}")
    try:
        return _parse_entries(path)
    except UnicodeDecodeError as exc:
        raise LayerFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise LayerFileError(f"{path}: nested too deeply to be a layer file") from None


def _parse_entries(path: Path) -> list[tuple[str, dict]]:
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a BOM from an editor is fine
        except tomllib.TOMLDecodeError as exc:
            raise LayerFileError(f"{path}: not valid TOML: {exc}") from None
        return _toml_entries(path, data.get("layer"))
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:  # Excel's "CSV UTF-8" starts with a BOM
            reader = csv.DictReader(fh)
            header = [name.strip() for name in reader.fieldnames or []]
            twice = next((name for name in header if name and header.count(name) > 1), None)
            if twice:
                raise LayerFileError(f"{path}: line 1: column {twice!r} appears twice")
            rows = list(reader)
        if not rows:
            raise LayerFileError(f"{path}: no layers (a header and one row per layer expected)")
        extra = next((i for i, row in enumerate(rows, start=2) if any(v.strip() for v in row.get(None) or [])), None)
        if extra is not None:
            raise LayerFileError(f"{path}: line {extra}: more values than the header has columns")
        return [(f"line {i}", {k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()})
                for i, row in enumerate(rows, start=2)]
    raise LayerFileError(f"{path}: not a .toml or .csv layer file")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _toml_entries(path: Path, entries) -> list[tuple[str, dict]]:
    """The ``[[layer]]`` tables of a TOML layer file: an array of tables, each a table (tomllib's dict)."""
    if isinstance(entries, dict):
        raise LayerFileError(f"{path}: 'layer' is one [layer] table; write [[layer]] (an array of tables, one "
                             "per layer)")
    if not isinstance(entries, list) or not entries:
        got = "" if entries is None or entries == [] else f", got layer = {_short(entries)}"
        raise LayerFileError(f"{path}: expected one or more [[layer]] tables{got}")
    for i, e in enumerate(entries, start=1):
        if not isinstance(e, dict):  # a number, a string, a list of pairs: no table
            raise LayerFileError(f"{path}: layer {i}: expected a [[layer]] table, got {_short(e)}")
    return [(f"layer {i}", e) for i, e in enumerate(entries, start=1)]


def load_layer_file(path: str | Path) -> tuple[list[Layer], list[Unsupported]]:
    """(runnable layers, unsupported convolutions) of a layer file, in file order each.

    Only benchdnn descriptor files hold unsupported entries (TOML/CSV layers are all runnable
    or an error); each becomes a skipped row that says why.
    """
    layers, unsupported = read_layer_file(path)
    return list(layers), list(unsupported)


def read_layer_file(path: str | Path) -> tuple[Sequence[Layer], tuple[Unsupported, ...]]:
    """:func:`load_layer_file`'s answer as immutable sequences, the layers of a plain CSV made as they are read.

    A file is parsed once per process (and per version of it): a sweep reads its layers more than once, and a
    file may hold a million.
    """
    path = Path(path)
    if not path.is_file():
        raise LayerFileError(f"{path}: {'a directory, not a layer file' if path.is_dir() else 'no such layer file'}")
    try:
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise LayerFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return _parsed(path, str(path.resolve()), digest)


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, resolved: str, digest: str) -> tuple[Sequence[Layer], tuple]:
    """(runnable layers, unsupported) of the file ``path`` whose bytes hash to ``digest`` (the cache key)."""
    if path.suffix.lower() in (".toml", ".csv"):
        plain = plain_csv_layers(path) if path.suffix.lower() == ".csv" else None
        return (plain if plain is not None else tuple(_table_layers(path))), ()
    try:
        entries = load_descriptor_file(path)
    except ValueError as exc:
        raise LayerFileError(str(exc)) from None
    if not entries:
        raise LayerFileError(f"{path}: no layers (expected benchdnn descriptor lines, or a .toml/.csv file)")
    for e in entries:
        layer = e.layer
        problem = layer and shape_problem(layer.N, layer.C, layer.H, layer.W, layer.F, layer.k, layer.stride,
                                           layer.padding)
        if problem:  # a shape benchdnn would take whose FLOPs or bytes overflow int64
            raise LayerFileError(f"{path}: line {e.line} ({e.label!r}): impossible shape: {problem}")
    return (tuple(e.layer for e in entries if e.layer is not None),
            tuple(Unsupported(e.label, e.reason, e.desc, e.count) for e in entries if e.layer is None))


def load_layers(path: str | Path) -> list[Layer]:
    """Parse and validate a layer file into Layers (reduction links resolved into branch/role).

    For a benchdnn descriptor file, only the layers the kernels can run (see :func:`load_layer_file`).
    """
    return list(runnable_layers(path))


def runnable_layers(path: str | Path) -> Sequence[Layer]:
    """:func:`load_layers` as an immutable sequence (a plain CSV's layers made as they are read)."""
    layers, unsupported = read_layer_file(path)
    if not layers:  # only a benchdnn file can hold nothing runnable (a TOML/CSV one without layers is an error)
        first = unsupported[0]
        raise LayerFileError(f"{path}: no layer the kernels can run ({len(unsupported)} unsupported; "
                             f"{first.label!r}: {first.reason})")
    return layers


def _table_layers(path: Path) -> list[Layer]:
    """The layers of a TOML or CSV layer file, every field and link checked."""
    parsed = []
    text = path.suffix.lower() == ".csv"
    good_keys = set()  # the field sets already checked (a CSV's rows share one)
    for entry_id, entry in _read_entries(path):
        where = f"{path}: {entry_id}" + (f" ({entry['label']!r})" if isinstance(entry.get("label"), str) else "")
        keys = frozenset(entry)
        if keys not in good_keys:
            unknown = sorted(keys - set(REQUIRED) - set(OPTIONAL))
            if unknown:
                raise LayerFileError(f"{where}: unknown field(s) {', '.join(unknown)}; "
                                     f"fields are {', '.join(REQUIRED + tuple(OPTIONAL))}")
            for name in REQUIRED:
                if name not in entry:
                    raise LayerFileError(f"{where}: missing field {name!r}")
            good_keys.add(keys)
        try:
            values = checked_fields(entry, text=text)
        except ValueError as exc:
            raise LayerFileError(f"{where}: {exc}") from None
        parsed.append((where, values))
    return _link(path, parsed)


def _link(path: Path, parsed: list[tuple[str, dict]]) -> list[Layer]:
    counts = Counter(v["label"] for _, v in parsed)  # linear: a million layers take a second, not hours
    labels = set(counts)
    duplicates = sorted(label for label, n in counts.items() if n > 1)
    if duplicates:
        raise LayerFileError(f"{path}: duplicate layer label(s) {', '.join(map(repr, duplicates))}")
    roles: dict[str, tuple[str, str]] = {}
    for where, v in parsed:
        for link, role in (("reduce_of", "reduce"), ("direct_of", "direct")):
            target = v[link]
            if target is None:
                continue
            if target not in labels:
                raise LayerFileError(f"{where}: field {link!r} names unknown layer {target!r}")
            if v["reduce_of"] and v["direct_of"]:
                raise LayerFileError(f"{where}: a layer is either reduce_of or direct_of, not both")
            roles[v["label"]] = (target, role)
            roles.setdefault(target, (target, "conv"))
    by_label = {v["label"]: v for _, v in parsed}
    for where, v in parsed:
        target = roles.get(v["label"], (None, None))[0]
        if target and roles[target][1] != "conv":
            raise LayerFileError(f"{where}: {target!r} is itself a reduce/direct layer, not the conv of a branch")
        if target and target != v["label"]:
            _check_branch(where, v, by_label[target], roles[v["label"]][1])
    _check_branch_members(path, roles, by_label)
    layers = []
    for _, v in parsed:
        branch, role = roles.get(v["label"], (None, None))
        layers.append(Layer(v["label"], C=v["C"], H=v["H"], W=v["W"], F=v["F"], k=v["k"], stride=v["stride"],
                            padding=v["padding"], N=v["N"], dtype=v["dtype"], branch=branch, role=role,
                            count=v["count"]))
    return layers


def _out_hw(v: dict) -> tuple[int, int]:
    pad = resolve_padding(v["padding"], v["k"])
    return ((v["H"] + 2 * pad - v["k"]) // v["stride"] + 1, (v["W"] + 2 * pad - v["k"]) // v["stride"] + 1)


def _check_branch(where: str, v: dict, conv: dict, role: str) -> None:
    """A reduce must feed its conv (F -> C, output size -> input size); a direct layer must take the reduce's
    input to the conv's output. Else the reduction study would report a branch that cannot exist."""
    (ho, wo), (conv_ho, conv_wo) = _out_hw(v), _out_hw(conv)
    if role == "reduce":
        problems = [f"its F={v['F']} is not the conv's C={conv['C']}"] if v["F"] != conv["C"] else []
        if (ho, wo) != (conv["H"], conv["W"]):
            problems.append(f"its output {ho}x{wo} is not the conv's input {conv['H']}x{conv['W']}")
    else:
        problems = [f"its F={v['F']} is not the conv's F={conv['F']}"] if v["F"] != conv["F"] else []
        if (ho, wo) != (conv_ho, conv_wo):
            problems.append(f"its output {ho}x{wo} is not the conv's output {conv_ho}x{conv_wo}")
    if v["N"] != conv["N"]:
        problems.append(f"its N={v['N']} is not the conv's N={conv['N']}")
    if problems:
        raise LayerFileError(f"{where}: {role}_of {conv['label']!r}, but {'; '.join(problems)}")


def _check_branch_members(path: Path, roles: dict, by_label: dict) -> None:
    """One reduce and one direct layer per conv, one dtype per branch, and a direct layer that takes the reduce's
    input (same C, H, W): the study compares the two ways through one branch."""
    for conv in {target for target, role in roles.values() if role == "conv"}:
        members = {role: [by_label[label] for label, (t, r) in roles.items() if t == conv and r == role]
                   for role in ("reduce", "direct")}
        for role, layers in members.items():
            if len(layers) > 1:
                raise LayerFileError(f"{path}: {len(layers)} layers are {role}_of {conv!r} "
                                     f"({', '.join(repr(v['label']) for v in layers)}); a branch has one")
        (reduce, *_), (direct, *_) = members["reduce"] or [None], members["direct"] or [None]
        if reduce and direct and (reduce["C"], reduce["H"], reduce["W"]) != (direct["C"], direct["H"], direct["W"]):
            raise LayerFileError(f"{path}: {direct['label']!r} (direct_of {conv!r}) takes C={direct['C']} "
                                 f"{direct['H']}x{direct['W']}, but the reduce {reduce['label']!r} takes C="
                                 f"{reduce['C']} {reduce['H']}x{reduce['W']}: both must read the branch's input")
        dtypes = {v["dtype"] for v in [by_label[conv], reduce, direct] if v and v["dtype"]}
        if len(dtypes) > 1:
            raise LayerFileError(f"{path}: the branch of {conv!r} mixes dtypes {', '.join(sorted(dtypes))}")


def layers_preset(path: str | Path) -> Preset:
    """A Preset named after the file, holding its layers (axes come from the layers and the CLI)."""
    layers = runnable_layers(path)
    return Preset(name=f"layers:{Path(path).name}", description=f"layers from {path}",
                  layers=layers if isinstance(layers, LayerColumns) else tuple(layers))
