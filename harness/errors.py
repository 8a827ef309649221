"""Errors a command turns into an exit code, and the exit codes themselves (one place for both).

Library code raises ``ValueError``/``TypeError``; commands raise :class:`UsageError`
for a bad request, which the CLI prints as one line on stderr with exit code 2.
"""
from __future__ import annotations

import difflib
import re

#: Exit codes of ``python -m harness`` (``compare`` uses all four of the first ones).
EXIT_OK = 0
EXIT_REGRESSION = 1  # compare found a regression; check found a wrong answer
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3  # compare: nothing regressed, but some matched point could not be judged
EXIT_INTERRUPTED = 130
EXIT_CLUSTER_LOST = 75  # sweep: the Dask scheduler went away mid-sweep (EX_TEMPFAIL: --resume the run later)


class UsageError(ValueError):
    """A bad request: printed as one line on stderr, exit code 2, before anything is measured.

    A ValueError, so that :func:`harness.sweep` and other library callers see the error Python code expects."""


def did_you_mean(name, known) -> str:
    """`` (did you mean 'x'?)`` naming the entries of ``known`` closest to ``name`` (difflib), or "" when none is close:
    the tail of an "unknown NAME" message, so a typo gets its fix in the same line."""
    near = difflib.get_close_matches(str(name), [str(k) for k in known], n=3)
    if not near:
        return ""
    names = [repr(n) for n in near]
    return f" (did you mean {', '.join(names[:-1]) + ' or ' if len(names) > 1 else ''}{names[-1]}?)"


#: C0 controls (but tab and newline), DEL and C1 controls: ESC starts the terminal's escape sequences (clear the
#: screen, recolour, retitle); C1 CSI (U+009B) does the same on some terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text) -> str:
    """``str(text)`` with every control character but tab and newline shown as ``\\xNN``: safe to print on a
    terminal (a label or an exception message cannot clear the screen or change colours)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def one_line(text) -> str:
    """``text`` as one printable line: whitespace runs (newlines too) become one space, controls ``\\xNN``."""
    return printable(" ".join(str(text).split()))
