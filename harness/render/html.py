"""Self-contained HTML pages: one per run (``plots/RUN_ID/index.html``), an index of runs, compare tables.

Rendered with Jinja2 templates (``harness/templates``) with autoescaping on, so
every value from a results table (a layer label, a plugin's name) is text, never
markup. Pages use inline CSS and carry their figures as ``data:`` URIs, so one
``index.html`` can be attached or mailed alone: no server, no CDN, no JavaScript.
"""
from __future__ import annotations

import base64
import warnings
from pathlib import Path

from ..durable import atomic_write_text
from ..compare_summary import summary_lines, verdict_line
from ..roof import describe_roof
from ..results import RunFiles, read_metadata, read_table
from .answer import answer_tables
from .compare_view import detectable, interval, shown
from .figure_kinds import FIGURES
from .fmt import fmt_seconds, fmt_value, machine_name
from .summary import not_run, summary_grid



def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["zip"] = zip
    return env


def _machine_rows(meta: dict) -> list[tuple[str, str]]:
    peak = meta.get("peak") or {}
    isa = f", {meta['cpu_isa']}" if meta.get("cpu_isa") else ""
    vectors = meta.get("numba_cpu_vectors") or {}
    if vectors:
        isa += f"; numba-cpu: {vectors.get('vector_bits')}-bit vectors"
    rows = [("host", meta.get("host")), ("CPU", f"{meta.get('cpu_model')} x {meta.get('cpu_count')}{isa}"),
            ("memory", f"{meta.get('memory_gib')} GiB"), ("GPU", meta.get("gpu") or "none"),
            ("platform", meta.get("platform")), ("git commit", meta.get("git_commit")),
            ("Numba threading", f"{meta.get('numba_threading_layer')}, {meta.get('numba_num_threads')} threads"),
            ("BLAS", ", ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)"
                               for b in meta.get("blas") or [])),
            ("roof", describe_roof(peak)),
            ("versions", ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())),
            ("started / finished", f"{meta.get('started_at')} / {meta.get('finished_at', meta.get('status'))}")]
    return [(k, str(v)) for k, v in rows if v not in (None, "")]


def cell_css(cell) -> str:
    """CSS classes of a summary cell: best, untrusted, bad (wrong/failed) or status (other words)."""
    classes = ["best"] if cell.best else []
    if cell.untrusted:
        classes.append("untrusted")
    if cell.status in ("wrong", "failed"):
        classes.append("bad")
    elif cell.status not in ("ok", ""):
        classes.append("status")
    return " ".join(classes)


def summary_rows(table) -> tuple[list[str], list[dict]]:
    """(backends, rows) of the summary grid as the templates want them (text, CSS classes, flags tooltip)."""
    backends, grid = summary_grid(table)
    return backends, [{"case": r.case, "mflop": r.mflop,
                       "cells": [{"text": c.text, "css": cell_css(c), "title": c.flags} for c in r.cells]}
                      for r in grid]


def run_summary_html(view, totals=None) -> str:
    """A run's summary for a notebook cell: banner, totals, verdicts and the GFLOP/s grid (no figures)."""
    backends, summary = summary_rows(view.table)
    return _env().get_template("summary.html").render(
        run_id=view.files.run_id, meta=view.meta, machine=machine_name(view.meta), banner=view.banner,
        totals=view.totals, verdicts=view.verdicts, backends=backends, summary=summary, not_run=not_run(view.table),
        answers=answer_tables(view.reduction))


