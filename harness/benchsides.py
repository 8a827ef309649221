"""What a comparison of several pytest-benchmark files a side adds before it judges (:mod:`harness.benchfiles`).

Both sides must hold several files or one each (a median of processes against one process is neither rule's);
the benchmarks a side left out for being in fewer than two of its files, and files named on both sides, become
warnings; and the machine's pace between the sides is handed to the floor, not divided out
(:mod:`harness.filepace`): NEW's samples carry each benchmark's move of its median pace in
``attrs[harness.benchpace.MOVES_ATTR]``, marked as kept in the times (``DIVIDED_ATTR`` False), which
:func:`harness.benchpace.pace_widened` reads. Where the sides' probes are other loops
(:func:`harness.pacetrust.probes_differ`) no move between them is read at all; that, or another Python or CPU
model (:func:`harness.pacetrust.probe_mismatch`), is named in ``attrs["pace_across"]``.
"""
from __future__ import annotations

from .abhalves import is_twin, own_name
from .benchfiles import LEFT_OUT_KEY, PATHS_KEY, files_of
from .benchpace import DIVIDED_ATTR, MOVES_ATTR
from .filepace import FILE_PACES_ATTR, WITHIN_SLOPES_ATTR, cross_moves
from .pacetrust import ACROSS_ATTR, probe_mismatch, probes_differ

#: How many left-out benchmarks a warning names before it counts the rest.
MAX_NAMED = 6
#: Where the comparison's ``attrs`` hold ``{"BASE": {backend: slope}, "NEW": {...}}`` (the pace within each side)
#: and how many benchmarks had their floor widened for a move of the pace between the sides.
WITHIN_ATTR = "within_pace_slopes_by_side"
MOVED_ATTR = "pace_moved_between"


def files_per_side(base_meta: dict, new_meta: dict) -> tuple[int, int]:
    """How many benchmark files each side holds; ValueError when one side holds several and the other one."""
    files = files_of(base_meta), files_of(new_meta)
    if (files[0] > 1) != (files[1] > 1):
        raise ValueError(f"BASE holds {files[0]} benchmark file(s) and NEW {files[1]}: give both sides one file, or "
                         "both several (each a separate run of the suite, harness.benchfiles)")
    return files


def several_files(base: tuple, new: tuple) -> tuple:
    """``(files per side, warnings, attrs)`` of two ``(label, table, samples, metadata)`` sides: see the module
    docstring; ``attrs`` (for the comparison's ``attrs``) is empty unless both sides hold several files. Sets the
    pace's moves between the sides on NEW's samples."""
    files = files_per_side(base[3], new[3])
    warnings = left_out_warnings(base, new) + shared_warnings(base[3], new[3])
    if files[0] == 1:
        return files, warnings, {}
    sides = [getattr(side[2], "attrs", None) or {} for side in (base, new)]
    # other loops: no move between the sides is known; another Python's or CPU's widens the floors (held back)
    reason, unread = probe_mismatch(base[3], new[3]), probes_differ(base[3], new[3])
    moves = {} if unread else cross_moves(sides[0].get(FILE_PACES_ATTR) or {}, sides[1].get(FILE_PACES_ATTR) or {})
    if new[2] is not None:
        new[2].attrs.update({MOVES_ATTR: moves, DIVIDED_ATTR: False})
    slopes = {name: own_build(attrs.get(WITHIN_SLOPES_ATTR) or {}, side[0])
              for name, attrs, side in (("BASE", sides[0], base), ("NEW", sides[1], new))}
    return files, warnings, {WITHIN_ATTR: slopes, MOVED_ATTR: None if unread else len(moves),
                             **({ACROSS_ATTR: reason} if reason else {})}


def own_build(by_backend: dict, label: str) -> dict:
    """The entries of ``by_backend`` of the build a side stands for: the base build's (``NAME@base``, under their
    own names) where its label ends with ``@base`` (:func:`harness.abhalves.build_of`), else the others."""
    base = str(label).endswith("@base")
    return {own_name(b): v for b, v in by_backend.items() if is_twin(b) == base}


def left_out_warnings(base: tuple, new: tuple) -> list[str]:
    """One line per side that left benchmarks out for being in fewer than two of its files (of its own build)."""
    lines = []
    for side, (label, _, _, meta) in (("BASE", base), ("NEW", new)):
        left = [(case, found) for backend, case, found in meta.get(LEFT_OUT_KEY) or []
                if own_build({backend: True}, label)]
        if left:
            names = ", ".join(f"{case} ({found})" for case, found in left[:MAX_NAMED])
            more = f" and {len(left) - MAX_NAMED} more" if len(left) > MAX_NAMED else ""
            lines.append(f"{len(left)} benchmark(s) in fewer than two of the {files_of(meta)} files of {side} "
                         f"(files found in parentheses) left out there: {names}{more} - a median of processes "
                         "needs two or more; did it fail, get deselected or run fewer than 3 rounds in the others?")
    return lines


def shared_warnings(base_meta: dict, new_meta: dict) -> list[str]:
    """A line when a file is named on both sides: one process counted as both builds pulls them together."""
    shared = sorted(set(base_meta.get(PATHS_KEY) or ()) & set(new_meta.get(PATHS_KEY) or ()))
    if not shared or base_meta.get(PATHS_KEY) == new_meta.get(PATHS_KEY):  # the same files: a run against itself
        return []
    return [f"{len(shared)} file(s) named on both sides ({', '.join(shared[:MAX_NAMED])}): one process counted as "
            "both builds pulls them together; name each run of the suite on one side only"]
