"""Test-only plugin: fused chain backends (``kernels.register_chain``) that misbehave as a chain kernel can.

``test-chain-hang`` never returns from its first call, ``test-chain-exit`` ends its process with
``os._exit(3)``, ``test-chain-segv`` dies of SIGSEGV, ``test-chain-sysexit`` calls ``sys.exit(4)``;
``test-chain-ok`` is the float64 reference chain, so a sweep of it is ``ok``.
"""
import os
import signal
import sys
import time

import kernels


class _Out(kernels.Prepared):
    def __init__(self, out, action):
        self.out, self.action = out, action

    def __call__(self):
        self.action()

    def result(self):
        return self.out


class _Chain(kernels.ChainBackend):
    unfused = "numpy"

    def action(self):
        """What every call does."""

    def prepare_chain(self, x, w_reduce, w_conv, spec):
        return _Out(kernels.reference_chain(x, w_reduce, w_conv, spec).astype(spec.dtype), self.action)


@kernels.register_chain
class ChainOk(_Chain):
    """The reference, quickly."""

    name = "test-chain-ok"


@kernels.register_chain
class ChainHang(_Chain):
    """Sleeps for an hour in its first call."""

    name = "test-chain-hang"

    def action(self):
        time.sleep(3600)


@kernels.register_chain
class ChainExit(_Chain):
    """Ends its process at once."""

    name = "test-chain-exit"

    def action(self):
        os._exit(3)


@kernels.register_chain
class ChainSegv(_Chain):
    """Dies of SIGSEGV, as a crash in native code would."""

    name = "test-chain-segv"

    def action(self):
        os.kill(os.getpid(), signal.SIGSEGV)


@kernels.register_chain
class ChainSysExit(_Chain):
    """Calls sys.exit(4)."""

    name = "test-chain-sysexit"

    def action(self):
        sys.exit(4)
