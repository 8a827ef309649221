"""The names in a results folder: a run's files, the files the harness keeps there for itself, the ids a run may take.

A run ``RUN_ID`` owns ``RUN_ID.csv`` (its table) and ``RUN_ID`` + each of ``RUN_FILE_KINDS`` beside it. The harness
keeps files of its own in the same folder (``HARNESS_FILES``: this machine's roof, the stored noise floor, the
history database); every module that writes one takes its name from here (:mod:`harness.peak_store`,
:mod:`harness.noisefloor`, :mod:`harness.historydb`), and the run ids they would collide with are derived from
those names (``RESERVED``): ``--run-id noise`` would write its metadata over the stored noise floor. This module
imports nothing of the harness, so that every store can import it.
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

#: This machine's roofs (:mod:`harness.peak_store`).
PEAK_FILE = "peak.json"
#: The noise floors ``harness calibrate`` and ``compare --save-floor`` store (:mod:`harness.noisefloor`).
NOISE_FILE = "noise.json"
#: The default history database (:mod:`harness.historydb`); SQLite keeps its journal beside it
#: (``history.sqlite-journal``), and ``history plot`` draws into ``plots/history/`` by default.
HISTORY_FILE = "history.sqlite"
#: The harness's own files in a results folder, each with what it holds.
HARNESS_FILES = {PEAK_FILE: "roof of this machine", NOISE_FILE: "stored noise floor", HISTORY_FILE: "history database"}
#: Run ids that are not runs, each with why: the stems of ``HARNESS_FILES``, and ``index`` (``report --index``
#: writes the plots folder's index page).
RESERVED = {**{name.split(".")[0]: f"{what} ({name} in the results folder)" for name, what in HARNESS_FILES.items()},
            "index": "index page (index.html in the plots folder)"}
RESERVED_RUN_IDS = tuple(RESERVED)
#: A run's files besides its table, by suffix, with what each holds (the longer ``.samples.csv`` before ``.csv``).
RUN_FILE_KINDS = {".samples.csv": "samples file", ".reduction.csv": "reduction table", ".passes.jsonl": "passes file",
                  ".json": "metadata", ".lock": "lock file"}
RUN_FILE_SUFFIXES = tuple(RUN_FILE_KINDS)

#: A new run's id: no dots, so ``X.samples`` & co. can never be another run's table.
RUN_ID_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,99}\Z")
#: Runs written before dots were refused can still be read.
_LEGACY_RUN_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


def check_run_id(run_id: str, *, new: bool = True) -> str:
    """Return ``run_id`` if it may name a run (``new``: one to be written), else raise ValueError naming why.

    A new run's id is letters, digits, ``_`` and ``-`` (no dots), up to 100 characters, and not one of
    ``RESERVED_RUN_IDS`` in any case (``peak``, ``noise``, ``history``: the harness's own files; ``index``);
    reading accepts older ids with dots.
    """
    if isinstance(run_id, str) and run_id.lower() in RESERVED:
        raise ValueError(f"invalid run id {run_id!r}: reserved for the harness's own {RESERVED[run_id.lower()]}"
                         + ("; choose another" if new else ", not a run"))
    pattern = RUN_ID_PATTERN if new else _LEGACY_RUN_ID
    if not isinstance(run_id, str) or not pattern.match(run_id) \
            or (not new and run_id.endswith((".samples", ".reduction", ".passes"))):
        raise ValueError(f"invalid run id {run_id!r}: use up to 100 letters, digits, '_' or '-' (no dots or path "
                         f"separators), not one of {', '.join(RESERVED_RUN_IDS)}")
    return run_id


def not_a_table(path: str | Path) -> str | None:
    """Why the file ``path`` is not a run's table, or None: it is one of the harness's own files, another of a
    run's files (``r1.json``: its metadata), or not a ``.csv``."""
    path = Path(path)
    name = path.name
    if name.lower() in HARNESS_FILES:
        return (f"{path} is the harness's {HARNESS_FILES[name.lower()]}, not a run: name a run's table "
                "(RESULTS_DIR/RUN_ID.csv) or its run id")
    suffix = next((s for s in RUN_FILE_SUFFIXES if name.endswith(s) and len(name) > len(s)), None)
    if suffix:
        run_id = name[:-len(suffix)]
        return (f"{path} is the {RUN_FILE_KINDS[suffix]} of run {run_id!r}, not its table: name "
                f"{path.with_name(run_id + '.csv')} or the run id {run_id}")
    if path.suffix != ".csv":
        return f"{path} is not a run table (RESULTS_DIR/RUN_ID.csv)"
    return None


#: The longest name of one file or folder Linux file systems take, in bytes.
NAME_MAX_BYTES = 255


def check_name_lengths(ref: str | Path) -> Path:
    """``ref`` as a Path; ValueError when a name in it is longer than file systems take (``Path.is_file`` would
    raise OSError for it, not say False)."""
    path = Path(ref)
    long = next((part for part in path.parts if len(os.fsencode(part)) > NAME_MAX_BYTES), None)
    if long is not None:
        raise ValueError(f"{long[:60]}...: a name of {len(os.fsencode(long))} bytes is no file or run id (a file "
                         f"name holds at most {NAME_MAX_BYTES} bytes)")
    return path


class RunFiles:
    """The paths of one run's files under a results directory and a plots directory."""

    def __init__(self, results_dir: str | Path, run_id: str, plots_dir: str | Path = "plots", *, new: bool = False):
        self.run_id = check_run_id(run_id, new=new)
        self.results_dir = Path(results_dir)
        self.table = self.results_dir / f"{run_id}.csv"
        self.samples = self.results_dir / f"{run_id}.samples.csv"
        self.metadata = self.results_dir / f"{run_id}.json"
        self.reduction = self.results_dir / f"{run_id}.reduction.csv"
        self.passes = self.results_dir / f"{run_id}.passes.jsonl"
        self.lock = self.results_dir / f"{run_id}.lock"
        self.plots = Path(plots_dir) / run_id

    def resume_command(self) -> str:
        """The command that continues this run, with its folders where they are not the defaults (copied from an
        interrupt's message, it must find the run)."""
        words = ["python", "-m", "harness", "sweep", "--resume", self.run_id]
        if self.results_dir != Path("results"):
            words += ["--results-dir", str(self.results_dir)]
        if self.plots.parent != Path("plots"):
            words += ["--plots-dir", str(self.plots.parent)]
        return shlex.join(words)

    def existing(self) -> list[Path]:
        """The run's files that are on disk already (table, metadata, passes, samples): a new run may take
        its id only when there are none."""
        return [p for p in (self.table, self.metadata, self.passes, self.samples) if p.exists()]

    @classmethod
    def from_table(cls, table: str | Path, plots_dir: str | Path = "plots") -> RunFiles:
        """The run whose table is ``table`` (``results/RUN_ID.csv``)."""
        table = Path(table)
        return cls(table.parent, table.name.removesuffix(".csv"), plots_dir)

    @classmethod
    def of(cls, ref: str | Path, results_dir: str | Path = "results", plots_dir: str | Path = "plots") -> RunFiles:
        """A run given as the path of its table (``results/RUN_ID.csv``) or as a run id under ``results_dir`` (the
        id of a run there wins over a file of that name in the working folder); ValueError for an invalid run id, or
        a file that is not a run's table (:func:`not_a_table`)."""
        path = check_name_lengths(ref)
        if _LEGACY_RUN_ID.match(str(ref)) and (Path(results_dir) / f"{ref}.csv").is_file():
            return cls(results_dir, str(ref), plots_dir)  # a run's id, whatever files lie in the working folder
        if path.suffix == ".csv" or path.is_file() or path.name.lower() in HARNESS_FILES \
                or path.name.endswith(RUN_FILE_SUFFIXES):
            problem = not_a_table(path)
            if problem:
                raise ValueError(problem)
            return cls.from_table(path, plots_dir)
        return cls(results_dir, str(ref), plots_dir)
