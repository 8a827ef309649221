"""Test-only plugin that imports in the sweep's process but not in a worker process (whose parent is the sweep
or the forkserver): its backend's worker cannot start."""
import multiprocessing

import kernels
from kernels.numpy_gemm import NumpyBackend

if multiprocessing.parent_process() is not None:
    raise ImportError("this plugin refuses to load in a worker process")


@kernels.register
class ParentOnly(NumpyBackend):
    """numpy, registered only where the plugin imports."""

    name = "test-parent-only"
    in_default_sweep = False
