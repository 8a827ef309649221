"""Test-only plugin: a backend whose prepare() kills the Dask worker process running it."""
import os

import kernels


@kernels.register
class WorkerKiller(kernels.Backend):
    """Exits the process hard inside prepare, as a crashing native kernel would; refuses outside a worker."""

    name = "test-worker-killer"
    in_default_sweep = False

    def prepare(self, x, w, spec):
        try:
            from distributed import get_worker

            get_worker()
        except (ImportError, ValueError):
            raise RuntimeError("test-worker-killer only runs inside a Dask worker") from None
        os._exit(3)
