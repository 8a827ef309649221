"""Chain backends (reduce, then convolve) and their one registry.

A :class:`ChainBackend` is the two-convolution twin of :class:`kernels.Backend`:
``prepare_chain(x, w_reduce, w_conv, spec)`` does all non-compute work and
returns a :class:`kernels.Prepared` whose call runs the whole chain once.

Two kinds answer :func:`get_chain_backend`:

* fused backends registered with :func:`register_chain` (``numba-cpu-fused``);
* for every registered convolution backend name, an :class:`UnfusedChain` that
  runs the two stages as two prepared calls of that backend. Its time is what
  the reduction study sums (``reduce.time_s + conv.time_s``), so
  ``get_chain_backend("numba-cpu")`` vs ``get_chain_backend("numba-cpu-fused")``
  compares unfused and fused through one interface.
"""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod

import numpy as np

from .backend import Backend, Prepared, check_flop_limit
from .chain import ChainSpec, validate_chain
from .registry import get_backend, list_backends

_CHAIN_REGISTRY: dict[str, ChainBackend] = {}


class ChainBackend(ABC):
    """A named implementation of ``conv(reduce(x))``.

    Attributes:
        name: registry name, e.g. ``"numba-cpu-fused"``.
        device: ``"cpu"`` or ``"cuda"``.
        description: one line for listings.
        unfused: the convolution backend whose two calls this chain does in one (the reduction study puts
            the two side by side; a sweep runs the chain by default when it runs that backend), or None.
    """

    name: str = ""
    device: str = "cpu"
    description: str = ""
    unfused: str | None = None

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run on this machine right now, or None if it can."""
        return None

    def unsupported_reason(self, spec: ChainSpec) -> str | None:
        """Why this backend cannot compute the chain ``spec`` (e.g. a reduce that is not 1x1), or None."""
        return None

    def timing_unsupported_reason(self) -> str | None:
        """Why timings of this backend would be meaningless here (e.g. a simulator), or None."""
        return None

    def max_flops_per_call(self) -> float | None:
        """Rough upper bound on the work one chain call can do in reasonable time; None means no limit."""
        return None

    @abstractmethod
    def prepare_chain(self, x: np.ndarray, w_reduce: np.ndarray, w_conv: np.ndarray, spec: ChainSpec) -> Prepared:
        """Do all non-compute work for the validated chain ``spec``; calling the result runs the chain once."""

    def __repr__(self) -> str:
        return f"<ChainBackend {self.name!r} on {self.device}>"


class UnfusedChainPrepared(Prepared):
    """Two prepared convolutions of one backend, run one after the other.

    The intermediate is computed and allocated in ``__init__`` (prepare) and the conv
    stage is prepared on it, so each call runs exactly the two prepared calls that the
    reduction study times separately: the intermediate is written by the first and read
    by the second (on the layout the second made of it in prepare). A per-call layout
    change of the intermediate (e.g. numba-cpu's padded channels-last copy) is not
    counted, which favours the unfused chain.
    """

    def __init__(self, backend: Backend, x: np.ndarray, w_reduce: np.ndarray, w_conv: np.ndarray,
                 spec: ChainSpec):
        self.spec = spec
        self.first = backend.prepare(x, w_reduce, spec.reduce)
        self.first()
        self.first.sync()
        self.mid = self.first.result()
        self.second = backend.prepare(self.mid, w_conv, spec.conv)

    def __call__(self) -> None:
        self.first()
        self.second()

    def sync(self) -> None:
        self.first.sync()
        self.second.sync()

    def result(self) -> np.ndarray:
        return self.second.result()


class UnfusedChain(ChainBackend):
    """Any registered convolution backend as a chain backend: reduce and conv as two calls."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.name = backend.name
        self.device = backend.device
        self.description = f"two {backend.name} calls (unfused): reduce, then conv"

    def unavailable_reason(self) -> str | None:
        return self.backend.unavailable_reason()

    def timing_unsupported_reason(self) -> str | None:
        return self.backend.timing_unsupported_reason()

    def max_flops_per_call(self) -> float | None:
        return self.backend.max_flops_per_call()

    def prepare_chain(self, x, w_reduce, w_conv, spec):
        return UnfusedChainPrepared(self.backend, x, w_reduce, w_conv, spec)


def register_chain(cls):
    """Class decorator: instantiate a :class:`ChainBackend` subclass and register it under ``cls.name``.

    The name may not clash with a registered chain backend or convolution backend (those
    names already mean "unfused" here). Returns the class unchanged.
    """
    if not inspect.isclass(cls) or not issubclass(cls, ChainBackend):
        raise TypeError(f"register_chain expects a ChainBackend subclass, got {cls!r}")
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name:
        raise ValueError(f"chain backend class {cls.__name__} needs a non-empty string attribute 'name'")
    if name in _CHAIN_REGISTRY or name in list_backends():
        raise ValueError(f"chain backend name {name!r} is already taken")
    if cls.device not in ("cpu", "cuda"):
        raise ValueError(f"chain backend {name!r}: device must be 'cpu' or 'cuda', got {cls.device!r}")
    _CHAIN_REGISTRY[name] = cls()
    return cls


def unregister_chain(name: str) -> None:
    """Remove a fused chain backend from the registry (used by tests and plugin reloads)."""
    _CHAIN_REGISTRY.pop(name, None)


def list_fused_backends() -> list[str]:
    """The chain backends registered with :func:`register_chain` (not the unfused twins), in registration order."""
    return list(_CHAIN_REGISTRY)


def list_chain_backends() -> list[str]:
    """Every chain backend name: the fused ones, then every convolution backend (run unfused)."""
    return list(_CHAIN_REGISTRY) + [n for n in list_backends() if n not in _CHAIN_REGISTRY]


def available_chain_backends() -> list[str]:
    """The chain backends usable on this machine right now."""
    return [n for n in list_chain_backends() if get_chain_backend(n).unavailable_reason() is None]


def get_chain_backend(name: str) -> ChainBackend:
    """The chain backend called ``name``; unknown names raise ValueError listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, got {type(name).__name__} {name!r}")
    if name in _CHAIN_REGISTRY:
        return _CHAIN_REGISTRY[name]
    if name in list_backends():
        return UnfusedChain(get_backend(name))
    raise ValueError(f"unknown chain backend {name!r}; known chain backends: {', '.join(list_chain_backends())}")


def conv2d_chain(x, w_reduce, w_conv, *, stride_reduce=1, padding_reduce=0, stride=1, padding=0,
                 backend: str = "numba-cpu-fused") -> np.ndarray:
    """``conv(reduce(x, w_reduce), w_conv)``: a (usually 1x1) reduce, then a kxk convolution.

    Args:
        x: input (N, C, H, W), float32 or float64, any memory layout.
        w_reduce: reduce weights (C_red, C, k1, k1), same dtype.
        w_conv: conv weights (F, C_red, k, k), same dtype.
        stride_reduce: the reduce stage's stride.
        padding_reduce: the reduce stage's zero padding (int or ``"same"``).
        stride: the conv stage's stride.
        padding: the conv stage's zero padding (int or ``"same"``), applied to the reduced tensor.
        backend: a name from :func:`kernels.list_chain_backends` (a fused chain backend, or any
            convolution backend name, which runs the two stages as two calls).

    Returns:
        A new (N, F, Ho, Wo) array with the dtype of ``x``.

    Raises:
        TypeError / ValueError: a malformed call (the message names the argument), an unknown
            backend, or a chain the backend does not support.
        RuntimeError: the backend is registered but unavailable on this machine.
    """
    impl = get_chain_backend(backend)
    spec = validate_chain(x, w_reduce, w_conv, stride_reduce=stride_reduce, padding_reduce=padding_reduce,
                          stride=stride, padding=padding)
    reason = impl.unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"chain backend {backend!r} is unavailable: {reason}")
    unsupported = impl.unsupported_reason(spec)
    if unsupported is not None:
        raise ValueError(f"backend {backend!r} cannot run this chain: {unsupported}")
    if spec.N == 0:
        return np.zeros(spec.out_shape, dtype=spec.dtype)
    check_flop_limit(f"chain backend {backend!r}", impl.max_flops_per_call(), spec.flops)
    prepared = impl.prepare_chain(x, w_reduce, w_conv, spec)
    prepared()
    prepared.sync()
    return prepared.result()
