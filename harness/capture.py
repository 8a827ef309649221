"""Layers of real models: the ``nn.Conv2d`` shapes one forward pass of a torch model runs, as a layer file.

:func:`capture_layers` hooks every ``nn.Conv2d`` of a model, runs one forward pass on
zeros under ``torch.no_grad()`` (in eval mode, restored afterwards), and collapses
identical convolutions into one entry with a count; convolutions the kernels cannot
run (groups, dilation, non-square kernel/stride/padding, even-k ``"same"``, a
non-zeros ``padding_mode``) are kept with the reason. :func:`model_from_ref` builds a
model from ``torchvision:NAME``, ``timm:NAME`` or ``FILE.py:CALLABLE`` /
``MODULE:CALLABLE``; :func:`write_layer_file` writes the TOML that
:mod:`harness.layerfile` reads. Every failure is a one-line :class:`CaptureError`.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .benchdnn import Descriptor
from .errors import did_you_mean
from .layers import SHAPE_FIELDS, Layer


class CaptureError(ValueError):
    """A model that cannot be built or captured; the one-line message names the cause."""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass(frozen=True)
class Captured:
    """One distinct convolution of a model: input shape, Conv2d parameters, count, and why not runnable.

    ``k``, ``stride``, ``dilation`` are (h, w) pairs; ``padding`` is an (h, w) pair or the
    string torch was given (``"same"``/``"valid"``); ``Ho``/``Wo`` are what torch computed;
    ``reason`` is None when the convbench kernels can run it; ``modules`` are every module
    name collapsed into this entry (``label`` is the first).
    """

    label: str
    N: int
    C: int
    H: int
    W: int
    F: int
    k: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] | str
    dilation: tuple[int, int]
    groups: int
    padding_mode: str
    Ho: int
    Wo: int
    count: int = 1
    reason: str | None = None
    modules: tuple[str, ...] = ()

    @property
    def pad(self) -> tuple[int, int]:
        """Left/top padding per axis, with ``"same"``/``"valid"`` resolved as torch does."""
        if self.padding == "valid":
            return (0, 0)
        if self.padding == "same":
            return tuple(d * (k - 1) // 2 for k, d in zip(self.k, self.dilation))
        return self.padding

    def to_layer(self) -> Layer:
        """The convbench Layer (padding resolved to an int); ValueError with the reason when unsupported."""
        if self.reason:
            raise ValueError(f"convolution {self.label!r}: {self.reason}")
        return Layer(self.label, C=self.C, H=self.H, W=self.W, F=self.F, k=self.k[0], stride=self.stride[0],
                     padding=self.pad[0], N=self.N, count=self.count)

    @property
    def desc(self) -> str:
        """The oneDNN benchdnn descriptor of this convolution (benchdnn counts dilation from 0)."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.k, self.stride, self.pad, self.dilation
        d = Descriptor(g=self.groups, mb=self.N, ic=self.C, oc=self.F, id=1, ih=self.H, iw=self.W, od=1,
                       oh=self.Ho, ow=self.Wo, kd=1, kh=kh, kw=kw, sd=1, sh=sh, sw=sw, pd=0, ph=ph, pw=pw,
                       dd=0, dh=dh - 1, dw=dw - 1, has_groups=self.groups != 1)
        return d.shape_string()


def unsupported_reason(conv) -> str | None:
    """Why the convbench kernels cannot run ``conv`` (an ``nn.Conv2d``), or None when they can."""
    if conv.groups != 1:
        kind = "depthwise" if conv.groups == conv.in_channels == conv.out_channels else "grouped"
        return f"{kind} convolution (groups={conv.groups}); kernels support groups=1 only"
    if tuple(conv.dilation) != (1, 1):
        return f"dilated convolution (dilation={tuple(conv.dilation)}); kernels support dilation 1 only"
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r}; kernels pad with zeros only"
    for what in ("kernel_size", "stride", "padding"):
        value = getattr(conv, what)
        if not isinstance(value, str) and value[0] != value[1]:
            return f"non-square {what} {tuple(value)}; kernels need a square one"
    if conv.padding == "same" and conv.kernel_size[0] % 2 == 0:
        return f"padding='same' with even kernel {conv.kernel_size[0]} pads asymmetrically"
    return None


def _import_torch():
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - any import failure means: no usable torch
        raise CaptureError(f"torch is not importable ({_one_line(exc)}); install it: pip install torch") from None
    return torch


def parse_input_shape(text: str) -> tuple[int, int, int, int]:
    """Parse ``--input`` text such as ``1x3x224x224`` (N x C x H x W, ints >= 1)."""
    parts = str(text).strip().lower().split("x")
    if len(parts) != 4 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise CaptureError(f"input shape {text!r}: expected NxCxHxW with four ints >= 1, e.g. 1x3x224x224")
    return tuple(int(p) for p in parts)