def data_uri(path: Path) -> str:
    """A PNG as a ``data:`` URI, so the page carries its figures and can be mailed as one file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_run_report(view) -> Path:
    """Render ``plots/RUN_ID/index.html`` (figures embedded) from a :class:`harness.outputs.RunView`."""
    files, meta, table = view.files, view.meta, view.table
    backends, summary = summary_rows(table)
    figures = [{"name": f.name, "src": data_uri(files.plots / f"{f.name}.png"), "title": f.title, "caption": f.caption}
               for f in FIGURES if (files.plots / f"{f.name}.png").is_file()]
    problems = table[table["status"] != "ok"][["status", "backend", "case", "reason"]].to_dict("records")
    counts = ", ".join(f"{n} {s}" for s, n in table["status"].value_counts().items())
    html = _env().get_template("report.html").render(
        run_id=files.run_id, meta=meta, machine=machine_name(meta), counts=counts, verdicts=view.verdicts,
        answers=answer_tables(view.reduction),
        banner=view.banner, totals=view.totals, roof=view.roof,
        backends=backends, summary=summary, not_run=not_run(table), figures=figures, problems=problems,
        machine_rows=_machine_rows(meta), command=meta.get("command", ""), table_path=str(files.table))
    files.plots.mkdir(parents=True, exist_ok=True)
    path = files.plots / "index.html"
    atomic_write_text(path, html)
    return path


def _headline(table) -> str:
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return "no timed points"
    best = ok.groupby("backend")["gflops"].median().sort_values(ascending=False)
    return ", ".join(f"{b} {g:.3g}" for b, g in best.items()) + " GFLOP/s (median over layers)"


def write_index(results_dir: str | Path, plots_dir: str | Path) -> Path:
    """Render ``PLOTS_DIR/index.html`` listing every run in ``results_dir``, newest first; ValueError (the page left
    as it was) when ``results_dir`` is not a folder."""
    results_dir, plots_dir = Path(results_dir), Path(plots_dir)
    if not results_dir.is_dir():
        problem = "not a directory" if results_dir.exists() else "no such directory"
        raise ValueError(f"results folder {results_dir}: {problem}")
    runs, damaged = [], []
    for table_path in sorted(results_dir.glob("*.csv")):
        if table_path.name.endswith((".samples.csv", ".reduction.csv")):
            continue
        try:  # a file in results/ that is not a readable run is not listed (and named in a warning)
            files = RunFiles.from_table(table_path, plots_dir)
            table = read_table(files.table)
            meta = read_metadata(files.metadata)
        except ValueError:
            damaged.append(table_path.name)
            continue
        page = files.plots / "index.html"
        runs.append({"run_id": files.run_id, "date": meta.get("started_at") or "", "preset": meta.get("preset") or "",
                     "machine": machine_name(meta), "backends": ", ".join(dict.fromkeys(table["backend"])),
                     "headline": _headline(table),
                     "link": f"{files.run_id}/index.html" if page.is_file() else None})
    if damaged:
        warnings.warn(f"the index leaves out {len(damaged)} table(s) of {results_dir} that are not readable runs: "
                      f"{', '.join(damaged[:5])}{' ...' if len(damaged) > 5 else ''}", stacklevel=2)
    runs.sort(key=lambda r: r["date"], reverse=True)
    plots_dir.mkdir(parents=True, exist_ok=True)
    path = plots_dir / "index.html"
    atomic_write_text(path, _env().get_template("index.html").render(runs=runs, results_dir=str(results_dir)))
    return path


def write_compare_html(result, path: Path, base: str, new: str, threshold: float, alpha: float,
                       warnings: list[str]) -> Path:
    """Render a comparison table (from :func:`harness.comparison.compare_runs`) as an HTML page."""
    rows = [{"verdict": r.verdict, "backend": r.backend, "case": r.case, "base": fmt_seconds(r.base_time_s),
             "new": fmt_seconds(r.new_time_s), "ratio": fmt_value(r.ratio, ".3f"), "interval": interval(r),
             "detectable": detectable(r), "note": r.note}
            for r in shown(result).itertuples()]
    html = _env().get_template("compare.html").render(
        base=base, new=new, rows=rows, verdict=verdict_line(result)[1], summary=summary_lines(result),
        threshold=f"{threshold:.0%}", alpha=alpha, warnings=warnings)
    atomic_write_text(path, html, follow_symlink=True)  # a file the user named (--html)
    return path
