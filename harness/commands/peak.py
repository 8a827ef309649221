"""``harness peak``: measure and store this machine's peak GEMM GFLOP/s and copy bandwidth."""
from __future__ import annotations

from ..errors import UsageError
from .common import writable_dir


def run(args) -> int:
    """Measure, store in RESULTS_DIR/peak.json, print."""
    from ..peak import check_peak_file, measure_peak, save_peak

    writable_dir(args.results_dir, "--results-dir")
    try:
        check_peak_file(args.results_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    result = measure_peak(seconds=args.seconds)
    path = save_peak(args.results_dir, result)
    flops = ", ".join(f"{dt}: {v:.1f} GFLOP/s" for dt, v in result["gemm_gflops"].items())
    print(f"peak on {result['cpu_model']} ({result['threads']} threads): GEMM {flops}; "
          f"copy {result['copy_gbytes_per_s']:.1f} GB/s\nwrote {path}")
    return 0
