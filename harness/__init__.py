"""convbench harness: measuring convolution backends (sweeps, timing, results, plots, CLI).

Everything about measuring lives here; the convolutions themselves live in
:mod:`kernels`, which never imports this package. From Python::

    import harness
    run = harness.sweep("inception3a", backends=["numpy", "numba-cpu"], budget_s=0.5)
    run.table; run.samples; run.metadata; run.reduction; run.plot("gflops"); run.report()
    harness.load("example"); harness.compare("before", "after")
    harness.history()  # every run recorded with `harness history add` (or `sweep --history`), as a DataFrame

The names are imported on first use, so ``python -m harness --help`` stays fast.
"""
from __future__ import annotations

__all__ = ["Run", "compare", "history", "load", "sweep"]


def __getattr__(name: str):
    """Import the public API lazily (``harness.sweep`` etc. come from :mod:`harness.api`)."""
    if name == "history":
        from .api_history import history  # lazy: keeps `import harness` light (history imports numpy)

        return history
    if name in __all__:
        from . import api  # lazy: api imports numba, rich and the engine

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
