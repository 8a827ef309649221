"""``harness peak``: this machine's roof - FMA GFLOP/s, memory GB/s, clock - beside BLAS GEMM; stored for sweeps."""
from __future__ import annotations

import sys

from ..errors import UsageError
from ..peak_store import cached_peak, check_peak_file
from .common import writable_dir


def roof_lines(peak: dict) -> list[str]:
    """The roof as a few lines of text: each figure, its spread, and how it compares with theory."""
    lines = [f"roof of {peak['cpu_model']} ({peak['isa']}, {peak['vector_bits']}-bit vectors), {peak['threads']} threads:"]
    for dtype, roof in peak["fma_gflops"].items():
        one, theory = peak["fma_gflops_1t"][dtype], peak["fma_theoretical_gflops"][dtype]
        lanes = peak["vector_bits"] // (32 if dtype == "float32" else 64)
        lines.append(f"  FMA {dtype}: {roof:.0f} GFLOP/s ({one:.0f} on one thread; spread {peak['fma_spread'][dtype]:.0%}); "
                     f"theory {theory:.0f} = {peak['clock_ghz']:.2f} GHz x {lanes} lanes x 2 FLOP x 2 FMA pipes x "
                     f"{peak['threads']} cores ({roof / theory:.0%} of it)")
    probe = peak.get("clock_probe", "integer chain")
    lines.append(f"  clock: {peak['clock_ghz']:.2f} GHz measured by a dependent {probe} (the higher of two probes, "
                 "each of which can only read low)"
                 + (f" (the OS reports {peak['os_clock_ghz']:.2f} GHz)" if peak.get("os_clock_ghz") else ""))
    detail = peak["bandwidth_detail"]
    lines.append("  memory: " + ", ".join(f"{kind} {v[0]:.1f} GB/s (spread {v[1]:.0%})" for kind, v in detail.items())
                 + f"; arrays of {peak.get('llc_bytes') and 4 * peak['llc_bytes'] // 2**20 or 64} MiB or more")
    lines.append("  BLAS GEMM (what a library reaches, not the roof): "
                 + ", ".join(f"{dt} {v:.0f} GFLOP/s" for dt, v in peak["gemm_gflops"].items()))
    gpu = peak.get("gpu")
    if gpu:
        lines.append("  GPU: FMA " + ", ".join(f"{dt} {v:.0f} GFLOP/s" for dt, v in gpu["fma_gflops"].items())
                     + f"; device copy {gpu['copy_gbytes_per_s']:.0f} GB/s; {gpu['sms']} SMs; SM clock "
                     f"{gpu.get('sm_clock_mhz_before')} MHz before, {gpu.get('sm_clock_mhz_after')} after")
    lines.append(f"  {peak['source']}")
    return lines


def run(args) -> int:
    """Show the stored roof (measuring it when there is none, or with --fresh), store it when it can be trusted."""
    writable_dir(args.results_dir, "--results-dir")
    try:
        check_peak_file(args.results_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    fresh = args.fresh or args.seconds is not None  # asking for a measuring time asks for a measurement
    peak = cached_peak(args.results_dir, fresh=fresh, seconds=args.seconds or 1.0)
    print("\n".join(roof_lines(peak)))
    if peak.get("problems"):
        sys.stderr.write("harness: warning: this roof was measured on a busy machine and is not stored "
                         f"({'; '.join(peak['problems'])}); run `harness peak --fresh` when the machine is quiet\n")
    return 0
