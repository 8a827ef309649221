"""``harness list``: registered backends (with availability), presets, or the layers of a layer file."""
from __future__ import annotations

import kernels

from ..backends import CHAIN, implementation, kind_of, sweep_backend_names
from ..errors import UsageError
from ..layerfile import LayerFileError, load_layers
from ..metadata import cpu_isa, cpu_model, numba_cpu_vectors
from ..presets import build_presets
from ..render.console import console, safe


def run(args) -> int:
    """``harness list``: backends with availability, then presets."""
    from rich.table import Table

    con = console()
    if args.layers:
        return _list_layers(args.layers, con)
    table = Table(title="Backends", title_justify="left")
    for col in ("backend", "device", "available", "what it is / why not"):
        table.add_column(col)
    for name in sweep_backend_names():  # convolution backends, then fused chain backends
        impl = implementation(name)
        try:
            reason = impl.unavailable_reason()
            fuses = f" (fused chain: {impl.unfused}'s reduce+conv in one call)" if kind_of(name) == CHAIN else ""
            text = (impl.description + fuses) if reason is None else reason
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin's backend that raises (or calls sys.exit) is listed as broken
            reason = text = f"unavailable_reason()/description raised {type(exc).__name__}: {exc}"
        table.add_row(safe(name), safe(impl.device), "yes" if reason is None else "[red]no[/]", safe(text))
    con.print(table)
    con.print(machine_line())
    presets = Table(title="Presets", title_justify="left")
    for col in ("preset", "layers", "description"):
        presets.add_column(col)
    for p in build_presets().values():
        presets.add_row(safe(p.name), str(len(p.layers)), safe(p.description))
    con.print(presets)
    return 0


#: Most layers ``list --layers`` draws as table rows (a terminal table of 200 000 rows helps nobody and takes
#: minutes); the rest are counted, and every layer is in the total.
MAX_LISTED_LAYERS = 200


def _list_layers(path: str, con) -> int:
    from rich.table import Table

    try:
        layers = load_layers(path)
    except LayerFileError as exc:
        raise UsageError(str(exc)) from None
    table = Table(title=f"Layers in {safe(path)}", title_justify="left")
    for col in ("layer", "N", "C", "HxW", "F", "k", "stride", "padding", "MFLOP", "reduction"):
        table.add_column(col, justify="left" if col in ("layer", "reduction") else "right")
    for layer in layers[:MAX_LISTED_LAYERS]:
        spec = kernels.ConvSpec(N=layer.N, C=layer.C, H=layer.H, W=layer.W, F=layer.F, k=layer.k, stride=layer.stride,
                                padding=kernels.resolve_padding(layer.padding, layer.k))
        role = f"{layer.role} of {layer.branch}" if layer.role else ""
        table.add_row(safe(layer.label), str(spec.N), str(spec.C), f"{spec.H}x{spec.W}", str(spec.F), str(spec.k),
                      str(spec.stride), str(spec.padding), f"{spec.flops / 1e6:.4g}", safe(role))
    con.print(table)
    more = len(layers) - MAX_LISTED_LAYERS
    con.print((f"... and {more} more layers not shown; " if more > 0 else "")
              + f"{len(layers)} layers, {total_flops(layers) / 1e9:.4g} GFLOP in all (each layer once, at its own N)")
    return 0


def total_flops(layers) -> float:
    """The FLOPs of ``layers`` (each once), summed in float64 arrays: fast for a file of a million layers."""
    import numpy as np

    def column(name):
        return np.fromiter((getattr(layer, name) for layer in layers), dtype=np.float64, count=len(layers))

    k, stride = column("k"), column("stride")
    pad = np.fromiter(((layer.k - 1) // 2 if layer.padding == "same" else layer.padding for layer in layers),
                      dtype=np.float64, count=len(layers))
    ho = np.floor((column("H") + 2 * pad - k) / stride) + 1
    wo = np.floor((column("W") + 2 * pad - k) / stride) + 1
    return float(np.sum(2 * column("N") * column("F") * column("C") * k * k * ho * wo))


def machine_line() -> str:
    """"This machine: CPU (ISA); numba-cpu compiles 512-bit vectors (16 float32 lanes) for it"."""
    vectors = numba_cpu_vectors()
    text = f"This machine: {cpu_model()} ({cpu_isa()})"
    if vectors:
        text += (f"; numba-cpu compiles {vectors['vector_bits']}-bit vectors ({vectors['lanes']} float32 lanes, "
                 f"{vectors['lanes_float64']} float64) for LLVM CPU {vectors['cpu']!r}")
    return text
