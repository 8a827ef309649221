"""Argument types of the CLI: each parses one option's text or raises ``ArgumentTypeError`` naming the problem.

And :class:`Parser`, whose errors are one line on stderr with exit code 2. Cheap to import:
no numba, pandas or torch (``--help`` stays fast).
"""
from __future__ import annotations

import argparse
import sys

from .backends import check_names
from .cases import parse_axis
from .errors import EXIT_USAGE
from .presets import get_preset


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_USAGE)


def backend_list(text: str) -> list[str]:
    """Parse ``a,b`` into backend names a sweep can run: convolution or fused chain backends (argparse type)."""
    try:
        return check_names([n.strip() for n in text.split(",") if n.strip()])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def preset_name(text: str) -> str:
    """A known preset name (argparse type)."""
    try:
        get_preset(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def axis(text: str) -> tuple[str, tuple]:
    """``NAME=v1,v2`` (argparse type)."""
    try:
        return parse_axis(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def number(text: str, cast, minimum, strict: bool):
    """``text`` as a finite ``cast`` (int/float) >= ``minimum`` (> with ``strict``), else ArgumentTypeError."""
    try:
        value = cast(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if cast is int else 'a number'}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    if value < minimum or (strict and value == minimum):
        raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}, got {text}")
    return value


def positive_float(text: str) -> float:
    """A float > 0 (argparse type)."""
    return number(text, float, 0, strict=True)


def probability(text: str) -> float:
    """A float strictly between 0 and 1, e.g. a significance level (argparse type)."""
    value = number(text, float, 0, strict=True)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be < 1, got {text}")
    return value


def bounded(kind, lowest, highest, why: str):
    """An argparse type: ``kind`` (positive_int, non_negative_float...) no smaller than ``lowest`` and no larger than
    ``highest``; ``why`` says what a value outside means (a typo, a number too small to measure anything)."""
    def parse(text: str):
        value = kind(text)
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"must be between {lowest:g} and {highest:g} ({why}), got {text}")
        return value

    return parse


def non_negative_float(text: str) -> float:
    """A float >= 0 (argparse type)."""
    return number(text, float, 0, strict=False)


def positive_int(text: str) -> int:
    """An int >= 1 (argparse type)."""
    return number(text, int, 1, strict=False)
