"""Errors a command turns into an exit code, and the exit codes themselves (one place for both).

Library code raises ``ValueError``/``TypeError``; commands raise :class:`UsageError`
for a bad request, which the CLI prints as one line on stderr with exit code 2.
"""
from __future__ import annotations

import re

#: Exit codes of ``python -m harness`` (``compare`` uses all four of the first ones).
EXIT_OK = 0
EXIT_REGRESSION = 1  # compare found a regression; check found a wrong answer
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3  # compare: nothing regressed, but some matched point could not be judged
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad request: printed as one line on stderr, exit code 2, before anything is measured."""


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
