"""The GPU roof's FMA kernel, under the CUDA simulator (in a subprocess: the simulator is chosen before numba.cuda
is imported); nothing is timed there, and without a GPU the roof is None."""
from __future__ import annotations

import os
import subprocess
import sys

from harness.gpu_peak import measure_gpu_roof

SCRIPT = """
import numpy as np
from kernels.numba_cuda.compat import import_cuda
from kernels.numba_cuda.roof import GPU_FMA_CHAINS, GPU_FMA_STEPS, copy_kernel, fma_kernel_for, gpu_fma_flops
cuda = import_cuda()
out = cuda.device_array(6, dtype="float64")
fma_kernel_for("float64")[2, 4](out, 50)  # 8 threads, 6 outputs: the guard keeps the last two off the array
start = np.arange(GPU_FMA_CHAINS) / 10
expected = (1 + (start - 1) * 0.9999**(50 * GPU_FMA_STEPS)).sum()
assert np.allclose(out.copy_to_host(), expected, rtol=0, atol=1e-12), out.copy_to_host()
assert GPU_FMA_STEPS > 1 and gpu_fma_flops(10, 3) == 2 * GPU_FMA_CHAINS * GPU_FMA_STEPS * 10 * 3
src = np.arange(37, dtype=np.float32)
dst = cuda.to_device(np.zeros(37, np.float32))
copy_kernel[2, 4](cuda.to_device(src), dst)  # 8 threads, 37 elements: four-load turns, then the tail
assert (dst.copy_to_host() == src).all(), dst.copy_to_host()
print("ok")
"""


def test_the_gpu_fma_kernel_computes_its_chains_in_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_no_gpu_roof_without_a_gpu():
    assert measure_gpu_roof() is None  # CI and this machine have no GPU; the simulator is never timed
