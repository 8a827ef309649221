"""What every figure shares: matplotlib set up headless, one colour per backend, titles, saving."""
from __future__ import annotations

from pathlib import Path

from ..durable import atomic_write
from .fmt import machine_name

BACKEND_COLORS = ["#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#e377c2",
                  "#17becf", "#bcbd22"]


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def backend_colors(backends) -> dict:
    """A stable colour per backend: registry order first, then any others (plugins, old runs)."""
    import kernels

    order = kernels.list_backends() + sorted(set(backends) - set(kernels.list_backends()))
    return {b: BACKEND_COLORS[i % len(BACKEND_COLORS)] for i, b in enumerate(order)}


def plain(text) -> str:
    """``text`` as literal figure text: ``$`` escaped so matplotlib never reads a label as mathtext."""
    return str(text).replace("$", r"\$")


def title(what: str, meta: dict) -> str:
    """Figure title: what it shows, the preset, and the machine it was measured on."""
    return plain(f"{what}\npreset {meta.get('preset', '?')} on {machine_name(meta)}")


def ok_rows(table):
    """The rows of a run table that were timed (status ok)."""
    return table[table["status"] == "ok"]


def save_figure(fig, path: Path | None):
    """Lay out ``fig``; write it to ``path`` and close it, returning ``path`` - or, with no path (a notebook
    asked for the figure), return the open Figure itself. A figure that set its own layout engine keeps it."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    if path is None:
        return fig
    import matplotlib

    path = Path(path)
    fmt = path.suffix[1:].lower() or matplotlib.rcParams["savefig.format"]
    if not path.suffix:  # as savefig names a file without a suffix
        path = path.with_name(f"{path.name}.{fmt}")
    try:  # a full disk leaves the old figure, not a cut one
        atomic_write(path, lambda fh: fig.savefig(fh, dpi=110, format=fmt))
    finally:
        pyplot().close(fig)
    return path