def capture_layers(model, input_shape: tuple[int, int, int, int] | str = (1, 3, 224, 224)) -> list[Captured]:
    """Every distinct ``nn.Conv2d`` call of one forward pass of ``model`` on zeros, in first-seen order.

    Identical convolutions (same input shape and parameters) collapse into one entry whose
    ``count`` is how often they ran; a label reused with another shape gets a ``#2`` suffix.
    """
    torch = _import_torch()
    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"expected a torch.nn.Module, got {type(model).__name__}")
    shape = parse_input_shape(input_shape if isinstance(input_shape, str) else "x".join(map(str, input_shape)))
    names = {module: name for name, module in model.named_modules()}
    seen: dict[tuple, dict] = {}

    def hook(module, inputs, output):
        n, c, h, w = inputs[0].shape
        key = (n, c, h, w, module.out_channels, tuple(module.kernel_size), tuple(module.stride),
               module.padding if isinstance(module.padding, str) else tuple(module.padding),
               tuple(module.dilation), module.groups, module.padding_mode)
        entry = seen.setdefault(key, {"modules": [], "Ho": output.shape[-2], "Wo": output.shape[-1],
                                      "reason": unsupported_reason(module)})
        entry["modules"].append(names.get(module) or "conv")

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not handles:
        raise CaptureError(f"{type(model).__name__} has no nn.Conv2d layer")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(shape))
    except Exception as exc:  # noqa: BLE001 - a model's own error, reported on one line
        raise CaptureError(f"forward pass on zeros of shape {'x'.join(map(str, shape))} failed: "
                           f"{_one_line(exc)}") from None
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    captured, labels = [], set()
    for (n, c, h, w, f, k, s, p, d, g, mode), e in seen.items():
        label, i = e["modules"][0], 1
        while label in labels:
            i += 1
            label = f"{e['modules'][0]} #{i}"
        labels.add(label)
        captured.append(Captured(label, int(n), int(c), int(h), int(w), f, k, s, p, d, g, mode, int(e["Ho"]),
                                 int(e["Wo"]), count=len(e["modules"]), reason=e["reason"],
                                 modules=tuple(e["modules"])))
    return captured


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
        raise CaptureError(f"model {ref!r}: importing {target} failed: {_one_line(exc)}") from None
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
    torch = _import_torch()
    if kind in ("torchvision", "timm"):
        try:
            library = importlib.import_module("torchvision.models" if kind == "torchvision" else "timm")
        except Exception as exc:  # noqa: BLE001 - e.g. "operator torchvision::nms does not exist"
            raise CaptureError(f"model {ref!r}: {kind} is not importable ({_one_line(exc)}); "
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
    except Exception as exc:  # noqa: BLE001 - the factory's own error, on one line
        raise CaptureError(f"model {ref!r}: building it failed: {_one_line(exc)}") from None
    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"model {ref!r}: the factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(ch if ch >= " " and ch != "\x7f" else f"\\u{ord(ch):04x}" for ch in escaped) + '"'


def _comment(text: str) -> str:
    return " ".join(str(text).split())


def write_layer_file(captured: list[Captured], path: str | Path, source: str | None = None) -> Path:
    """Write ``captured`` as a TOML layer file (one ``[[layer]]`` per runnable entry, with ``count``).

    Unsupported convolutions become ``#`` comment lines giving label, count, benchdnn
    descriptor and reason. Raises CaptureError when no entry is runnable.
    """
    runnable = [c for c in captured if c.reason is None]
    if not runnable:
        raise CaptureError(f"{path}: none of the {len(captured)} convolutions can run on the convbench kernels")
    total = sum(c.count for c in captured)
    lines = [f"# Convolutions of {_comment(source or 'a torch model')}, captured by convbench (harness.capture).",
             f"# {total} convolution calls, {len(captured)} distinct, {len(captured) - len(runnable)} of them "
             "unsupported by the kernels (comment lines).", ""]
    for c in captured:
        if c.reason:
            lines.append(f"# unsupported: {_comment(c.label)} (count {c.count}, {c.desc}): {_comment(c.reason)}")
            continue
        layer = c.to_layer()
        more = c.modules[1:]
        lines.append(f"# benchdnn: {c.desc}" + (f"; also {_comment(', '.join(more[:4]))}" if more else "")
                     + (f" and {len(more) - 4} more" if len(more) > 4 else ""))
        lines += ["[[layer]]", f"label = {_toml_string(layer.label)}"]
        lines += [f"{f} = {getattr(layer, f)}" for f in (*SHAPE_FIELDS, "count")]
        lines.append("")
    path = Path(path)
    path.write_text("\n".join(lines))
    return path
