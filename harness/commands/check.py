"""``harness check``: every backend once per case against the float64 reference; no timing."""
from __future__ import annotations

from ..errors import EXIT_REGRESSION, UsageError
from ..settings import CHECK_BUDGET_S, SweepSettings
from .sweep import cases_or_usage_error


def run(args) -> int:
    """Check each case on each backend; print the errors against their tolerances; exit 1 on wrong/failed."""
    from ..render.console import print_check
    from ..results import MemoryWriter
    from ..sweeploop import run_sweep

    settings = SweepSettings.from_args(args, budget_s=CHECK_BUDGET_S)
    _, cases = cases_or_usage_error(settings)
    writer = MemoryWriter()
    run_sweep(cases, settings.backends, settings.timing_config(), writer, run_id="check", timed=False,
              executor=settings.executor())
    source = f"layers {settings.layers}" if settings.layers else f"preset {settings.preset}"
    print_check(writer.rows, title=f"Correctness vs float64 reference, {source}")
    if not any(row["status"] in ("ok", "wrong", "failed") for row in writer.rows):
        raise UsageError("nothing could be checked: every backend was unavailable or skipped "
                         f"({', '.join(sorted({row['status'] for row in writer.rows}))})")
    return EXIT_REGRESSION if any(row["status"] in ("wrong", "failed") for row in writer.rows) else 0
