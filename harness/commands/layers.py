"""``harness layers --from REF``: a layer file of a real model's convolutions, for ``sweep --layers``.

REF is ``torchvision:NAME``, ``timm:NAME`` or ``FILE.py:CALLABLE`` / ``MODULE:CALLABLE`` (any factory
returning a ``torch.nn.Module``). The model is built without weights and run once on zeros with
hooks on every ``nn.Conv2d``; identical shapes collapse into one layer with a ``count``, and
convolutions the kernels cannot run are kept as comments with the reason.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..capture import CaptureError, capture_layers, model_from_ref, parse_input_shape, write_layer_file
from ..errors import UsageError
from .common import writable_file


#: How every layer file ``layers`` writes begins (``harness.capture.write_layer_file``): only those are overwritten.
LAYER_FILE_HEADER = b"# Convolutions of "


def default_output(ref: str) -> str:
    """``resnet18.toml`` for ``torchvision:resnet18`` or ``examples/models.py:resnet18``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(ref).rpartition(":")[2]) or "model"
    return f"{name}.toml"


def run(args) -> int:
    """Capture the model's convolutions, write the layer file, print what it holds."""
    output = writable_file(args.output or default_output(args.source), "--output", (".toml",))
    if output.is_file() and not output.read_bytes().startswith(LAYER_FILE_HEADER):
        raise UsageError(f"--output {output}: exists and is not a layer file this command wrote; choose another "
                         "name (nothing was overwritten)")
    try:
        shape = parse_input_shape(args.input)
        model = model_from_ref(args.source)  # its errors name the model already
        try:
            captured = capture_layers(model, shape)
        except CaptureError as exc:
            raise CaptureError(f"model {args.source!r}: {exc}") from None
        path = write_layer_file(captured, output, source=args.source)
    except CaptureError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # a full disk: the file it replaces is left as it was
        raise UsageError(f"--output {output}: cannot write it: {exc.strerror or exc}") from None
    runnable = [c for c in captured if c.reason is None]
    calls = sum(c.count for c in captured)
    macs = sum(c.count * c.N * c.F * c.C * c.k[0] * c.k[1] * c.Ho * c.Wo for c in runnable)
    print(f"{args.source} at {args.input}: {calls} convolution calls, {len(captured)} distinct shapes, "
          f"{len(runnable)} runnable ({macs / 1e9:.3g} G multiply-adds), {len(captured) - len(runnable)} "
          f"not runnable (listed as comments)\nwrote {Path(path)}\n"
          f"measure it: python -m harness sweep --layers {Path(path)}")
    return 0
