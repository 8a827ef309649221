"""Test-only plugin: numpy, whose every prepare() appends the id of the process it runs in to the file named by
``CONVBENCH_TEST_PID_FILE`` - which worker process timed which pass."""
import os

import kernels
from kernels.numpy_gemm import NumpyBackend


@kernels.register
class PidNoting(NumpyBackend):
    """numpy, noting the process of each prepare."""

    name = "test-pid"
    in_default_sweep = False

    def prepare(self, x, w, spec):
        """numpy's prepare, after noting this process's id."""
        with open(os.environ["CONVBENCH_TEST_PID_FILE"], "a") as f:
            f.write(f"{os.getpid()}\n")
        return super().prepare(x, w, spec)
