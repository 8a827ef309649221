"""Building a torch model from a reference: ``torchvision:NAME``, ``timm:NAME``, ``FILE.py:CALLABLE`` or
``MODULE:CALLABLE`` (:func:`model_from_ref`), for :mod:`harness.capture`.

Every failure is a one-line :class:`CaptureError`, the model's own ``sys.exit()`` included (a model may not end
the harness); a real Ctrl-C (KeyboardInterrupt) is left alone and still stops it.
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from .errors import did_you_mean


class CaptureError(ValueError):
    """A model that cannot be built or captured; the one-line message names the cause."""


def error_line(exc: BaseException) -> str:
    """``TypeName: first line of the message`` of ``exc`` (a model's error, reported on one line)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def exit_call(exc: SystemExit) -> str:
    """The ``sys.exit(...)`` call that raised ``exc``, as the model's code would have written it."""
    return "sys.exit()" if exc.code is None else f"sys.exit({exc.code!r})"


def import_torch():
    """The ``torch`` module; CaptureError saying how to install it when it does not import."""
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - any import failure means: no usable torch
        raise CaptureError(f"torch is not importable ({error_line(exc)}); install it: pip install torch") from None
    return torch


def _install_hint(library: str, torch, exc: BaseException) -> str:
    """How to get ``library`` (torchvision, timm) importable beside the installed ``torch``."""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == library:
        index = " --index-url https://download.pytorch.org/whl/cpu" if "+cpu" in torch.__version__ else ""
        return f"install it: pip install {library}{index}" + (
            f" (the release built for torch {torch.__version__})" if library == "torchvision" else "")
    return f"reinstall {library}: the installed one does not work with torch {torch.__version__}"


def _own_callables(module) -> list[str]:
    """The public functions and classes ``module`` defines itself (not the ones it imports)."""
    return sorted(n for n, v in vars(module).items()
                  if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == module.__name__)


def _from_file_or_module(ref: str, target: str, attr: str):
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise CaptureError(f"model {ref!r}: no such file {target}")
            spec = importlib.util.spec_from_file_location(f"convbench_model_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except CaptureError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - includes SyntaxError and sys.exit() in user code
        raise CaptureError(f"model {ref!r}: importing {target} failed: {error_line(exc)}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        own = _own_callables(module)
        listed = ", ".join(own[:12]) + (f" and {len(own) - 12} more" if len(own) > 12 else "") if own else "none"
        raise CaptureError(f"model {ref!r}: {target} has no callable {attr!r}{did_you_mean(attr, own)}; "
                           f"the callables it defines: {listed}")
    return factory


def model_from_ref(ref: str):
    """Build a model: ``torchvision:NAME``, ``timm:NAME``, or ``FILE.py:CALLABLE`` / ``MODULE:CALLABLE``.

    The factory is called with no arguments (torchvision with ``weights=None``, timm with
    ``pretrained=False``) and must return an ``nn.Module``.
    """
    kind, sep, name = str(ref).rpartition(":")
    if not sep or not kind or not name:
        raise CaptureError(f"model {ref!r}: expected torchvision:NAME, timm:NAME, FILE.py:CALLABLE or MODULE:CALLABLE")
    torch = import_torch()
    if kind in ("torchvision", "timm"):
        try:
            library = importlib.import_module("torchvision.models" if kind == "torchvision" else "timm")
        except Exception as exc:  # noqa: BLE001 - e.g. "operator torchvision::nms does not exist"
            raise CaptureError(f"model {ref!r}: {kind} is not importable ({error_line(exc)}); "
                               f"{_install_hint(kind, torch, exc)}") from None
        if kind == "torchvision":
            known = {n for n in dir(library) if n[:1].islower() and not n.startswith(("get_", "list_"))
                     and callable(getattr(library, n))}
            if name not in known:
                raise CaptureError(f"model {ref!r}: torchvision has no model {name!r}{did_you_mean(name, known)}")
            factory, kwargs = getattr(library, name), {"weights": None}
        else:
            known = set(library.list_models())
            if name not in known:
                raise CaptureError(f"model {ref!r}: timm has no model {name!r}{did_you_mean(name, known)}")
            factory, kwargs = (lambda **kw: library.create_model(name, **kw)), {"pretrained": False}
    else:
        factory, kwargs = _from_file_or_module(ref, kind, name), {}
    try:
        model = factory(**kwargs)
    except SystemExit as exc:  # not an exit of the harness: the factory's own doing (Ctrl-C still stops it)
        raise CaptureError(f"model {ref!r}: building it called {exit_call(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - the factory's own error, on one line
        raise CaptureError(f"model {ref!r}: building it failed: {error_line(exc)}") from None
    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"model {ref!r}: the factory returned {type(model).__name__}, not a torch.nn.Module")
    return model
