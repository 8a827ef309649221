"""Where this machine's roof is kept: ``RESULTS_DIR/peak.json``, one entry per CPU model, vector ISA, thread
count and compiler/library versions (not per host name: VMs get new names, and one host may change threads).

Only a roof without :func:`harness.peak.roof_problems` is stored; one measured while the machine was busy
serves its own run and is measured again next time. Every roof carries ``source``: where it came from.
"""
from __future__ import annotations

import json
from pathlib import Path

from kernels.numba_cpu.isa import ISA

from .durable import atomic_write_text, read_store, store_to_update
from .metadata import cpu_model
from .peak import SWEEP_PEAK_S, measure_peak, roof_versions
from .runfiles import PEAK_FILE
from .threads import max_threads

#: Version of the roof's fields; entries of another schema (the BLAS-only peaks before it) are not reused.
SCHEMA = 2


def peak_key(cpu: str, threads: int, isa: str | None = None, versions: dict | None = None) -> str:
    """The cache key of a roof: CPU model, vector ISA, thread count and library versions."""
    versions = roof_versions() if versions is None else versions
    tail = " ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    return f"{cpu} | {isa or ISA} | {threads} threads | {tail}"


def peak_path(results_dir: str | Path) -> Path:
    """Where roofs are stored: ``RESULTS_DIR/peak.json``."""
    return Path(results_dir) / PEAK_FILE


def check_peak_file(results_dir: str | Path) -> Path:
    """``RESULTS_DIR/peak.json``, if it can be stored there; ValueError naming the problem (say, a folder by that
    name) so that a command can refuse before it spends seconds measuring."""
    path = peak_path(results_dir)
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} exists and is not a file: move it away to store this machine's peak there")
    return path


def load_peak(results_dir: str | Path, threads: int | None = None) -> dict | None:
    """The stored roof of this machine (CPU model, ISA, versions) at ``threads`` (default: all), or None."""
    entry = read_store(peak_path(results_dir))[0].get(peak_key(cpu_model(), threads or max_threads()))
    if not isinstance(entry, dict) or entry.get("schema") != SCHEMA or not isinstance(entry.get("fma_gflops"), dict):
        return None
    if isinstance(entry.get("gpu"), dict) and "copy_method" not in entry["gpu"]:
        return None  # a GPU roof of the first FMA kernel (half an H200's rate) and the driver's copy: measure again
    return entry


def save_peak(results_dir: str | Path, peak: dict) -> Path:
    """Store ``peak`` under its key in ``RESULTS_DIR/peak.json`` (atomically); ValueError for a roof with problems."""
    if peak.get("problems"):
        raise ValueError(f"not storing a roof with problems: {'; '.join(peak['problems'])}")
    path = check_peak_file(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = store_to_update(path, "the roofs")
    entry = {k: v for k, v in peak.items() if k != "source"}
    stored[peak_key(peak["cpu_model"], peak["threads"], peak.get("isa"), peak.get("versions"))] = entry
    atomic_write_text(path, json.dumps(stored, indent=2))
    return path


def cached_peak(results_dir: str | Path, fresh: bool = False, seconds: float = SWEEP_PEAK_S) -> dict:
    """This machine's stored roof; measured when absent or ``fresh`` and stored when it has no problems.

    ``source`` says which: "stored in PATH (measured AT)", "measured now, stored in PATH", or "measured now,
    not stored: PROBLEMS".
    """
    path = check_peak_file(results_dir)
    peak = None if fresh else load_peak(results_dir)
    if peak is not None:
        return dict(peak, source=f"stored in {path} (measured {peak.get('measured_at')})")
    peak = measure_peak(seconds=seconds)
    if peak["problems"]:
        return dict(peak, source="measured now, not stored: " + "; ".join(peak["problems"]))
    save_peak(results_dir, peak)
    return dict(peak, source=f"measured now, stored in {path}")
