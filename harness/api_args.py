"""Checking the arguments of the Python API (:mod:`harness.api`): each as the CLI checks its option, with
TypeError for a value of the wrong kind and ValueError for a bad one, naming the function and the parameter."""
from __future__ import annotations

import os
from pathlib import Path

from .cases import parse_axis
from .settings import SweepSettings


def call_text(preset, keywords: dict) -> str:
    """The arguments of a :func:`sweep` call as Python text, for the run's record of how it was made."""
    return ", ".join([repr(preset)] + [f"{k}={v!r}" for k, v in keywords.items() if v is not None])


def backend_names(backends) -> list:
    """``backends`` as a list of names (None: the default ones); TypeError for anything but a str or a list or tuple
    of str, ValueError for an empty list."""
    if backends is None:
        return []
    names = [backends] if isinstance(backends, str) else list(backends) if isinstance(backends, (list, tuple)) else None
    if names is None or not all(isinstance(n, str) for n in names):
        raise TypeError(f"harness.sweep(): backends must be a name or a list of names, got {backends!r}")
    if not names:
        raise ValueError("backends is empty: name at least one backend, or leave it out for the default ones")
    return names


#: Keywords of :func:`sweep` besides the settings' own names: the CLI's spellings of three of them, and
#: ``fresh_peak`` (a run option).
ALIASES = {"plugin": "plugins", "no_fused": "fused", "no_bench_resource": "bench_resource"}
#: Settings :func:`sweep` sets from its own parameters: not accepted again as keywords.
OWN = frozenset({"preset", "layers", "backends", "axes", "budget_s", "plugins", "fused", "bench_resource"})


def keyword_settings(options: dict) -> tuple[dict, bool]:
    """(settings, fresh_peak) of :func:`sweep`'s extra keywords; TypeError for an unknown one or a value of the
    wrong kind (an on/off option takes True or False; the others one value)."""
    defaults = SweepSettings()
    known = sorted([n for n in SweepSettings.__dataclass_fields__ if n not in OWN] + list(ALIASES) + ["fresh_peak"])
    settings, fresh_peak = {}, False
    for name, value in options.items():
        if name not in known:
            raise TypeError(f"harness.sweep() got an unknown option {name!r} (the sweep options: {', '.join(known)}; "
                            "and its own parameters)")
        field = ALIASES.get(name, name)
        default = getattr(defaults, field, False)
        if value is None:
            continue
        if isinstance(default, bool):
            on_off("sweep", **{name: value})
            value = not value if name.startswith("no_") else value
        elif isinstance(default, list):  # plugin="a.py" or plugin=["a.py", "b.py"]
            values = [value] if isinstance(value, (str, os.PathLike)) else value
            if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, os.PathLike)) for v in values):
                raise TypeError(f"harness.sweep(): {name} takes a file or module name or a list of them, got {value!r}")
            value = [os.fspath(v) for v in values]
        elif isinstance(value, (bool, list, tuple, dict, set)):
            raise TypeError(f"harness.sweep(): {name} takes one value, got {value!r}")
        if name == "fresh_peak":
            fresh_peak = value
        else:
            settings[field] = value
    return settings, fresh_peak


def axis_settings(axes) -> list:
    """``[[name, [values]], ...]`` of ``{name: value or iterable of values}``, each value checked as ``--axis``
    checks it; TypeError for anything but a dict of values or flat sequences."""
    if axes is None:
        return []
    if not isinstance(axes, dict):
        raise TypeError(f"axes must be a dict of axis name -> values, got {type(axes).__name__}")
    parsed = []
    for name, values in axes.items():
        if isinstance(values, (str, bytes, int, float)) or not hasattr(values, "__iter__"):
            values = [values]
        elif isinstance(values, (dict, set)) or getattr(values, "ndim", 1) != 1:
            raise TypeError(f"axes[{name!r}] must be a value or a flat sequence of values, got {values!r:.60}")
        values = list(values)
        if not values:
            raise ValueError(f"axes[{name!r}] is empty: give it at least one value")
        nested = [v for v in values if not isinstance(v, (str, bytes)) and hasattr(v, "__iter__")
                  and getattr(v, "ndim", 1) != 0]  # a 0-d array is one value
        if nested:
            raise TypeError(f"axes[{name!r}] must be a flat sequence of values, got {nested[0]!r:.40} in it")
        text = ",".join(str(v.item() if hasattr(v, "item") else v) for v in values)
        axis, vals = parse_axis(f"{name}={text}")
        parsed.append([axis, list(vals)])
    return parsed


def folder_argument(function: str, name: str, value) -> Path:
    """Argument ``name`` of ``harness.FUNCTION()`` as a Path; TypeError naming it unless a str or os.PathLike of one."""
    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise TypeError(f"harness.{function}(): {name} must be a str or os.PathLike (a folder's path), got "
                        f"{type(value).__name__}")
    return Path(text)


def on_off(function: str, **flags) -> None:
    """TypeError naming the first of ``flags`` that is not True or False (``quiet="no"`` would mean True)."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"harness.{function}(): {name} is an on/off option: pass True or False, got {value!r}")


def layer_file_argument(layers) -> str | None:
    """``layers`` of :func:`harness.sweep` as a path string (None: the preset's layers); TypeError for other kinds."""
    if layers is None:
        return None
    if not isinstance(layers, (str, os.PathLike)) or not os.fspath(layers):
        raise TypeError(f"harness.sweep(): layers must be a layer file's path (str or os.PathLike), got {layers!r}")
    return os.fspath(layers)
