"""Test-only plugin: kernels that misbehave in every way a sweep must survive (none in the default sweep).

``test-hang`` never returns from its first call, ``test-exit`` ends its process
with ``os._exit(3)``, ``test-sysexit`` calls ``sys.exit(3)``, ``test-segv`` dies of
SIGSEGV, ``test-oom`` of SIGKILL (as from the OOM killer), ``test-scribble`` zeroes its inputs (after forcing them writable),
``test-off`` is the numpy answer plus 1e-3, ``test-nowhere`` is never available
(as a GPU backend on a machine without a GPU).
``test-orphan`` / ``test-orphan-session`` start a ``sleep``
(``ORPHAN_SLEEP_S``, in the worker's process group / in a session of its own) that inherits the sweep's stdout,
``test-object`` returns the right values as an ``object`` array, ``test-ki`` raises KeyboardInterrupt in its
first call, ``test-unprintable`` an exception whose ``__str__`` raises, ``test-print`` prints in every call.
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np

import kernels
from kernels.numpy_gemm import NumpyBackend


class _Out(kernels.Prepared):
    def __init__(self, out, action=None):
        self.out, self.action = out, action

    def __call__(self):
        if self.action:
            self.action()

    def result(self):
        return self.out


class _Faulty(kernels.Backend):
    in_default_sweep = False

    def action(self):
        """What the first call does."""

    def prepare(self, x, w, spec):
        return _Out(kernels.reference_conv2d(x, w, spec).astype(spec.dtype), self.action)


@kernels.register
class Hang(_Faulty):
    """Sleeps for an hour in its first call."""

    name = "test-hang"

    def action(self):
        time.sleep(3600)


@kernels.register
class Exit(_Faulty):
    """Ends its process at once, as a crashing native library might."""

    name = "test-exit"

    def action(self):
        os._exit(3)


@kernels.register
class SysExit(_Faulty):
    """Calls sys.exit(3) in prepare."""

    name = "test-sysexit"

    def prepare(self, x, w, spec):
        sys.exit(3)


@kernels.register
class Interrupt(_Faulty):
    """Raises KeyboardInterrupt from its first call, as a library's own signal handling might."""

    name = "test-ki"

    def action(self):
        raise KeyboardInterrupt("the kernel's own")


class _Unprintable(RuntimeError):
    def __str__(self):
        raise RuntimeError("str fails")


@kernels.register
class Unprintable(_Faulty):
    """Raises, from its first call, an exception whose message cannot be read."""

    name = "test-unprintable"

    def action(self):
        raise _Unprintable()


@kernels.register
class Chatty(_Faulty):
    """Prints a line to stdout in every call, as a kernel left with a debugging print would."""

    name = "test-print"

    def action(self):
        print("HELLO FROM KERNEL", flush=True)


@kernels.register
class Segv(_Faulty):
    """Dies of a segmentation fault."""

    name = "test-segv"

    def action(self):
        os.kill(os.getpid(), signal.SIGSEGV)


@kernels.register
class OomKilled(_Faulty):
    """Dies of SIGKILL, as the kernel's OOM killer would kill it."""

    name = "test-oom"

    def action(self):
        os.kill(os.getpid(), signal.SIGKILL)


@kernels.register
class Scribble(_Faulty):
    """Zeroes x and w in prepare (forcing the arrays writable first), then answers correctly for the zeros."""

    name = "test-scribble"

    def prepare(self, x, w, spec):
        for arr in (x, w):
            arr.setflags(write=True)
            arr[...] = 0
        return _Out(np.zeros(spec.out_shape, spec.dtype))


@kernels.register
class OffBy1e3(NumpyBackend):
    """numpy's answer plus 1e-3 everywhere."""

    name = "test-off"
    in_default_sweep = False

    def prepare(self, x, w, spec):
        inner = super().prepare(x, w, spec)

        class Off(kernels.Prepared):
            def __call__(self):
                inner()

            def result(self):
                return inner.result() + np.asarray(1e-3, spec.dtype)

        return Off()


@kernels.register
class Nowhere(_Faulty):
    """Never available here."""

    name = "test-nowhere"

    def unavailable_reason(self):
        return "this test machine has no such device"


#: How long the orphans sleep: a distinctive number, so a test can find them in the process list.
ORPHAN_SLEEP_S = "61.0417"


@kernels.register
class Orphan(_Faulty):
    """Starts a ``sleep`` (holding this process's stdout) in its first call, and leaves it running."""

    name = "test-orphan"
    new_session = False

    def action(self):
        if not getattr(self, "started", False):
            self.started = True
            subprocess.Popen(["sleep", ORPHAN_SLEEP_S], start_new_session=self.new_session)


@kernels.register
class OrphanSession(Orphan):
    """As test-orphan, but the sleep runs in a session of its own (out of the worker's process group)."""

    name = "test-orphan-session"
    new_session = True


@kernels.register
class ObjectArray(_Faulty):
    """The right values, as an array of Python floats (dtype object)."""

    name = "test-object"

    def prepare(self, x, w, spec):
        return _Out(kernels.reference_conv2d(x, w, spec).astype(spec.dtype).astype(object))
