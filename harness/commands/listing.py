"""``harness list``: registered backends (with availability), presets, or the layers of a layer file."""
from __future__ import annotations

from ..backends import CHAIN, implementation, kind_of, sweep_backend_names
from ..errors import UsageError


def run(args) -> int:
    """``harness list``: backends with availability, then presets."""
    from rich.table import Table

    from ..presets import build_presets
    from ..render.console import console

    con = console()
    if args.layers:
        return _list_layers(args.layers, con)
    table = Table(title="Backends", title_justify="left")
    for col in ("backend", "device", "available", "what it is / why not"):
        table.add_column(col)
    for name in sweep_backend_names():  # convolution backends, then fused chain backends
        impl = implementation(name)
        reason = impl.unavailable_reason()
        fuses = f" (fused chain: {impl.unfused}'s reduce+conv in one call)" if kind_of(name) == CHAIN else ""
        table.add_row(name, impl.device, "yes" if reason is None else "[red]no[/]",
                      (impl.description + fuses) if reason is None else reason)
    con.print(table)
    con.print(machine_line())
    presets = Table(title="Presets", title_justify="left")
    for col in ("preset", "layers", "description"):
        presets.add_column(col)
    for p in build_presets().values():
        presets.add_row(p.name, str(len(p.layers)), p.description)
    con.print(presets)
    return 0


def _list_layers(path: str, con) -> int:
    from rich.table import Table

    from ..layerfile import LayerFileError, load_layers

    try:
        layers = load_layers(path)
    except LayerFileError as exc:
        raise UsageError(str(exc)) from None
    table = Table(title=f"Layers in {path}", title_justify="left")
    for col in ("layer", "N", "C", "HxW", "F", "k", "stride", "padding", "MFLOP", "reduction"):
        table.add_column(col, justify="left" if col in ("layer", "reduction") else "right")
    from ..cases import build_cases
    from ..layerfile import layers_preset

    for layer, case in zip(layers, build_cases(layers_preset(path), default_threads=1)):
        spec = case.spec
        role = f"{layer.role} of {layer.branch}" if layer.role else ""
        table.add_row(layer.label, str(spec.N), str(spec.C), f"{spec.H}x{spec.W}", str(spec.F), str(spec.k),
                      str(spec.stride), str(spec.padding), f"{spec.flops / 1e6:.4g}", role)
    con.print(table)
    return 0


def machine_line() -> str:
    """"This machine: CPU (ISA); numba-cpu compiles 512-bit vectors (16 float32 lanes) for it"."""
    from ..metadata import cpu_isa, cpu_model, numba_cpu_vectors

    vectors = numba_cpu_vectors()
    text = f"This machine: {cpu_model()} ({cpu_isa()})"
    if vectors:
        text += (f"; numba-cpu compiles {vectors['vector_bits']}-bit vectors ({vectors['lanes']} float32 lanes, "
                 f"{vectors['lanes_float64']} float64) for LLVM CPU {vectors['cpu']!r}")
    return text
