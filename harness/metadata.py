"""What a run was measured on: machine, software versions, threading, BLAS, GPU, command."""
from __future__ import annotations

import datetime as dt
import math
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numba
from threadpoolctl import threadpool_info

from kernels.numba_cpu import isa_info

from .probe import PROBE_VERSION


#: When this module was imported: the start of a run's wall time where /proc cannot say when the process started.
IMPORTED_AT = time.time()


def now_iso() -> str:
    """The current UTC time in ISO 8601, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor as a fallback)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    """Total memory in GiB (Linux /proc/meminfo), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def git_commit() -> str | None:
    """The commit of the checkout the harness runs from (with '+dirty' when modified), or None."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


#: module name -> distribution name of the libraries whose versions a run records when they are imported.
TRACKED = {"numpy": "numpy", "numba": "numba", "llvmlite": "llvmlite", "pandas": "pandas", "scipy": "scipy",
           "matplotlib": "matplotlib", "threadpoolctl": "threadpoolctl", "torch": "torch", "numba_cuda": "numba-cuda",
           "distributed": "distributed", "jinja2": "jinja2", "rich": "rich"}


def library_versions() -> dict:
    """Python and every tracked library imported in this process (numpy, numba, llvmlite and pandas always: pandas
    is imported here, not at the top, so that a worker process asking :func:`kernel_versions` never loads it)."""
    import pandas  # noqa: F401

    return loaded_versions()


def loaded_versions() -> dict:
    """Python, the pace probe's version (:data:`harness.probe.PROBE_VERSION`, as ``probe``) and every tracked
    library this process has imported (none is imported for the asking)."""
    versions = {"python": platform.python_version(), "probe": PROBE_VERSION}
    for module, dist in TRACKED.items():
        if module in sys.modules:
            try:
                versions[dist] = version(dist)
            except PackageNotFoundError:
                versions[dist] = getattr(sys.modules[module], "__version__", "?")
    return versions


def kernel_versions() -> dict:
    """:func:`loaded_versions` where the kernels run (a worker), plus what they link: torch's oneDNN and MKL, and
    each BLAS with the core type it runs its kernels for (OpenBLAS's ``architecture``, e.g. Haswell, SkylakeX)."""
    versions = loaded_versions()
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            config = torch.__config__.show()
        except Exception:  # nice to have
            config = ""
        for key, pattern in (("onednn", r"(?:MKL-DNN|oneDNN) v([\w.]+)"),
                             ("mkl", r"Math Kernel Library Version ([\w.]+)")):
            found = re.search(pattern, config)
            if found:
                versions[key] = found.group(1)
    try:
        versions.update(blas_versions(threadpool_info()))
    except Exception:  # nice to have: an odd BLAS must not stop a worker
        pass
    return versions


def blas_versions(infos) -> dict:
    """``{"openblas": "0.3.30", "openblas_core_type": "SkylakeX", ...}`` from threadpoolctl's ``infos``, the same
    whatever order the libraries were loaded in. Where a process loaded several copies of one BLAS (numpy's and
    scipy's OpenBLAS), each is named by the package folder it ships in: ``"numpy 0.3.31.188.0; scipy 0.3.30"`` -
    keeping whichever came last made two runs of one environment differ, and compare warned of it."""
    found: dict = {}
    for info in infos:
        api = info.get("internal_api")
        if api in ("openblas", "mkl", "blis"):
            owner = Path(str(info.get("filepath") or "")).parent.name.removesuffix(".libs")
            found.setdefault(api, []).append((owner, info.get("version"), info.get("architecture")))
    out = {}
    for api, libs in found.items():
        libs.sort(key=lambda lib: (lib[0], str(lib[1])))
        out[api] = libs[0][1] if len(libs) == 1 else "; ".join(f"{owner} {version}" for owner, version, _ in libs)
        cores = sorted({arch for _, _, arch in libs if arch})
        if cores:
            out[f"{api}_core_type"] = "; ".join(cores)
    return out


def numba_cpu_vectors() -> dict | None:
    """The vector width numba-cpu compiled for on this CPU (``kernels.numba_cpu.isa_info()``), or None."""
    try:
        return isa_info()
    except Exception:  # nice to have: an odd platform must not stop a sweep
        return None


def cpu_isa() -> str:
    """The widest x86 vector ISA this CPU reports (AVX-512, AVX2+FMA, AVX, SSE), or the machine name elsewhere."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        flags = []
    return isa_of_flags(flags) or platform.machine()


def isa_of_flags(flags) -> str | None:
    """The widest x86 vector ISA among CPU feature ``flags`` (AVX-512, AVX2+FMA, AVX, SSE2), or None."""
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse2", "SSE2")):
        if flag in flags:
            return name + ("+FMA" if name == "AVX2" and "fma" in flags else "")
    return None


def gpu_info() -> dict | None:
    """Name, compute capability and driver of the CUDA GPU if one is present (not the simulator)."""
    try:
        from kernels.numba_cuda.compat import import_cuda  # lazy: numba.cuda is slow to import and may fail

        cuda = import_cuda()
        from numba.cuda import config

        if config.ENABLE_CUDASIM or not cuda.is_available():
            return None
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        info = dict(name=name, compute_capability=".".join(map(str, device.compute_capability)))
        try:
            info["driver"] = ".".join(map(str, cuda.cudadrv.driver.driver.get_version()))
        except Exception:  # driver version is nice to have
            pass
        return info
    except Exception:
        return None


def collect_metadata(*, run_id: str, command: list[str], preset: str, backends: list[str], peak: dict | None) -> dict:
    """Everything needed to interpret (and reproduce) a run, as a JSON-able dict."""
    threading_layer = numba_threading_layer()
    return dict(
        run_id=run_id,
        command=shlex.join(command),  # pastes back into a shell: paths with spaces stay one argument
        preset=preset,
        backends=backends,
        started_at=now_iso(),
        git_commit=git_commit(),
        host=socket.gethostname(),
        platform=platform.platform(),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count(),
        memory_gib=memory_gib(),
        cpu_isa=cpu_isa(),
        numba_cpu_vectors=numba_cpu_vectors(),
        versions=library_versions(),
        numba_threading_layer=threading_layer,
        numba_num_threads=numba.config.NUMBA_NUM_THREADS,
        blas=[{k: v for k, v in info.items() if k in ("internal_api", "version", "num_threads",
                                                      "threading_layer", "architecture", "filepath")}
              for info in threadpool_info()],
        gpu=gpu_info(),
        peak=peak,
    )


def numba_threading_layer() -> str:
    """The threading layer numba's parallel kernels use here ("omp", "tbb", "workqueue"), the same whether or
    not this process has run a parallel region yet (the worker processes that measure have)."""
    try:
        return numba.threading_layer()
    except ValueError:  # not chosen yet: let numba choose it now (it loads the library, ~15 ms; no compiling)
        try:
            from numba.np.ufunc.parallel import _launch_threads

            _launch_threads()
            return numba.threading_layer()
        except Exception:  # an older or newer numba without that hook: what was asked for
            return numba.config.THREADING_LAYER


def finish_metadata(meta: dict, stats, *, wall_s: float | None = None, quiet_wait_s: float | None = None,
                    versions: dict | None = None) -> None:
    """Record in ``meta`` how a sweep ended: status, finish time, wall time (``wall_s``, else the loop's), points
    by status, the seconds its passes waited for their library threads to park (``quiet_wait_s``, else the loop's),
    threading layer, and the versions of this process merged with ``versions`` (where the kernels
    ran: torch and its oneDNN/MKL, BLAS core types...)."""
    meta["numba_threading_layer"] = numba_threading_layer()
    waited_s = getattr(stats, "quiet_wait_s", 0.0) if quiet_wait_s is None else quiet_wait_s
    meta.update(status="complete", finished_at=now_iso(), wall_s=round(stats.wall_s if wall_s is None else wall_s, 3),
                points=dict(stats.by_status), versions={**library_versions(), **(versions or {})},
                quiet_wait_s=round(waited_s, 3))


def recorded_s(meta: dict, name: str) -> float:
    """The seconds ``meta`` recorded as ``name`` (a resumed run's earlier sessions'); 0.0 where it has none or not a
    finite number >= 0 (a run written before convbench recorded it, a hand-edited file)."""
    value = meta.get(name)
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if number and value >= 0 else 0.0


def process_started_at() -> float:
    """When this process started (seconds since the epoch): a run's wall time counts from there, start-up
    included; the harness's import time where /proc does not say."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return IMPORTED_AT


