"""The CLI's verbs, one module each; :data:`COMMANDS` maps a verb to its ``run(args) -> exit code``.

Argument parsing lives in :mod:`harness.cli`; each command turns its parsed
arguments into calls of the core modules and the views in :mod:`harness.render`,
and signals a bad request with :class:`harness.errors.UsageError`.
"""
from __future__ import annotations

import importlib

from ..errors import UsageError

#: verb -> module under harness.commands holding its ``run(args)``.
COMMANDS = {"sweep": "sweep", "list": "listing", "check": "check", "plot": "plot", "report": "report",
            "peak": "peak", "compare": "compare", "calibrate": "calibrate",
            "layers": "layers", "history": "history"}


def run(args) -> int:
    """Dispatch ``args.command`` to its module's ``run``."""
    if args.command not in COMMANDS:
        raise UsageError(f"unknown command {args.command!r}; choose from: {', '.join(COMMANDS)}")
    module = importlib.import_module(f"{__name__}.{COMMANDS[args.command]}")
    return module.run(args)
