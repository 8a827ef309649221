"""What ``harness compare`` warns of in the runs themselves, beside its verdicts.

* :func:`environment_warnings`: the runs were made on different hosts, CPU models, GPUs or Numba threading
  layers, at different thread counts, or with different library versions - a comparison across machines
  or environments measures them as much as the code;
* :func:`busy_runs`: a run was started on cores that other processes already kept busy, with kernels on
  more than one thread - where points scatter far beyond what their rounds show.

The verdicts stand; the warnings say how far to trust them and what to do. The CLI prints them, the
Python API returns them in ``attrs["warnings"]`` and issues them with :func:`warnings.warn`.
"""
from __future__ import annotations


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
    """A warning for each run (sweeps only: their metadata holds ``load_before``) started while other processes
    already kept every core busy (the 1-minute load average at or above ``cpu_count``) with kernels on more than one
    thread. There a kernel's threads wait for the busy cores and its points scatter far beyond their rounds: on the
    2-vCPU Intel VM beside one busy loop, an injected 1.3x was caught on 0-26% of inception3a rows at 2 threads and
    on 96-98% at ``--threads 1`` (docs/compare.md)."""
    out = []
    sides = (("BASE", base_meta, base_table), ("NEW", new_meta, new_table))
    if base_meta.get("run_id") is not None and base_meta.get("run_id") == new_meta.get("run_id"):
        sides = (("the run", new_meta, new_table),)  # both builds of one A/B run: one start, one warning
    for name, meta, table in sides:
        load, cores = meta.get("load_before"), meta.get("cpu_count")
        if not isinstance(load, (int, float)) or not isinstance(cores, int) or cores < 1 or load < cores:
            continue
        threads = table["threads"].dropna() if table is not None and "threads" in table else ()
        if len(threads) and threads.max() <= 1:
            continue
        out.append(f"{name} was started with the load average at {load:.2f} on {cores} cores (other processes kept "
                   "them busy) and kernels on more than one thread: its points scatter far beyond their rounds; "
                   "on a shared machine sweep both builds with --threads 1 (best: one A/B run, sweep --against)")
    return out
