"""The one registry of backends: CLI choices, tests, plots and ``harness list`` all read it."""
from __future__ import annotations

import inspect
import re

from .backend import REQUIRED_METHODS, Backend

_REGISTRY: dict[str, Backend] = {}
#: A name ``--backends a,b`` can select and a CSV cell holds as it is: no comma, space or control character;
#: ``@base`` ends only the base build's twins of an A/B run (``harness.against``).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}(@base)?")


def register(cls):
    """Class decorator: instantiate a :class:`Backend` subclass and register it under ``cls.name``.

    Raises ``ValueError`` for a duplicate, empty or unselectable name (``NAME``) and ``TypeError`` for a class
    that does not follow the Backend protocol. Returns the class unchanged.
    """
    if not inspect.isclass(cls):
        raise TypeError(f"register expects a Backend class, got {cls!r}")
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise TypeError(f"backend class {cls.__name__} lacks required method(s): {', '.join(missing)}")
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name:
        raise ValueError(f"backend class {cls.__name__} needs a non-empty string attribute 'name'")
    if not NAME.fullmatch(name):
        raise ValueError(f"backend name {name!r} (class {cls.__name__}) cannot be named in --backends or a table: use "
                         "letters, digits and . _ + - (starting with a letter or digit), at most 64 characters")
    device = inspect.getattr_static(cls, "device", None)
    if not isinstance(device, property) and device not in ("cpu", "cuda"):
        raise ValueError(f"backend {name!r}: device must be 'cpu' or 'cuda', got {device!r}")
    if name in _REGISTRY:
        raise ValueError(f"backend name {name!r} is already registered (by {type(_REGISTRY[name]).__module__})")
    instance = cls()
    if not isinstance(instance, Backend):
        raise TypeError(f"backend class {cls.__name__} must subclass kernels.Backend")
    _REGISTRY[name] = instance
    return cls


def unregister(name: str) -> None:
    """Remove a backend from the registry (used by tests and plugin reloads)."""
    _REGISTRY.pop(name, None)


def list_backends() -> list[str]:
    """Every registered backend name, in registration order."""
    return list(_REGISTRY)


def default_backends() -> list[str]:
    """The registered backends a sweep runs when none are named (variants excluded)."""
    return [name for name, b in _REGISTRY.items() if b.in_default_sweep]


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``; unknown names raise ValueError listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, got {type(name).__name__} {name!r}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(_REGISTRY)}") from None


def available_backends() -> list[str]:
    """The registered backends usable on this machine right now."""
    return [name for name, b in _REGISTRY.items() if b.unavailable_reason() is None]
