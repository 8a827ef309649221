"""What ``harness compare`` warns of in the runs themselves, beside its verdicts.

* :func:`environment_warnings`: the runs were made on different hosts, CPU models, GPUs or Numba threading
  layers, at different thread counts, or with different library versions - a comparison across machines
  or environments measures them as much as the code;
* :func:`busy_runs`: a run was started on cores that other processes already kept busy, or most of its points
  met them, with kernels on more than one thread - where points scatter far beyond what their rounds show.

The verdicts stand; the warnings say how far to trust them and what to do. The CLI prints them, the
Python API returns them in ``attrs["warnings"]`` and issues them with :func:`warnings.warn`.
"""
from __future__ import annotations

from .contention import is_contended
from .settings import CONTENDED_SHARE


def environment_warnings(base_meta: dict, new_meta: dict, base_table=None, new_table=None) -> list[str]:
    """Differences between the runs' machines, thread counts and library versions worth a warning."""
    warnings = []
    for key, what in (("host", "hosts"), ("cpu_model", "CPU models"), ("gpu", "GPUs"),
                      ("numba_threading_layer", "Numba threading layers")):
        if base_meta.get(key) != new_meta.get(key):
            warnings.append(f"different {what}: {base_meta.get(key)!r} vs {new_meta.get(key)!r}")
    if base_table is not None and new_table is not None:
        tb, tn = sorted(set(base_table["threads"].dropna())), sorted(set(new_table["threads"].dropna()))
        if tb != tn:
            warnings.append(f"different thread counts: {tb} vs {tn}")
    vb, vn = base_meta.get("versions", {}), new_meta.get("versions", {})
    for lib in sorted(set(vb) | set(vn)):
        if vb.get(lib) != vn.get(lib):
            warnings.append(f"different {lib} versions: {vb.get(lib)} vs {vn.get(lib)}")
    return warnings


def busy_runs(base_meta: dict, new_meta: dict, base_table=None, new_table=None) -> list[str]:
    """A warning for each run (sweeps only) that timed kernels on more than one thread on cores other processes
    kept busy: started with the 1-minute load average at or above ``cpu_count`` (its metadata's ``load_before``),
    or with at least half of its points on more than one thread ``contended`` (their ``others_share``, measured
    during each point's median pass, at or above ``CONTENDED_SHARE``: a busy process started after the sweep).
    There a kernel's threads wait for the busy cores and its points scatter far beyond their rounds: on the 2-vCPU
    Intel VM beside one busy loop, an injected 1.3x was caught on 0-26% of inception3a rows at 2 threads and on
    96-98% at ``--threads 1`` (docs/compare.md)."""
    out = []
    sides = (("BASE", base_meta, base_table), ("NEW", new_meta, new_table))
    if base_meta.get("run_id") is not None and base_meta.get("run_id") == new_meta.get("run_id"):
        sides = (("the run", new_meta, new_table),)  # both builds of one A/B run: one start, one warning
    for name, meta, table in sides:
        threads = table["threads"].dropna() if table is not None and "threads" in table else ()
        if len(threads) and threads.max() <= 1:
            continue
        reasons = []
        load, cores = meta.get("load_before"), meta.get("cpu_count")
        if isinstance(load, (int, float)) and isinstance(cores, int) and cores >= 1 and load >= cores:
            reasons.append(f"was started with the load average at {load:.2f} on {cores} cores (other processes kept "
                           "them busy) and kernels on more than one thread")
        contended, threaded = contended_points(table)
        if contended and 2 * contended >= threaded:
            reasons.append(f"timed {contended} of its {threaded} points on more than one thread beside other busy "
                           f"processes (they held {CONTENDED_SHARE:.0%} or more of its cores)")
        if reasons:
            out.append(f"{name} {'; it '.join(reasons)}: its points scatter far beyond their rounds; on a shared "
                       "machine sweep both builds with --threads 1 (best: one A/B run, sweep --against)")
    return out


def contended_points(table) -> tuple[int, int]:
    """``(contended, timed)``: of a run table's points timed on more than one thread, how many met other busy
    processes (``others_share`` at or above ``CONTENDED_SHARE``); (0, 0) for a table without the columns."""
    if table is None or not {"threads", "others_share", "status"} <= set(table.columns):
        return 0, 0
    rows = table[(table["status"] == "ok") & (table["threads"] > 1)]
    return sum(is_contended(share) for share in rows["others_share"]), len(rows)
