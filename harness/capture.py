"""Layers of real models: the ``nn.Conv2d`` shapes one forward pass of a torch model runs, as a layer file.

:func:`capture_layers` hooks every ``nn.Conv2d`` of a model, runs one forward pass on
zeros under ``torch.no_grad()`` (in eval mode, restored afterwards), and collapses
identical convolutions into one entry with a count; convolutions the kernels cannot
run (groups, dilation, non-square kernel/stride/padding, even-k ``"same"``, a
non-zeros ``padding_mode``, a shape the layer-file reader refuses such as a stride beyond
the input) are kept with the reason. :func:`model_from_ref` (:mod:`harness.modelref`) builds a
model from ``torchvision:NAME``, ``timm:NAME`` or ``FILE.py:CALLABLE`` /
``MODULE:CALLABLE``; :func:`write_layer_file` writes the TOML that
:mod:`harness.layerfile` reads back, always. Every failure is a one-line :class:`CaptureError`.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

from .benchdnn import Descriptor
from .durable import atomic_write_text
from .errors import one_line
from .layercsv import layer_problem
from .layers import SHAPE_FIELDS, Layer
from .modelref import CaptureError, error_line, exit_call, import_torch, model_from_ref

__all__ = ["CaptureError", "Captured", "MAX_INPUT_ELEMENTS", "capture_layers", "file_problem", "model_from_ref",
           "parse_input_shape", "unsupported_reason", "write_layer_file"]

#: Most elements (N*C*H*W) an ``--input`` may have: 2**28 float32 zeros are 1 GiB before the model's first layer,
#: and its activations take several times that. Capturing needs only the shapes, so a small N or image does; a
#: bigger one is a typo (``1x3x2147483648x1`` would ask for 24 GiB) that would swap or be killed for memory.
MAX_INPUT_ELEMENTS = 2**28
_DIGITS = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() takes "²", which int() refuses


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


def parse_input_shape(text: str) -> tuple[int, int, int, int]:
    """Parse ``--input`` text such as ``1x3x224x224`` (N x C x H x W, ASCII ints >= 1, at most
    ``MAX_INPUT_ELEMENTS`` elements in all)."""
    parts = [p.strip() for p in str(text).strip().lower().split("x")]
    if len(parts) != 4 or not all(_DIGITS.fullmatch(p) and p.strip("0") for p in parts):
        raise CaptureError(f"input shape {text!r}: expected NxCxHxW with four ints >= 1, e.g. 1x3x224x224")
    elements = math.prod(map(int, parts)) if all(len(p) <= 18 for p in parts) else None  # 5000 digits: no int()
    if elements is None or elements > MAX_INPUT_ELEMENTS:
        size = f"{elements} elements" if elements else "a dimension of more than 18 digits"
        raise CaptureError(f"input shape {text!r}: {size}, more than {MAX_INPUT_ELEMENTS} "
                           f"({MAX_INPUT_ELEMENTS * 4 // 2**30} GiB of float32 zeros); the layer shapes need no big "
                           "input: use N=1 and the model's usual image size")
    return tuple(int(p) for p in parts)


def _clean(name: str) -> str:
    """A module name that UTF-8 can write (``add_module`` takes lone surrogates, which no file can hold)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def capture_layers(model, input_shape: tuple[int, int, int, int] | str = (1, 3, 224, 224)) -> list[Captured]:
    """Every distinct ``nn.Conv2d`` call of one forward pass of ``model`` on zeros, in first-seen order.

    Identical convolutions (same input shape and parameters) collapse into one entry whose
    ``count`` is how often they ran; a label reused with another shape gets a ``#2`` suffix.
    An unbatched (C, H, W) input to a convolution is recorded as N=1, as torch runs it. An entry
    a layer file cannot hold as a layer carries the reason (:func:`file_problem`).
    """
    torch = import_torch()
    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"expected a torch.nn.Module, got {type(model).__name__}")
    shape = parse_input_shape(input_shape if isinstance(input_shape, str) else "x".join(map(str, input_shape)))
    names = {module: _clean(name) for name, module in model.named_modules()}
    seen: dict[tuple, dict] = {}
    unread: list[str] = []  # convolutions the hook could not read: the harness's failure, not the model's

    def hook(module, args, kwargs, output):
        try:  # never raises into the model's forward()
            x = args[0] if args else kwargs.get("input")
            dims, out = tuple(getattr(x, "shape", ())), tuple(getattr(output, "shape", ()))
            if len(dims) not in (3, 4) or len(out) < 2:
                raise ValueError(f"input of shape {dims}, output of shape {out}; expected (N, C, H, W) or (C, H, W)")
            n, c, h, w = (1, *dims) if len(dims) == 3 else dims  # unbatched: torch runs it as a batch of one
            key = (n, c, h, w, module.out_channels, tuple(module.kernel_size), tuple(module.stride),
                   module.padding if isinstance(module.padding, str) else tuple(module.padding),
                   tuple(module.dilation), module.groups, module.padding_mode)
            entry = seen.setdefault(key, {"modules": [], "Ho": out[-2], "Wo": out[-1],
                                          "reason": unsupported_reason(module)})
            entry["modules"].append(names.get(module) or "conv")
        except Exception as exc:  # noqa: BLE001 - reported after the forward pass, as the harness's own failure
            unread.append(f"{names.get(module) or 'conv'!r} ({error_line(exc)})")

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in model.modules()
               if isinstance(m, torch.nn.Conv2d)]
    if not handles:
        raise CaptureError(f"{type(model).__name__} has no nn.Conv2d layer")
    was_training, at = model.training, f"the forward pass on zeros of shape {'x'.join(map(str, shape))}"
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(shape))
    except SystemExit as exc:  # the model's own sys.exit() ends nothing of the harness (Ctrl-C still stops it)
        raise CaptureError(f"{at} called {exit_call(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a model's own error, reported on one line
        raise CaptureError(f"{at} failed: {error_line(exc)}") from None
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    if unread:
        raise CaptureError(f"convbench could not record the shape of convolution {unread[0]} in {at}")
    captured, labels = [], set()
    for (n, c, h, w, f, k, s, p, d, g, mode), e in seen.items():
        label, i = e["modules"][0], 1
        while label in labels:
            i += 1
            label = f"{e['modules'][0]} #{i}"
        labels.add(label)
        entry = Captured(label, int(n), int(c), int(h), int(w), f, k, s, p, d, g, mode, int(e["Ho"]),
                         int(e["Wo"]), count=len(e["modules"]), reason=e["reason"], modules=tuple(e["modules"]))
        captured.append(dataclasses.replace(entry, reason=file_problem(entry)))
    return captured


def file_problem(c: Captured) -> str | None:
    """Why ``c`` cannot be a ``[[layer]]`` of a layer file, or None: its ``reason``, or a shape torch ran but the
    layer-file reader refuses (:func:`harness.layercsv.layer_problem`), such as a stride beyond the input."""
    if c.reason:
        return c.reason
    layer = c.to_layer()
    problem = layer_problem({"label": layer.label, "count": layer.count, **layer.shape()})
    return f"shape the kernels cannot run: {problem.removeprefix('impossible shape: ')}" if problem else None


def _toml_string(text: str) -> str:
    escaped = _clean(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(ch if ch >= " " and ch != "\x7f" else f"\\u{ord(ch):04x}" for ch in escaped) + '"'


def _comment(text: str) -> str:
    """``text`` as the rest of one TOML comment line (no newline, no control character TOML refuses there)."""
    return one_line(_clean(str(text)))


def write_layer_file(captured: list[Captured], path: str | Path, source: str | None = None) -> Path:
    """Write ``captured`` as a TOML layer file (one ``[[layer]]`` per runnable entry, with ``count``), atomically.

    Entries a layer file cannot hold as layers (:func:`file_problem`) become ``#`` comment lines
    giving label, count, benchdnn descriptor and reason. Raises CaptureError when no entry is runnable.
    """
    reasons = [file_problem(c) for c in captured]
    runnable = [c for c, reason in zip(captured, reasons) if reason is None]
    if not runnable:
        first = f" ({_comment(captured[0].label)}: {_comment(reasons[0])})" if captured else ""
        raise CaptureError(f"{path}: none of the {len(captured)} convolutions can run on the convbench kernels"
                           + first)
    total = sum(c.count for c in captured)
    lines = [f"# Convolutions of {_comment(source or 'a torch model')}, captured by convbench (harness.capture).",
             f"# {total} convolution calls, {len(captured)} distinct, {len(captured) - len(runnable)} of them "
             "unsupported by the kernels (comment lines).", ""]
    for c, reason in zip(captured, reasons):
        if reason:
            lines.append(f"# unsupported: {_comment(c.label)} (count {c.count}, {c.desc}): {_comment(reason)}")
            continue
        layer = c.to_layer()
        more = c.modules[1:]
        lines.append(f"# benchdnn: {c.desc}" + (f"; also {_comment(', '.join(more[:4]))}" if more else "")
                     + (f" and {len(more) - 4} more" if len(more) > 4 else ""))
        lines += ["[[layer]]", f"label = {_toml_string(layer.label)}"]
        lines += [f"{f} = {getattr(layer, f)}" for f in (*SHAPE_FIELDS, "count")]
        lines.append("")
    path = Path(path)
    atomic_write_text(path, "\n".join(lines))
    return path
