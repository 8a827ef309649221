"""The backends a sweep can name: convolution backends and fused chain backends, in one list.

A convolution backend (``kernels.register``) measures every case; a fused chain
backend (``kernels.register_chain``, e.g. ``numba-cpu-fused``) measures every
reduction branch as one call of the 1x1 reduce and the kxk conv. Both are picked
and left out with ``--backends`` alike. When no backend is named, a sweep runs the
default convolution backends and the fused chains of those among them.
"""
from __future__ import annotations

import kernels

from .abhalves import SUFFIX, is_twin, own_name
from .errors import did_you_mean
from .plugins import loaded_plugins, plugin_key

#: A point's kind: a convolution of one case, or a chain of a branch's two cases.
CONV, CHAIN = "conv", "chain"


def sweep_backend_names() -> list[str]:
    """Every name ``--backends`` accepts: the convolution backends, then the fused chain backends."""
    return kernels.list_backends() + [n for n in kernels.list_fused_backends() if n not in kernels.list_backends()]


def kind_of(name: str) -> str:
    """``"chain"`` for a fused chain backend, else ``"conv"`` (unknown names too: the registry names them)."""
    return CHAIN if name in kernels.list_fused_backends() else CONV


def implementation(name: str, kind: str | None = None):
    """The backend object of ``name`` for a point of ``kind`` (default: the name's own kind)."""
    if (kind or kind_of(name)) == CHAIN:
        return kernels.get_chain_backend(name)
    return kernels.get_backend(name)


def device_of(name: str) -> str:
    """The backend's device ("cpu", "cuda"), or "?" for a name that is not registered (here)."""
    try:
        return implementation(name).device
    except Exception:
        return "?"


#: A fused chain backend's name ends so; the convolution backend it fuses is the name without it (numba-cpu-fused).
FUSED_SUFFIX = "-fused"


def unfused_by_name(name: str) -> str | None:
    """A fused chain backend's unfused backend, read from its name alone: ``NAME-fused`` -> ``NAME``,
    ``NAME-fused@base`` -> ``NAME@base`` (None for any other name) - the same whatever this process registered
    (``harness compare`` loads no plugins; a notebook may), and for a base build whose chains did not name it."""
    head, at, tail = str(name).partition("@")
    if not head.endswith(FUSED_SUFFIX) or len(head) == len(FUSED_SUFFIX):
        return None
    return head[: -len(FUSED_SUFFIX)] + at + tail


def unfused_twin(name: str) -> str | None:
    """The convolution backend a fused chain backend does in one call (``numba-cpu`` for ``numba-cpu-fused``).
    A base build's chain (``numba-cpu-fused@base``) read where its A/B run's twins are not registered (a later
    ``harness report``) is taken as its own build's: ``numba-cpu@base``, as the sweep paired it."""
    if kind_of(name) == CHAIN:
        return getattr(kernels.get_chain_backend(name), "unfused", None)
    if is_twin(name) and kind_of(own_name(name)) == CHAIN:
        unfused = unfused_twin(own_name(name))
        return unfused + SUFFIX if unfused else None
    return None


def check_names(names) -> list[str]:
    """``names`` without repeats, if every one is a backend a sweep can run; else ValueError listing the known."""
    names = [names] if isinstance(names, str) else list(names)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"backend names must be str, got {names!r}")
    known = sweep_backend_names()
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        named = ", ".join(f"{n!r}{did_you_mean(n, known)}" for n in unknown) or "(none given)"
        raise ValueError(f"unknown backend(s) {named}; choose from: {', '.join(known)}")
    return list(dict.fromkeys(names))


def sweep_backends(named, fused: bool = True) -> list[str]:
    """The backends a sweep runs: ``named`` (all of them; checked), or by default the default convolution
    backends and the fused chains of those among them; ``fused=False`` leaves every fused chain out."""
    if named:
        chosen = check_names(named)
    else:
        chosen = kernels.default_backends()
        chosen = chosen + [n for n in kernels.list_fused_backends() if unfused_twin(n) in chosen]
    kept = [n for n in chosen if fused or kind_of(n) != CHAIN]
    if not kept:
        raise ValueError(f"--no-fused leaves no backend to run: {', '.join(chosen)} "
                         f"{'is a fused chain' if len(chosen) == 1 else 'are fused chains'}")
    return kept


def session_plugins(given: list[str], backends) -> list[str]:
    """``given`` plus the plugins already loaded in this process (a notebook's ``load_plugin``) that provide one
    of ``backends`` (default: the default ones), so that worker processes, which start fresh, know them."""
    wanted = set(backends or kernels.default_backends())
    keys = {plugin_key(ref) for ref in given}
    return given + [key for key, names in loaded_plugins().items() if key not in keys and wanted & set(names)]
