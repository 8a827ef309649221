"""Checks every command shares: a known backend name, a run given by id or path, a writable output file or folder."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import kernels

from ..errors import UsageError, did_you_mean
from ..noisefloor import check_floor_file
from ..results import RunFiles


def check_baseline(name: str) -> None:
    """Refuse a ``--baseline`` that is not a registered backend."""
    known = kernels.list_backends()
    if name not in known:
        raise UsageError(f"unknown baseline {name!r}{did_you_mean(name, known)}; choose from: {', '.join(known)}")


def run_files(ref: str, results_dir: str, plots_dir: str = "plots") -> RunFiles:
    """The files of a saved run given as ``results/RUN_ID.csv`` or as a run id under ``results_dir``; UsageError
    naming the problem: a file that is not a run's table, a folder, an invalid id, no such results folder or run."""
    try:
        files, problem = RunFiles.of(ref, results_dir, plots_dir), None
    except ValueError as exc:
        files, problem = None, str(exc)
    if files is not None and files.table.is_file():
        return files
    if Path(ref).is_dir():
        raise UsageError(f"{ref} is a folder: name a run in it as --results-dir {ref} RUN_ID")
    if problem:
        raise UsageError(problem)
    if files.results_dir == Path(results_dir):  # a run id: its folder first
        if not Path(results_dir).exists():
            raise UsageError(f"no such run {files.run_id!r}: there is no results folder {results_dir} here (sweep "
                             "first, or name the folder with --results-dir)")
        existing_dir(results_dir, "--results-dir")
    raise UsageError(f"no such run {files.run_id!r} in {files.results_dir} (no {files.table})")


def existing_dir(path: str, option: str) -> Path:
    """``path`` as a Path to a folder that exists and can be read (a results folder to read runs from), else
    UsageError naming ``option``."""
    target = Path(path)
    if not target.exists():
        raise UsageError(f"{option} {path}: no such directory")
    if not target.is_dir():
        raise UsageError(f"{option} {path}: not a directory")
    if not os.access(target, os.R_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot be read (permission denied)")
    return target


@contextmanager
def writing(what: str):
    """Turn an OSError while writing ``what`` (a plots folder that is a file, a read-only page...) into one line."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise UsageError(f"cannot write {what}: {exc.strerror or exc}{where}") from None


def writable_file(path: str | None, option: str, suffixes: tuple[str, ...] = ()) -> Path | None:
    """``path`` as a Path if a file can be written there (its folder exists and is writable, and its name ends in
    one of ``suffixes``: a run's .csv/.json is never taken for a report), else UsageError."""
    if path is None:
        return None
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a directory")
    if suffixes and target.suffix.lower() not in suffixes:
        raise UsageError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: folder {folder} is not writable")
    return target


def writable_dir(path: str, option: str, create: bool = True) -> Path:
    """``path`` as a Path to a folder that exists (or can be made: its nearest existing parent is a writable
    folder) and is writable; else UsageError. ``create=False`` checks without making anything."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{option} {path}: exists and is not a directory")
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK):
        raise UsageError(f"{option} {path}: {existing} is not writable")
    if create:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{option} {path}: cannot create it ({exc.strerror})") from None
    return target


def floor_target(results_dir: str) -> Path:
    """``RESULTS_DIR/noise.json`` where a noise floor will be stored (calibrate, compare --save-floor), checked before
    anything is measured or compared: the folder can be written (or made) and the file is not a folder."""
    writable_dir(results_dir, "--results-dir", create=False)
    try:
        return check_floor_file(results_dir)
    except ValueError as exc:
        raise UsageError(f"--results-dir {results_dir}: {exc}") from None
