"""The base build's backends as backends of this build's registries (``sweep --against``): ``NAME@base``.

A twin is a thin class of this build's registry whose every call goes to the base build's own object, the
case handed over as the base build's own spec type where it has one. Convolution backends become
:class:`kernels.Backend` twins, fused chain backends (``numba-cpu-fused``) :class:`kernels.ChainBackend`
twins whose unfused backend is the base build's too (``numba-cpu@base``), so that an A/B run times and
judges the fused kernel like any other. :mod:`harness.against` registers them.
"""
from __future__ import annotations

import dataclasses

import kernels

from .abhalves import SUFFIX, own_name
from .backends import unfused_by_name


def base_spec(package, spec):
    """``spec`` as the base build's own ConvSpec when it has one of the same fields (else ``spec`` itself)."""
    own = getattr(package, "ConvSpec", None)
    try:
        return own(**dataclasses.asdict(spec)) if own is not None and own is not type(spec) else spec
    except TypeError:  # the base build's ConvSpec has other fields: it gets ours, and reads what it knows
        return spec


def base_chain_spec(package, spec):
    """``spec`` (a ChainSpec) as the base build's own ChainSpec of its own ConvSpecs when it has one that takes
    them (else ``spec`` itself)."""
    own = getattr(package, "ChainSpec", None)
    if own is None or own is type(spec):
        return spec
    try:
        return own(reduce=base_spec(package, spec.reduce), conv=base_spec(package, spec.conv))
    except (TypeError, ValueError):  # the base build's ChainSpec is made otherwise: it gets ours
        return spec


class Delegating:
    """What a twin asks its base build's object (``inner``): availability, timing support, size limit."""

    inner = None

    def unavailable_reason(self):
        """The base backend's own answer."""
        return self.inner.unavailable_reason()

    def timing_unsupported_reason(self):
        """The base backend's own answer (None from a build that does not ask)."""
        ask = getattr(self.inner, "timing_unsupported_reason", None)
        return ask() if ask else None

    def max_flops_per_call(self):
        """The base backend's own limit (None from a build that has none)."""
        ask = getattr(self.inner, "max_flops_per_call", None)
        return ask() if ask else None


def named(cls: type, inner, name: str) -> type:
    """Twin class ``cls`` with its base build's object ``inner`` and registry ``name``, its class name
    ``BaseTwin_numba_cpu`` (``BaseChainTwin_...``) after the backend it stands for."""
    cls.inner, cls.name = inner, name
    cls.__qualname__ = cls.__name__ = f"{cls.__name__}_{own_name(name).replace('-', '_')}"
    return cls


def twin_class(package, inner, name: str, where: str) -> type:
    """A convolution backend of this build's registry that runs the base build's backend ``inner`` under
    ``name``."""

    class BaseTwin(Delegating, kernels.Backend):
        """A base build's backend (``sweep --against``): every call goes to the base build's own object."""

        device = inner.device
        description = f"{inner.description or own_name(name)} - base build ({where})"
        in_default_sweep = False

        def prepare(self, x, w, spec):
            """The base backend's prepare, with the case as the base build's ConvSpec."""
            return inner.prepare(x, w, base_spec(package, spec))

    return named(BaseTwin, inner, name)


def base_unfused(package, inner, own: str) -> str | None:
    """The base build's twin of the convolution backend that its chain ``inner`` (named ``own``) does in one
    call: its ``unfused``, or in a build whose chains did not name it, ``NAME`` of ``NAME-fused`` where the
    base build has that backend; None otherwise."""
    unfused = getattr(inner, "unfused", None)
    if not isinstance(unfused, str) and unfused_by_name(own) in package.list_backends():
        unfused = unfused_by_name(own)
    return unfused + SUFFIX if isinstance(unfused, str) else None


def chain_twin_class(package, inner, name: str, where: str) -> type:
    """A fused chain backend of this build's registry that runs the base build's chain backend ``inner`` under
    ``name``; its unfused backend is the base build's twin of ``inner``'s (None where ``inner`` has none)."""

    class BaseChainTwin(Delegating, kernels.ChainBackend):
        """A base build's fused chain backend (``sweep --against``): every call goes to the base build's object."""

        device = inner.device
        description = f"{inner.description or own_name(name)} - base build ({where})"
        unfused = base_unfused(package, inner, own_name(name))

        def unsupported_reason(self, spec):
            """The base backend's own answer, with the chain as the base build's ChainSpec."""
            ask = getattr(inner, "unsupported_reason", None)
            return ask(base_chain_spec(package, spec)) if ask else None

        def prepare_chain(self, x, w_reduce, w_conv, spec):
            """The base backend's prepare_chain, with the chain as the base build's ChainSpec."""
            return inner.prepare_chain(x, w_reduce, w_conv, base_chain_spec(package, spec))

    return named(BaseChainTwin, inner, name)
