"""The machine code of ``numba-cpu``'s hot kernels uses full-width FMAs on both x86 ISAs.

Each target is compiled (never run) in a subprocess with ``NUMBA_CPU_NAME`` set to a CPU of that
ISA, whichever CPU runs the test, so a regression to narrow vectors (ymm on AVX-512, or xmm /
scalar anywhere) fails here even on an AVX2-only machine. The kernels are compiled fresh from
their Python source (a cached dispatcher has no assembly to inspect), without ``parallel`` so
the check stays fast: the register tile is the same code inside the parallel loop.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, re, numba, numpy as np
from numba import njit
from kernels.numba_cpu import blocked, gemm
from kernels.numba_cpu import isa_info

def fmas(fn, dtype, ndims):
    a = numba.typeof(np.zeros(1, dtype))
    compiled = njit(fastmath=True, boundscheck=False)(fn.py_func)
    compiled.compile((a, a, a, numba.typeof((1,) * ndims), numba.typeof(np.zeros(1, np.int64))))
    asm = "\n".join(compiled.inspect_asm().values())
    lines = [l for l in asm.splitlines() if re.search(r"\bvfn?madd\w*p[sd]\b", l)]
    return {r: sum(r in l for l in lines) for r in ("zmm", "ymm", "xmm")}

out = {"info": isa_info()}
for dtype in ("float32", "float64"):
    out["conv", dtype] = fmas(blocked.conv_oc_blocked, dtype, 10)
    out["gemm", dtype] = fmas(gemm.conv1x1_gemm, dtype, 5)
out["tiles"] = {"conv": blocked.TILE_ACC, "gemm": gemm.GEMM_ACC}
print(json.dumps({(k if isinstance(k, str) else " ".join(k)): v for k, v in out.items()}))
"""

TARGETS = {"avx512": "skylake-avx512", "avx2": "haswell"}

# every test id carries the backend name, so `pytest -k numba-cpu` selects these too
pytestmark = [pytest.mark.parametrize("backend", ["numba-cpu"]),
              pytest.mark.xdist_group("codegen")]  # its module fixture compiles afresh: once, on one worker


@pytest.fixture(scope="module")
def codegen(tmp_path_factory):
    """Compile the probe for both ISAs at once (two subprocesses in parallel)."""
    procs = {}
    for isa, cpu in TARGETS.items():
        # an empty feature list: the named CPU's own features, not the host's (which would switch AVX-512 off on
        # an AVX2 machine: the Zen 1 VM compiled skylake-avx512 into ymm pairs)
        env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES="", NUMBA_CACHE_DIR=str(tmp_path_factory.mktemp(isa)),
                   PYTHONPATH=str(ROOT))
        procs[isa] = subprocess.Popen([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    for isa, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-2000:]
        results[isa] = json.loads(stdout.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("isa,wide,narrow", [("avx512", "zmm", "ymm"), ("avx2", "ymm", "zmm")])
def test_hot_kernels_use_full_width_fma(backend, codegen, isa, wide, narrow):
    res = codegen[isa]
    info = res["info"]
    assert info["isa"] == isa and info["source"] == "NUMBA_CPU_NAME"
    assert info["vector_bits"] == (512 if isa == "avx512" else 256)
    for kind in ("conv", "gemm"):
        for dtype in ("float32", "float64"):
            counts = res[f"{kind} {dtype}"]
            assert counts[wide] >= res["tiles"][kind], (isa, kind, dtype, counts)
            assert counts[narrow] == 0 and counts["xmm"] == 0, (isa, kind, dtype, counts)


def test_host_isa_is_reported(backend):
    from kernels.numba_cpu import isa_info

    info = isa_info()
    assert info["isa"] in ("avx512", "avx2")
    assert info["lanes"] * 32 == info["vector_bits"] == info["lanes_float64"] * 64


@pytest.mark.parametrize("name,features,host_has_avx512,isa", [
    (None, None, True, "avx512"), (None, None, False, "avx2"),
    ("skylake-avx512", None, False, "avx2"),  # Numba takes the AVX2 host's features: -avx512f, ymm pairs
    ("skylake-avx512", None, True, "avx512"), ("haswell", None, True, "avx2"),
    ("skylake-avx512", "", False, "avx512"),  # an empty list: the named CPU's own features
    (None, "", False, "avx2"),  # the host's name (znver1 here) with its own features
    ("haswell", "+avx2,+avx512f", False, "avx512"),
])
def test_the_isa_follows_the_features_numba_compiles_with(backend, monkeypatch, name, features, host_has_avx512, isa):
    from types import SimpleNamespace

    from numba.core import config

    from kernels.numba_cpu import isa as isa_module

    monkeypatch.setattr(config, "CPU_NAME", name)
    monkeypatch.setattr(config, "CPU_FEATURES", features)
    monkeypatch.setattr(isa_module, "llvm", SimpleNamespace(get_host_cpu_name=lambda: "znver1",
                                                            get_host_cpu_features=lambda: {"avx512f": host_has_avx512}))
    assert isa_module.target_description()[2] == isa
