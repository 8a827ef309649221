"""Launching a compiled ``@cuda.jit`` kernel again and again with the same arguments, at the driver's cost.

``kernel[grid, block](*args)`` is numba-cuda's public launch; every call types each argument, looks the
overload up and marshals each array into the kernel's parameter list again (measured on an H100: ~70 us a
call through the sweep). A convolution's device buffers never change between calls, so :class:`Launcher`
does that work once, in ``prepare()``: it compiles the one overload for the arguments' types, marshals the
arguments once, and then each call is one ``cuda.core`` launch of the cached parameter list.

That path reads numba-cuda internals (``_prepare_args``, the code library's ``cufunc``, ``_to_core_stream``;
checked against numba-cuda 0.30, present since 0.23). Where they are missing, :class:`Launcher` falls back -
first to the compiled kernel's own ``launch`` (still no typing or lookup), then to the public call - and says
which it uses in ``mode`` and why in ``fallback_reason``, so a numba-cuda upgrade costs speed, not an error.
An internal that kept its name but changed its meaning would give wrong outputs instead: the real-GPU tests
(``CONVBENCH_REAL_CUDA=1``) are the guard after an upgrade. ``CONVBENCH_CUDA_LAUNCH=public|kernel|cached``
forces a mode (for the launch-cost breakdown in docs/gpu.md).
"""
from __future__ import annotations

import os

#: The launch modes, fastest first.
MODES = ("cached", "kernel", "public")
#: Environment variable that forces one of :data:`MODES`.
MODE_ENV = "CONVBENCH_CUDA_LAUNCH"


def forced_mode() -> str | None:
    """The mode ``CONVBENCH_CUDA_LAUNCH`` names, None when unset; ValueError on an unknown one."""
    mode = os.environ.get(MODE_ENV) or None
    if mode is not None and mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: choose one of {', '.join(MODES)}")
    return mode


def _simulated() -> bool:
    """True under the CUDA simulator (its kernels have none of the internals the fast paths use)."""
    from numba.cuda import config

    return bool(config.ENABLE_CUDASIM)


class Launcher:
    """``launcher()`` launches ``dispatcher`` on ``grid`` x ``block`` with ``args`` (fixed at construction)."""

    def __init__(self, dispatcher, grid, block, args, mode: str | None = None):
        self.grid = tuple(int(g) for g in grid) if isinstance(grid, (tuple, list)) else (int(grid),)
        self.block = tuple(int(b) for b in block) if isinstance(block, (tuple, list)) else (int(block),)
        self.args = tuple(args)
        configured = dispatcher[grid, block]
        self._public = lambda: configured(*self.args)
        wanted = mode or forced_mode()
        self.mode, self.fallback_reason = "public", None
        self._call = self._public
        if wanted == "public":
            return
        if _simulated():
            self.fallback_reason = "CUDA simulator: only the public launch"
            return
        try:
            from numba.cuda.cudadrv import driver

            kernel = self._compiled(dispatcher)
            stream = driver._to_core_stream(0)  # the legacy default stream, as the public launch uses
        except Exception as exc:  # an internal moved: keep the public launch
            self.fallback_reason = f"{type(exc).__name__}: {exc}"
            return
        if getattr(kernel, "launch_config_sensitive", False):  # the public call picks a dispatcher per config
            self.fallback_reason = "launch-config-sensitive kernel: only the public launch"
            return
        self._call, self.mode = (lambda: kernel.launch(self.args, self.grid, self.block, stream, 0)), "kernel"
        if wanted == "kernel":
            return
        try:
            self._call, self.mode = self._cached(kernel, stream), "cached"
        except Exception as exc:
            self.fallback_reason = f"{type(exc).__name__}: {exc}"

    def _compiled(self, dispatcher):
        """The one compiled overload of ``dispatcher`` for ``self.args``' types (compiled now if need be)."""
        types = tuple(dispatcher.typeof_pyval(a) for a in self.args)
        return dispatcher.compile(types)

    def _cached(self, kernel, stream):
        """A call that launches ``kernel`` through ``cuda.core`` with the parameters marshalled once, here."""
        from cuda.core import LaunchConfig, launch

        if getattr(kernel, "debug", False) or getattr(kernel, "cooperative", False):
            raise ValueError("a debug or cooperative kernel: its own launch checks errors / cooperates per call")
        params: list = []
        writebacks: list = []
        for ty, value in zip(kernel.argument_types, self.args):
            kernel._prepare_args(ty, value, 0, writebacks, params)
        if writebacks:
            raise ValueError("an argument is copied to the device per call (a host array): nothing to cache")
        try:
            config = LaunchConfig(grid=self.grid, block=self.block, shmem_size=0)
        except TypeError:
            config = LaunchConfig(grid=self.grid, block=self.block)
        function = kernel._codelibrary.get_cufunc().kernel
        return lambda: launch(stream, config, function, *params)

    def probe(self) -> None:
        """Launch once; should the fast path raise (an internal that changed its meaning, not its name), fall
        back to the public launch for good and say why. The kernel runs once more: call it before timing."""
        if self.mode == "public":
            return
        try:
            self._call()
        except Exception as exc:
            self.fallback_reason = f"{self.mode} launch failed: {type(exc).__name__}: {exc}"
            self._call, self.mode = self._public, "public"
            self._call()

    def __call__(self) -> None:
        self._call()


class Alternating:
    """Split-K without a memset per call: two output buffers that take turns.

    A split of K adds partial sums into its output with atomics, so the output must be zero before each call; a
    memset launch before every call cost a second launch (on an H200 at N=1, the sweep's 1x1 layers took 14-20
    us a call with it, 9-17 without). Instead, the split kernel's first K range also zeroes a second buffer of
    the output's shape while it adds into the first (:func:`.cuda_kernels.igemm_kernel_for`), and the next call
    adds into that second buffer and zeroes the first. Calls go in order on one stream, so each adds into a
    buffer the call before it zeroed.

    Calls ``launches[0]`` and ``launches[1]`` in turn; ``latest()`` is the buffer the last call wrote.

    ``launches[i]`` must add into ``buffers[i]`` and zero ``buffers[1 - i]``. ``zero_all`` zeroes both buffers
    (and waits): :meth:`reset` calls it, so the next call starts on a zeroed ``buffers[0]``.
    """

    def __init__(self, launches, buffers, zero_all):
        if len(launches) != 2 or len(buffers) != 2:
            raise ValueError("Alternating takes two launches and their two buffers")
        self.launches, self.buffers, self._zero_all = tuple(launches), tuple(buffers), zero_all
        self.calls = 0
        self.reset()

    def reset(self) -> None:
        """Zero both buffers; the next call is ``launches[0]`` and, until then, ``latest()`` is ``buffers[0]``."""
        self._zero_all()
        self.calls = 0

    def latest(self):
        """The buffer the last call added into (``buffers[0]``, zeroed, before any call)."""
        return self.buffers[(self.calls - 1) % 2] if self.calls else self.buffers[0]

    def __call__(self) -> None:
        self.launches[self.calls % 2]()
        self.calls += 1
