"""``harness check``: every backend once per case against the float64 reference; no timing."""
from __future__ import annotations

from ..engine import open_executor, timing_config
from ..errors import EXIT_REGRESSION, UsageError
from ..render.console import print_check
from ..results import MemoryWriter
from ..settings import CHECK_BUDGET_S
from ..sweeploop import run_sweep
from .sweep_request import checked_settings, prepare_sweep, settings_of_args


def run(args) -> int:
    """Check each case on each backend; print the errors against their tolerances; exit 1 on wrong/failed."""
    settings = checked_settings(settings_of_args(args, budget_s=CHECK_BUDGET_S))
    _, cases = prepare_sweep(settings)
    writer = MemoryWriter()
    with open_executor(settings) as executor:
        run_sweep(cases, settings.backends, timing_config(settings), writer, run_id="check", timed=False,
                  executor=executor)
    source = f"layers {settings.layers}" if settings.layers else f"preset {settings.preset}"
    print_check(writer.rows, title=f"Correctness vs float64 reference, {source}")
    if not any(row["status"] in ("ok", "wrong", "failed") for row in writer.rows):
        raise UsageError("nothing could be checked: every backend was unavailable or skipped "
                         f"({', '.join(sorted({row['status'] for row in writer.rows}))})")
    return EXIT_REGRESSION if any(row["status"] in ("wrong", "failed") for row in writer.rows) else 0
