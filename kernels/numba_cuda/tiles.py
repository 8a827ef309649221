"""Block tiles of the ``numba-cuda`` implicit GEMM, and the choice of tile and split-K for one convolution.

Pure Python (no numba import): the choice is made on the host from the GEMM's shape, and tested without a GPU.

The convolution is the GEMM ``out (F x N*Ho*Wo) = W (F x K) @ patches (K x N*Ho*Wo)``, K = C*k*k, with the batch
folded into the columns so that small images (7x7 at N=32: 1568 columns) still fill a GPU. A :class:`Tile` is
one block's share: ``bm`` filters x ``bn`` columns, ``bk`` reduction steps per shared-memory stage, each thread
holding a ``tm`` x ``tn`` register tile. Splitting K over ``splits`` blocks (summed with atomic adds into a
zeroed output) gives the deep, narrow layers (C=832, 7x7) enough blocks to occupy every SM.

:func:`choose` scores every (tile, split) with :func:`cost`, a model of the busiest SM: its blocks' FMAs at the
tile's efficiency (shared-memory loads per FMA: ``tm + tn`` loads feed ``tm * tn`` FMAs), slowed while too few
threads are in flight, plus a fixed cost per round of blocks and per split. Its constants are estimates (registers
from ptxas for sm_90; efficiencies and costs fitted to an H200's timings of every variant by
``scripts/fit_tiles.py``): ``scripts/gpu_variants.py`` times every variant on a GPU (docs/gpu.md).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tile:
    """One block's tile: ``bm`` filters x ``bn`` columns, ``bk`` K-steps per stage, ``tm`` x ``tn`` per thread."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self) -> int:
        """Threads per block: one per register tile."""
        return (self.bm // self.tm) * (self.bn // self.tn)

    @property
    def name(self) -> str:
        """e.g. ``128x128x8/8x8``."""
        return f"{self.bm}x{self.bn}x{self.bk}/{self.tm}x{self.tn}"

    def check(self) -> "Tile":
        """The tile itself when every thread loads whole rows of both stages; else ValueError naming the rule."""
        nt = self.threads
        if self.bm % self.tm or self.bn % self.tn:
            raise ValueError(f"tile {self.name}: bm, bn must be multiples of tm, tn")
        if self.tm % min(4, self.tm) or self.tn % min(4, self.tn):
            raise ValueError(f"tile {self.name}: tm, tn must be 1, 2 or multiples of 4 (runs of 4 for vector loads)")
        if nt % self.bm or nt % self.bn or (self.bk * self.bm) % nt or (self.bk * self.bn) % nt:
            raise ValueError(f"tile {self.name}: {nt} threads must split both {self.bk}-deep stages into whole rows")
        return self


#: The tiles a real GPU may use, largest first.
GPU_TILES = (
    Tile(128, 128, 8, 8, 8),
    Tile(128, 64, 8, 8, 4),
    Tile(64, 128, 8, 4, 8),
    Tile(64, 64, 8, 4, 4),
    Tile(32, 128, 8, 2, 8),
    Tile(16, 128, 8, 2, 8),
)
#: The tiles of the CUDA simulator (every CUDA thread is a Python thread there: blocks of 16 threads).
SIMULATOR_TILES = (
    Tile(8, 8, 4, 2, 2),
    Tile(4, 16, 4, 1, 4),
)
#: The numbers of K splits tried; a split keeps at least MIN_SPLIT_STAGES stages of its tile.
SPLITS = (1, 2, 4, 8, 16)
MIN_SPLIT_STAGES = 2


@dataclass(frozen=True)
class Model:
    """The constants of :func:`cost`, times in SM FMA-lane units (an SM does 128 FP32 FMAs a cycle).

    Attributes:
        efficiency: fraction of the FMA roof a ``(tm, tn)`` register tile's inner loop can reach.
        saturating_threads: threads an SM needs in flight to approach that rate.
        round_overhead: one round of resident blocks (start, first loads' latency, stores).
        split_overhead: a split's work outside the GEMM (zeroing the other output buffer, the atomics' start).
        atomic_cost: one atomic add of a partial output.

    The defaults are ``scripts/fit_tiles.py``'s fit to every variant timed on an NVIDIA H200 (2026-12-04, the
    ``gpu`` preset at N=32 and N=1; docs/gpu.md): the chosen tile came within 5% of the best on 74% of 176
    layers (54% with the guesses before), 1.046x the best's time in geomean. (2, 2) and (1, 4) are the
    simulator's tiles, never timed.
    """

    efficiency: tuple = ((8, 8, 0.5), (8, 4, 1.0), (4, 8, 0.68), (4, 4, 0.6), (2, 8, 0.462), (2, 2, 0.5), (1, 4, 0.4))
    saturating_threads: float = 304.64
    round_overhead: float = 1500 * 128
    split_overhead: float = 1000 * 128
    atomic_cost: float = 32

    def tile_efficiency(self, tile: "Tile") -> float:
        """The efficiency of ``tile``'s register tile (0.5 for one the table does not hold)."""
        return next((e for tm, tn, e in self.efficiency if (tm, tn) == (tile.tm, tile.tn)), 0.5)


#: The model :func:`choose` uses unless ``CONVBENCH_TILE_MODEL`` names another.
DEFAULT_MODEL = Model()
#: Environment variable naming a JSON file of :class:`Model` constants (``scripts/fit_tiles.py --write``).
MODEL_ENV = "CONVBENCH_TILE_MODEL"


def model_to_json(model: Model) -> str:
    """``model``'s constants as a JSON object (what :func:`model_from_json` reads)."""
    return json.dumps(dataclasses.asdict(model), indent=1)


#: The largest constant a saved model may hold (SM FMA-lane units; the defaults are ~1e5).
MAX_CONSTANT = 1e15


def _number_in(value, low: float, high: float) -> bool:
    """Whether ``value`` is a JSON number (not a bool) with low < value <= high (inf, nan and 10**400 are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return low < float(value) <= high
    except OverflowError:
        return False


def _whole(value) -> bool:
    """Whether ``value`` is a whole number >= 1 (not a bool, not 2.5)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def model_from_json(text: str) -> Model:
    """A :class:`Model` from a JSON object of its fields (missing ones keep their defaults); ValueError naming an
    unknown field, a malformed efficiency row or a constant that is not a positive number."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"a tile model is a JSON object of {[f.name for f in dataclasses.fields(Model)]}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(Model)})
    if unknown:
        raise ValueError(f"unknown tile-model field(s) {unknown}")
    if "efficiency" in data:
        rows = data["efficiency"]
        if not isinstance(rows, list) or not all(
                isinstance(row, list) and len(row) == 3 and all(_whole(v) for v in row[:2])
                and _number_in(row[2], 0, 1) for row in rows):
            raise ValueError("efficiency must be a list of [tm, tn, fraction] rows: whole tm, tn >= 1 and "
                             "fractions in (0, 1]")
        data["efficiency"] = tuple((int(tm), int(tn), float(e)) for tm, tn, e in rows)
    for name, value in data.items():
        if name != "efficiency" and not _number_in(value, 0, MAX_CONSTANT):
            raise ValueError(f"tile-model field {name} must be a positive, finite number up to {MAX_CONSTANT:g}, "
                             f"got {value!r}")
    return Model(**data)


def active_model() -> Model:
    """The model ``CONVBENCH_TILE_MODEL`` names (a JSON file), else :data:`DEFAULT_MODEL`; ValueError naming
    the file when it cannot be read or holds no model."""
    path = os.environ.get(MODEL_ENV)
    if not path:
        return DEFAULT_MODEL
    try:
        return model_from_json(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{MODEL_ENV}={path}: {exc}") from exc


def resident_blocks(tile: Tile) -> int:
    """Blocks of ``tile`` one SM holds at once: 65536 registers, 2048 threads. A thread takes its accumulators
    plus ~44 registers, in steps of 8 (ptxas for sm_90 gave 108, 71, 70, 47, 55 and 56 registers for
    :data:`GPU_TILES` in order, no spills)."""
    per_thread = math.ceil((tile.tm * tile.tn + 44) / 8) * 8
    return max(1, min(65536 // (tile.threads * per_thread), 2048 // tile.threads))


@dataclass(frozen=True)
class Choice:
    """A tile, the number of K splits, and the K-steps each split covers (a multiple of the tile's ``bk``)."""

    tile: Tile
    splits: int
    k_per_split: int

    def grid(self, filters: int, columns: int) -> tuple[int, int, int]:
        """(column tiles, filter tiles, splits): the launch grid of :func:`choose`'s GEMM."""
        return math.ceil(columns / self.tile.bn), math.ceil(filters / self.tile.bm), self.splits


def split_depth(tile: Tile, depth: int, splits: int) -> tuple[int, int]:
    """(K per split, splits used) when ``depth`` is cut into ``splits`` multiples of ``tile.bk``."""
    k_per = math.ceil(math.ceil(depth / splits) / tile.bk) * tile.bk
    return k_per, math.ceil(depth / k_per)


def candidates(depth: int, tiles=GPU_TILES) -> list[Choice]:
    """Every (tile, split) :func:`choose` weighs for a reduction of ``depth``: each tile unsplit, and split in
    :data:`SPLITS` while each split keeps >= :data:`MIN_SPLIT_STAGES` stages; no repeats."""
    found: list[Choice] = []
    for tile in tiles:
        for splits in SPLITS:
            if splits > 1 and math.ceil(depth / splits) < MIN_SPLIT_STAGES * tile.bk:
                break
            k_per, used = split_depth(tile, depth, splits)
            choice = Choice(tile, used, k_per)
            if choice not in found:
                found.append(choice)
    return found


def cost(choice: Choice, filters: int, columns: int, sms: int, model: Model = DEFAULT_MODEL) -> float:
    """Modelled time (SM FMA-lane units) of ``choice`` on a ``filters`` x K x ``columns`` GEMM over ``sms`` SMs.

    The busiest SM gets ``ceil(blocks / sms)`` blocks and holds up to :func:`resident_blocks` of them at once;
    it runs at the tile's efficiency, scaled down while fewer than ``model.saturating_threads`` threads are in
    flight; each round of resident blocks pays ``model.round_overhead``; a split adds its atomic adds and the
    zeroing of the output.
    """
    tile = choice.tile
    blocks = math.prod(choice.grid(filters, columns))
    per_sm = math.ceil(blocks / sms)
    in_flight = min(per_sm, resident_blocks(tile))
    rate = model.tile_efficiency(tile) * min(1.0, in_flight * tile.threads / model.saturating_threads)
    time = per_sm * tile.bm * tile.bn * choice.k_per_split / rate + math.ceil(per_sm / in_flight) * model.round_overhead
    if choice.splits > 1:
        time += model.atomic_cost * filters * columns * choice.splits / sms + model.split_overhead
    return time


def choose(filters: int, depth: int, columns: int, sms: int, tiles=GPU_TILES, model: Model | None = None) -> Choice:
    """The :func:`candidates` choice of least modelled :func:`cost` for an ``filters`` x ``depth`` x ``columns``
    GEMM on ``sms`` SMs, by ``model`` (default: :func:`active_model`). Ties go to the earlier tile and the fewer
    splits. ValueError on a non-positive size.
    """
    model = model or active_model()
    if min(filters, depth, columns, sms) < 1:
        raise ValueError(f"GEMM sizes and SM count must be >= 1, got F={filters} K={depth} columns={columns} "
                         f"sms={sms}")
    return min(candidates(depth, tiles), key=lambda choice: cost(choice, filters, columns, sms, model))
