"""Which x86 vector ISA the ``numba-cpu`` kernels compile for, decided once at import.

The answer follows Numba's own compile target, so that it always matches the machine code and
the Numba cache (whose index is keyed on the same CPU name and features):

1. ``NUMBA_CPU_FEATURES`` when set (``+avx512f`` in it means AVX-512);
2. else ``NUMBA_CPU_NAME`` when set to a CPU other than ``host`` (a table of LLVM CPU names
   with AVX-512). Numba then still takes the *host's* features unless ``NUMBA_CPU_FEATURES`` is set
   (empty: the named CPU's own), and the host's list names every feature, ``-avx512f`` included on
   an AVX2 machine: so the name means AVX-512 only with an empty ``NUMBA_CPU_FEATURES`` (how a test
   compiles for a CPU it does not have) or on a host that has AVX-512 (on the AMD EPYC Zen 1 VM,
   ``skylake-avx512`` alone compiled ``<16 x float>`` into pairs of ``ymm``);
3. else the host's features as LLVM sees them (``llvmlite.binding.get_host_cpu_features``).

AVX-512 gives 64-byte vectors (16 float32 / 8 float64 lanes, 32 ``zmm`` registers), AVX2 32-byte
ones (8 / 4 lanes, 16 ``ymm``); anything older is treated as AVX2-shaped code, which LLVM
splits into whatever it has.
"""
from __future__ import annotations

from llvmlite import binding as llvm
from numba.core import config

#: LLVM CPU names whose feature set includes AVX-512F.
AVX512_CPUS = frozenset(
    "skylake-avx512 cascadelake cooperlake cannonlake icelake-client icelake-server rocketlake "
    "tigerlake sapphirerapids emeraldrapids graniterapids graniterapids-d diamondrapids knl knm "
    "znver4 znver5 x86-64-v4".split()
)


def target_description() -> tuple[str, str, str]:
    """(cpu name, where it came from, isa) of Numba's compile target."""
    name = config.CPU_NAME or "host"
    features = config.CPU_FEATURES
    if features:
        isa = "avx512" if "+avx512f" in features.split(",") else "avx2"
        return (name if name != "host" else llvm.get_host_cpu_name()), "NUMBA_CPU_FEATURES", isa
    cpu = llvm.get_host_cpu_name() if name == "host" else name
    source = "host" if name == "host" else "NUMBA_CPU_NAME"
    if features == "":  # the named CPU's own features
        return cpu, source, "avx512" if cpu in AVX512_CPUS else "avx2"
    host_avx512 = llvm.get_host_cpu_features().get("avx512f", False)  # Numba compiles with the host's features
    return cpu, source, "avx512" if host_avx512 and (name == "host" or name in AVX512_CPUS) else "avx2"


CPU_NAME, SOURCE, ISA = target_description()

#: Bytes of one vector register the kernels are written for.
VECTOR_BYTES = 64 if ISA == "avx512" else 32

#: Vector registers of that width (the register tile is sized to leave a few free).
VECTOR_REGISTERS = 32 if ISA == "avx512" else 16


def lanes_for(dtype) -> int:
    """Lanes of one vector register of :data:`VECTOR_BYTES` for a NumPy or Numba float dtype."""
    bits = getattr(dtype, "bitwidth", None) or dtype.itemsize * 8
    return VECTOR_BYTES * 8 // bits

#: Whether the 1x1 GEMM reads its input from panels made in ``prepare()`` (one contiguous run per
#: tile) rather than from NCHW (C runs of two vectors, H*W pixels apart). Intel AVX-512 only:
#: there its hardware prefetch feeds the C strided runs badly from L2 and L3 (measured below, in
#: docs/kernels-numba-cpu.md); Zen 5 and AVX2 keep the measured NCHW GEMM.
GEMM_PACK_PIXELS = ISA == "avx512" and not CPU_NAME.startswith("znver")

#: Whether each thread gets a region of a layer's tasks of its own, to which it comes back call
#: after call (:mod:`kernels.numba_cpu.schedule`), rather than whichever chunks it claims first.
#: Intel AVX-512 only: with 2 MiB of private L2 per core and a slow shared L3 (30 GB/s per core
#: here), data that moved to the other core's L2 since the last call costs more than the FMAs it
#: feeds. Zen 5 and AVX2 keep the measured one-region dynamic schedule.
AFFINE_REGIONS = GEMM_PACK_PIXELS
