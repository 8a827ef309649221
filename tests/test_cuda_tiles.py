"""numba-cuda's tiles, split-K and launcher: the choice on the host, and every tile and split run against the
float64 reference (under the CUDA simulator here; on the GPU with ``CONVBENCH_REAL_CUDA=1``)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels.numba_cuda import launch as launch_module
from kernels.numba_cuda.launch import MODE_ENV, MODES, Alternating, Launcher, forced_mode
from kernels.numba_cuda.tiles import GPU_TILES, SIMULATOR_TILES, Choice, Model, Tile, candidates, choose, cost
from tests.conftest import make_inputs

pytestmark = pytest.mark.xdist_group("numba_compile")


@pytest.mark.parametrize("tile", GPU_TILES + SIMULATOR_TILES, ids=lambda t: t.name)
def test_every_shipped_tile_loads_whole_rows(tile):
    assert tile.check() is tile
    assert tile.threads <= 1024


def test_a_tile_whose_threads_cannot_split_a_stage_is_refused():
    with pytest.raises(ValueError, match="whole rows"):
        Tile(16, 128, 8, 1, 8).check()  # 256 threads, a 8 x 16 weight stage of 128 elements
    with pytest.raises(ValueError, match="multiples"):
        Tile(12, 128, 8, 8, 8).check()
    with pytest.raises(ValueError, match="runs of 4"):
        Tile(24, 128, 8, 6, 8).check()  # rows in runs of 4 would run past the tile


def test_a_big_gemm_takes_a_tall_tile_unsplit():
    choice = choose(512, 4608, 25088, 132)  # a 512 -> 512 3x3 on 28x28 at N=32: hundreds of blocks anyway
    assert choice.tile.bm == 128 and choice.splits == 1


def test_a_deep_narrow_gemm_is_split():
    choice = choose(256, 832, 49, 132)  # Inception 5a 1x1 at N=1: 4 blocks of 64 filters without a split
    assert choice.splits > 1


def test_few_filters_take_a_short_tile():
    assert choose(16, 192, 25088, 132).tile.bm <= 32  # Inception 3a 5x5 reduce at N=32


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 20000), st.integers(1, 200000), st.integers(1, 200))
def test_a_choice_covers_the_whole_gemm(filters, depth, columns, sms):
    choice = choose(filters, depth, columns, sms)
    assert choice.k_per_split % choice.tile.bk == 0
    assert (choice.splits - 1) * choice.k_per_split < depth <= choice.splits * choice.k_per_split
    gx, gy, gz = choice.grid(filters, columns)
    assert gx * choice.tile.bn >= columns and gy * choice.tile.bm >= filters and gz == choice.splits


def test_splitting_a_gemm_of_few_blocks_models_faster():
    tile = GPU_TILES[0]
    unsplit, halves = Choice(tile, 1, 832), Choice(tile, 2, 416)
    assert cost(halves, 256, 1568, 132) < cost(unsplit, 256, 1568, 132)  # 26 blocks on 132 SMs


def test_candidates_cover_k_without_repeats():
    found = candidates(40)  # 8-deep stages: 1 split of 40, 2 of 24 (a 4-way split would keep 1.25 stages)
    assert len(found) == len(set(found))
    assert {(c.splits, c.k_per_split) for c in found if c.tile == GPU_TILES[0]} == {(1, 40), (2, 24)}


def test_a_model_with_other_constants_chooses_otherwise():
    slow_splits = Model(split_overhead=1e12)
    assert choose(256, 832, 49, 132, model=slow_splits).splits == 1
    assert choose(256, 832, 49, 132).splits > 1


@pytest.mark.parametrize("sizes", [(0, 8, 8, 1), (8, 0, 8, 1), (8, 8, 0, 1), (8, 8, 8, 0)])
def test_choose_refuses_empty_sizes(sizes):
    with pytest.raises(ValueError, match=">= 1"):
        choose(*sizes)


def test_an_unknown_forced_launch_mode_is_refused(monkeypatch):
    monkeypatch.setenv(MODE_ENV, "turbo")
    with pytest.raises(ValueError, match="turbo"):
        forced_mode()
    monkeypatch.setenv(MODE_ENV, "kernel")
    assert forced_mode() == "kernel"


class _PublicOnly:
    """A dispatcher with only the public launch (no ``compile``): what an unknown numba-cuda might give."""

    def __init__(self):
        self.calls = []

    def __getitem__(self, config):
        return lambda *args: self.calls.append((config, args))


def test_the_simulator_keeps_the_public_launch_and_says_so(monkeypatch):
    monkeypatch.setattr(launch_module, "_simulated", lambda: True)  # as under NUMBA_ENABLE_CUDASIM=1, on a GPU too
    launcher = Launcher(_PublicOnly(), (1, 1, 1), 32, ())
    assert launcher.mode == "public" and "simulator" in launcher.fallback_reason


def test_the_launcher_falls_back_to_the_public_launch_and_says_why(monkeypatch):
    monkeypatch.setattr(launch_module, "_simulated", lambda: False)
    dispatcher = _PublicOnly()
    launcher = Launcher(dispatcher, (2, 1, 1), 64, (1, 2))
    launcher()
    assert launcher.mode == "public" and "AttributeError" in launcher.fallback_reason
    assert dispatcher.calls == [(((2, 1, 1), 64), (1, 2))]


class _Compiled:
    """A dispatcher whose compiled kernel launches (``launches`` counts) unless ``broken``."""

    def __init__(self, broken: bool):
        self.broken, self.launches, self.public = broken, 0, 0

    def __getitem__(self, config):
        def public(*args):
            self.public += 1

        return public

    def typeof_pyval(self, value):
        return type(value)

    def compile(self, types):
        owner = self

        class Kernel:
            def launch(self, args, grid, block, stream, sharedmem):
                if owner.broken:
                    raise TypeError("stream of the wrong kind")
                owner.launches += 1

        return Kernel()


@pytest.mark.parametrize("broken", [False, True])
def test_a_fast_launch_that_fails_when_probed_falls_back_for_good(broken, monkeypatch):
    from numba.cuda.cudadrv import driver

    monkeypatch.setattr(driver, "_to_core_stream", lambda stream: "the default stream", raising=False)
    monkeypatch.setattr(launch_module, "_simulated", lambda: False)
    dispatcher = _Compiled(broken)
    launcher = Launcher(dispatcher, (1, 1, 1), 32, (7,))
    assert launcher.mode == "kernel"  # the fake kernel has no parameters to marshal: no cached mode
    launcher.probe()
    launcher()
    if broken:
        assert launcher.mode == "public" and "stream of the wrong kind" in launcher.fallback_reason
        assert dispatcher.public == 2 and dispatcher.launches == 0
    else:
        assert launcher.mode == "kernel" and dispatcher.launches == 2 and dispatcher.public == 0


class _Marshalled(_Compiled):
    """A compiled kernel with parameters to marshal: ``writeback`` marks a host array (copied per call)."""

    def __init__(self, writeback: bool = False, debug: bool = False):
        super().__init__(broken=False)
        self.writeback, self.debug = writeback, debug

    def compile(self, types):
        kernel = super().compile(types)
        owner = self
        kernel.argument_types, kernel.debug, kernel.cooperative = ("int64",), owner.debug, False

        def prepare_args(ty, value, stream, writebacks, params):
            params.append(value)
            if owner.writeback:
                writebacks.append(lambda: None)

        kernel._prepare_args = prepare_args
        kernel._codelibrary = type("Library", (), {"get_cufunc": lambda self: type("F", (), {"kernel": 1})()})()
        return kernel


@pytest.mark.parametrize("case", ["plain", "writeback", "debug"])
def test_parameters_are_cached_only_when_the_launch_does_nothing_else_per_call(case, monkeypatch):
    from numba.cuda.cudadrv import driver

    monkeypatch.setattr(driver, "_to_core_stream", lambda stream: "the default stream", raising=False)
    monkeypatch.setattr(launch_module, "_simulated", lambda: False)
    launcher = Launcher(_Marshalled(writeback=case == "writeback", debug=case == "debug"), (1, 1, 1), 32, (7,))
    if case == "plain":
        assert launcher.mode == "cached" and launcher.fallback_reason is None
    else:
        assert launcher.mode == "kernel" and ("host array" in launcher.fallback_reason
                                              or "debug" in launcher.fallback_reason)


def skip_without_numba_cuda() -> None:
    """Skip the test where numba-cuda cannot run (no GPU and no simulator, or a bad setting), naming why."""
    reason = kernels.get_backend("numba-cuda").unavailable_reason()
    if reason:
        pytest.skip(reason)


def _tiles_here():
    from kernels.numba_cuda.conv import _simulator_enabled

    return SIMULATOR_TILES if _simulator_enabled() else GPU_TILES


def _prepared(x, w, spec, choice=None):
    from kernels.numba_cuda.conv import NumbaCudaPrepared

    return NumbaCudaPrepared(x, w, spec, direct=False, choice=choice)


def _check(prepared, x, w, spec):
    prepared()
    prepared.sync()
    out = prepared.result()
    ref = kernels.reference_conv2d(x, w, spec)
    margin, _ = kernels.error_margin(out, ref, kernels.tolerance(x, w, spec))
    assert margin <= 1.0, f"tile {prepared.tile.name} x {prepared.splits} splits: error/tolerance {margin:.3g}"


@pytest.mark.parametrize("splits", [1, 3])
@pytest.mark.parametrize("tile", SIMULATOR_TILES + GPU_TILES, ids=lambda t: t.name)
def test_numba_cuda_every_tile_and_split_matches_the_reference(tile, splits, rng):
    """Every tile, the GPU's too (256 simulated threads a block take 1-3 s a call): edge tiles in F, K and the
    columns, two images folded into the columns, K split or not."""
    skip_without_numba_cuda()
    x, w = make_inputs(rng, 2, 3, 4, 4, 5, 3)  # K = 27: not a multiple of any stage; 2 x 16 columns
    spec = kernels.validate(x, w, 1, 1)
    k_per = math.ceil(math.ceil(27 / splits) / tile.bk) * tile.bk
    _check(_prepared(x, w, spec, Choice(tile, math.ceil(27 / k_per), k_per)), x, w, spec)


def _split_case(rng) -> tuple:
    """``(x, w, spec, tile, prepared)``: a 3x3 convolution with K = 45 on this target's smallest tile, K split into
    stages of one tile depth each (skipped where numba-cuda is unavailable)."""
    skip_without_numba_cuda()
    x, w = make_inputs(rng, 1, 5, 4, 4, 6, 3)  # K = 45
    spec = kernels.validate(x, w, 1, 1)
    tile = _tiles_here()[-1]
    return x, w, spec, tile, _prepared(x, w, spec, Choice(tile, math.ceil(45 / tile.bk), tile.bk))


def test_numba_cuda_a_split_k_stays_right_call_after_call(rng):
    """Split calls take turns on two buffers, each zeroing the other's: every call's answer is right, none
    adds onto an earlier one, and an unsplit choice after a split one reads its own buffer."""
    x, w, spec, tile, prepared = _split_case(rng)
    assert prepared.splits > 1
    for _ in range(3):
        _check(prepared, x, w, spec)
    prepared.use(Choice(tile, 1, math.ceil(45 / tile.bk) * tile.bk))
    _check(prepared, x, w, spec)
    prepared.use(Choice(tile, 2, math.ceil(45 / tile.bk / 2) * tile.bk))
    _check(prepared, x, w, spec)


def test_numba_cuda_a_use_that_fails_keeps_the_last_choice_whole(rng, monkeypatch):
    """A use() that raises while building its launches (a compile error, no memory for the second buffer) leaves
    the prepared convolution computing, and reporting, the choice before it."""
    from kernels.numba_cuda import conv

    x, w, spec, tile, prepared = _split_case(rng)
    _check(prepared, x, w, spec)

    def broken(*args, **kwargs):
        raise RuntimeError("no launch today")

    monkeypatch.setattr(conv, "Launcher", broken)
    with pytest.raises(RuntimeError, match="no launch today"):
        prepared.use(Choice(tile, 1, math.ceil(45 / tile.bk) * tile.bk))
    monkeypatch.undo()
    assert prepared.splits == math.ceil(45 / tile.bk)
    for _ in range(2):
        _check(prepared, x, w, spec)


def test_alternating_launches_take_turns_and_name_the_buffer_written():
    log = []
    alternating = Alternating((lambda: log.append("a"), lambda: log.append("b")), ("A", "B"),
                              lambda: log.append("zero"))
    assert log == ["zero"] and alternating.latest() == "A"
    alternating()
    assert alternating.latest() == "A"
    alternating()
    alternating()
    assert log == ["zero", "a", "b", "a"] and alternating.latest() == "A"
    alternating()
    assert alternating.latest() == "B"
    alternating.reset()
    alternating()
    assert log[-2:] == ["zero", "a"] and alternating.latest() == "A"
    with pytest.raises(ValueError, match="two launches"):
        Alternating((lambda: None,), ("A",), lambda: None)


def test_numba_cuda_use_switches_the_tile_and_keeps_the_answer(rng):
    skip_without_numba_cuda()
    x, w = make_inputs(rng, 1, 9, 4, 4, 5, 1, "float64")
    spec = kernels.validate(x, w, 2, 0)
    prepared = _prepared(x, w, spec)
    assert prepared.launch_mode in MODES
    for tile in _tiles_here():
        splits = math.ceil(9 / tile.bk)  # K = 9 in splits of one stage each: 3 in the simulator, 2 on a GPU
        prepared.use(Choice(tile, splits, tile.bk))
        assert prepared.tile == tile and prepared.splits == splits
        _check(prepared, x, w, spec)
    with pytest.raises(ValueError, match="covers 8 of K = 9"):
        prepared.use(Choice(_tiles_here()[0], 2, 4))
    assert np.isfinite(prepared.h2d_s)


@pytest.mark.parametrize("variable, value, named", [
    (MODE_ENV, "turbo", "turbo"),
    ("CONVBENCH_TILE_MODEL", "/nonexistent/model.json", "model.json"),
])
def test_a_bad_cuda_setting_makes_numba_cuda_unavailable_with_the_reason(variable, value, named, monkeypatch):
    from kernels.numba_cuda.conv import NumbaCudaBackend

    backend = NumbaCudaBackend()
    ok = backend.unavailable_reason()
    monkeypatch.setenv(variable, value)
    reason = backend.unavailable_reason()
    assert reason is not None and named in reason and (ok is None or ok in reason or "bad configuration" in reason)
    monkeypatch.delenv(variable)
    assert backend.unavailable_reason() == ok
