"""Chain points: a reduction branch's 1x1 ``reduce`` and kxk ``conv`` cases measured as one chain call.

A :class:`ChainCase` is the case of a fused chain backend (``numba-cpu-fused``):
the two cases of one branch at the same batch, dtype and threads. It answers what
the sweep engine asks of any case (name, key, threads, spec, table fields), so a
chain point runs through the same loop, worker, timeout, passes and memory check
as a convolution point; its row has ``role = "fused"`` and the pair's ``flops``,
so the reduction study can put the fused time beside the unfused pair.
"""
from __future__ import annotations

from dataclasses import dataclass

from kernels import ChainSpec

from .cases import Case
from .layers import POINT_KEY

FUSED_ROLE = "fused"


def branch_pairs(cases) -> list[tuple[Case, Case]]:
    """(reduce case, conv case) of every branch at every combination of the other axes, in sweep order."""
    found: dict[tuple, dict] = {}
    for case in cases:
        layer = case.layer
        if layer.role in ("reduce", "conv"):
            suffix = case.name[len(layer.label):]
            found.setdefault((layer.branch, suffix), {})[layer.role] = case
    return [(p["reduce"], p["conv"]) for p in found.values() if {"reduce", "conv"} <= set(p)]


def fused_name(conv_case: Case) -> str:
    """``"3a 5x5 fused N=1"``: the branch, "fused", and the axis values of the conv case's name."""
    return f"{conv_case.layer.branch} fused{conv_case.name[len(conv_case.layer.label):]}"


@dataclass(frozen=True)
class ChainCase:
    """One branch as a chain point: its reduce case, then its conv case (same N, dtype and threads)."""

    reduce: Case
    conv: Case
    kind = "chain"

    @property
    def name(self) -> str:
        """The row's case name, e.g. ``"3a 5x5 fused"``."""
        return fused_name(self.conv)

    @property
    def threads(self) -> int:
        """Threads of the point (the conv case's)."""
        return self.conv.threads

    @property
    def dtype(self) -> str:
        """The chain's dtype."""
        return self.conv.dtype

    @property
    def spec(self) -> ChainSpec:
        """The chain's ChainSpec (raises ValueError/TypeError for an impossible pair)."""
        return ChainSpec(reduce=self.reduce.spec, conv=self.conv.spec)

    def fields(self) -> dict:
        """The identity columns of the chain's row: the conv case's, with the reduce's input channels."""
        name = self.name
        return dict(self.conv.fields(), case=name, layer=name, role=FUSED_ROLE, C=self.reduce.layer.C, count=1)

    @property
    def key(self) -> tuple:
        """Identity of the point within a run (without the backend), as :attr:`Case.key`."""
        values = self.fields()
        return tuple(values[name] for name in POINT_KEY[1:])

    @property
    def key_text(self) -> tuple[str, ...]:
        """:attr:`key` as strings, as :attr:`Case.key_text`."""
        return tuple(str(v) for v in self.key)


def chain_cases(cases) -> dict[Case, ChainCase]:
    """{conv case: its branch's ChainCase} for every complete reduction branch among ``cases``."""
    return {conv: ChainCase(reduce, conv) for reduce, conv in branch_pairs(cases)}
