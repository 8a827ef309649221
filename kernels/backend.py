"""The Backend / Prepared protocol every convolution implementation follows.

A backend writer subclasses :class:`Backend`, implements :meth:`Backend.prepare`
to return a :class:`Prepared`, and decorates the class with
:func:`kernels.register`. Everything that is not the convolution itself
(allocation, padding buffers, layout changes, host->device copies, JIT
compilation) belongs in ``prepare``; calling the returned ``Prepared`` runs
exactly one convolution, which is what a timer measures.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

import numpy as np

from .spec import ConvSpec


class DeviceTimer(Protocol):
    """Times a region on a device's own clock (e.g. a pair of CUDA events)."""

    def start(self) -> None:
        """Mark the start of the region on the device's queue."""

    def stop(self) -> float:
        """Mark the end, wait for it, and return the elapsed seconds."""


class Prepared(ABC):
    """One convolution, ready to run: ``p()`` computes, ``p.sync()`` waits, ``p.result()`` reads.

    Subclasses implement ``__call__`` and ``result``. Device backends also override
    ``sync`` (wait for queued work) and may override ``event_timer`` (time on the
    device clock) and ``flush_device_cache`` (evict the device's cache for
    ``--cold`` rounds), and set ``h2d_s`` / ``d2h_s`` (host<->device copy seconds,
    reported in the table's columns of the same names).
    """

    #: Seconds the host->device copies of ``prepare`` took (None: no device copies).
    h2d_s: float | None = None
    #: Seconds the last device->host copy in ``result`` took (None: no device copies).
    d2h_s: float | None = None

    @abstractmethod
    def __call__(self) -> None:
        """Run the convolution once (asynchronously on a device)."""

    def sync(self) -> None:
        """Block until all work queued by ``__call__`` has finished (no-op on the CPU)."""

    @abstractmethod
    def result(self) -> np.ndarray:
        """Return the latest output as a host NumPy array of shape ``spec.out_shape``."""

    def event_timer(self) -> DeviceTimer | None:
        """Return a device timer, or None to time with the host clock after ``sync``."""
        return None

    def flush_device_cache(self) -> bool:
        """Evict the device's own cache before a ``--cold`` round; False when there is none (CPU backends).

        The harness flushes the host's caches itself when this returns False.
        """
        return False


class Backend(ABC):
    """A named convolution implementation.

    Attributes:
        name: registry name, e.g. ``"numpy"``.
        device: ``"cpu"`` or ``"cuda"``.
        description: one line shown by ``harness list``.
        in_default_sweep: False for variants that run only when named with ``--backends``.
    """

    name: str = ""
    device: str = "cpu"
    description: str = ""
    in_default_sweep: bool = True

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run on this machine right now, or None if it can."""
        return None

    def timing_unsupported_reason(self) -> str | None:
        """Why timings of this backend would be meaningless here (e.g. a simulator), or None."""
        return None

    def max_flops_per_call(self) -> float | None:
        """Rough upper bound on the work one call can do in reasonable time; None means no limit."""
        return None

    @abstractmethod
    def prepare(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> Prepared:
        """Do all non-convolution work for ``x`` and ``w`` (already validated into ``spec``)."""

    def __repr__(self) -> str:
        return f"<Backend {self.name!r} on {self.device}>"


REQUIRED_METHODS = ("unavailable_reason", "prepare")


def check_flop_limit(what: str, limit: float | None, flops: int) -> None:
    """ValueError when one call of ``flops`` exceeds a backend's ``max_flops_per_call`` (``what`` names it:
    "backend 'naive'", "chain backend 'naive'"); the one check ``conv2d`` and ``conv2d_chain`` share."""
    if limit is not None and flops > limit:
        raise ValueError(f"{what} would take too long: {flops:.3g} FLOP per call exceeds its "
                         f"max_flops_per_call of {limit:.3g}; use a faster backend")
