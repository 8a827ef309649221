"""numba-cpu specifics the shared correctness suite does not reach: both tile tails at real
widths, the output hand-over of ``result()``, the parallel layout loops, and ``isa_info``."""
from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels.numba_cpu import isa_info

# every test id carries the backend name, so `pytest -k numba-cpu` selects these too
pytestmark = [pytest.mark.parametrize("backend", ["numba-cpu"]),
              pytest.mark.xdist_group("numba_compile")]  # each kernel version compiled once, on one worker


def _conv(x, w, stride, padding):
    spec = kernels.validate(x, w, stride, padding)
    return kernels.reference_conv2d(x, w, spec), spec


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "C,H,W,F,k,stride,padding",
    [
        (64, 7, 7, 40, 1, 1, 0),  # GEMM: 49 pixels = masked tail, F not a multiple of the rows
        (33, 9, 11, 70, 1, 1, 0),
        (48, 7, 7, 64, 1, 1, 0),  # 1x1 on 7x7: the direct kernel, tiles across the two images
        (19, 13, 5, 17, 3, 1, 1),  # direct: F and pixels both past a tile
        (5, 17, 17, 65, 5, 2, 2),
        (3, 23, 23, 64, 7, 2, 3),  # stem-like: C=3
        (40, 6, 6, 33, 1, 2, 0),  # strided 1x1 goes to the direct kernel
        (256, 9, 7, 20, 3, 2, 1),  # stride * C a multiple of 2 KiB: channels-last pitch padded, one run per column
        (512, 6, 6, 24, 1, 2, 0),
    ],
)
def test_tails_against_reference(backend, C, H, W, F, k, stride, padding, dtype):
    rng = np.random.default_rng(C * F + k)
    x = rng.standard_normal((2, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, k, k)).astype(dtype)
    ref, spec = _conv(x, w, stride, padding)
    out = kernels.conv2d(x, w, stride=stride, padding=padding, backend=backend)
    assert out.dtype == np.dtype(dtype)
    assert kernels.error_margin(out, ref, kernels.tolerance(x, w, spec))[0] <= 1.0


@pytest.mark.parametrize("k", [1, 3])
def test_result_is_handed_over_not_overwritten(backend, k):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    w = rng.standard_normal((5, 8, k, k)).astype(np.float32)
    spec = kernels.validate(x, w, 1, 0)
    prepared = kernels.get_backend(backend).prepare(x, w, spec)
    prepared()
    first = prepared.result()
    again = prepared.result()
    assert np.array_equal(first, again) and first is not again
    kept = first.copy()
    x[...] = 0  # the prepared layout is a copy (direct kernel) or the input itself (GEMM)
    prepared()
    second = prepared.result()
    assert np.array_equal(first, kept)
    assert second.shape == spec.out_shape


def test_isa_info_fields(backend):
    info = isa_info()
    assert set(info) >= {"isa", "vector_bits", "lanes", "lanes_float64", "cpu", "source"}
    assert info["vector_bits"] in (256, 512)



@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vtranspose_and_vstore_range(backend, dtype):
    """The store path of the direct kernel: a lanes x lanes block transposed in registers, then lanes
    [lo, hi) of each row written by a masked store that leaves the other elements alone."""
    from numba import njit

    from kernels.numba_cpu.blocked import MAX_LANES
    from kernels.numba_cpu.simd import vlanes, vload, vstack, vstore_range, vtranspose

    @njit
    def transpose_rows(a, out, lo, hi):
        V = vlanes(a)
        t = vstack(a, MAX_LANES)
        for r in range(V):
            t[r] = vload(a, r * V)
        vtranspose(t)
        for r in range(V):
            vstore_range(out, r * V, t[r], lo, hi)

    lanes = isa_info()["vector_bits"] // (8 * np.dtype(dtype).itemsize)
    a = np.arange(lanes * lanes, dtype=dtype)
    out = np.full(lanes * lanes, -1.0, dtype=dtype)
    transpose_rows(a, out, 2, lanes - 1)
    want = np.full((lanes, lanes), -1.0, dtype=dtype)
    want[:, 2:lanes - 1] = a.reshape(lanes, lanes).T[:, 2:lanes - 1]
    assert np.array_equal(out.reshape(lanes, lanes), want)


def test_channel_pitch_avoids_multiples_of_2_kib(backend):
    from kernels.numba_cpu.blocked import channel_pitch

    assert channel_pitch(512, 2, 4) == 528 and channel_pitch(1024, 1, 4) == 1040
    assert channel_pitch(128, 2, 8) == 136
    assert channel_pitch(480, 1, 4) == 480 and channel_pitch(3, 2, 4) == 3


def test_pointwise_kernel_choice(backend):
    """7x7 1x1 layers fill the GEMM's pixel vectors badly and go to the direct kernel; 56x56 ones stay GEMMs."""
    from kernels.numba_cpu.conv import NumbaBlockedPrepared, NumbaGemmPrepared, pointwise_kernel

    small = kernels.ConvSpec(N=2, C=48, H=7, W=7, F=64, k=1, stride=1, padding=0, dtype="float32")
    big = kernels.ConvSpec(N=1, C=64, H=56, W=56, F=64, k=1, stride=1, padding=0, dtype="float32")
    assert pointwise_kernel(small) == "direct" and pointwise_kernel(big) == "gemm"
    x = np.zeros(small.x_shape, np.float32)
    w = np.zeros(small.w_shape, np.float32)
    assert isinstance(kernels.get_backend(backend).prepare(x, w, small), NumbaBlockedPrepared)
    x, w = np.zeros(big.x_shape, np.float32), np.zeros(big.w_shape, np.float32)
    assert isinstance(kernels.get_backend(backend).prepare(x, w, big), NumbaGemmPrepared)


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("tasks,threads", [(1, 2), (28, 2), (1792, 2), (98, 1), (5, 16)])
def test_task_chunks_cover_every_task_once(backend, tasks, threads, affine):
    from kernels.numba_cpu.schedule import task_chunks

    chunks = task_chunks(tasks, threads, affine)
    regions = chunks[1]
    assert chunks[0] == threads and regions == (min(threads, tasks) if affine else 1)
    starts = chunks[2 + regions:3 + 2 * regions]
    assert np.array_equal(chunks[2:2 + regions], starts[:-1])  # the counters start at their region
    bounds = chunks[3 + 2 * regions:]
    assert starts[0] == 0 and starts[-1] == bounds.size - 1 and np.all(np.diff(starts) >= 1)
    assert bounds[0] == 0 and bounds[-1] == tasks and np.all(np.diff(bounds) >= 1)
    shares = bounds[starts]  # each region an equal share of the tasks
    assert np.diff(shares).max() - np.diff(shares).min() <= 1
    assert np.diff(bounds)[0] <= max(1, tasks // (4 * threads))  # no thread starts with more than its share


@pytest.mark.parametrize("affine", [False, True])
def test_schedule_claims_each_chunk_once_across_regions(backend, affine):
    """Worker 1 alone (its partner never runs) claims its own region first, then all of the other's."""
    from numba import njit

    from kernels.numba_cpu.schedule import chunk_tasks, next_chunk, reset_chunks, task_chunks

    @njit
    def run_worker(chunks, w, tasks, seen):
        reset_chunks(chunks)
        c, k = next_chunk(chunks, w, 0)
        while c >= 0:
            lo, hi = chunk_tasks(chunks, c, tasks)
            for t in range(lo, hi):
                seen[t] += 1
            c, k = next_chunk(chunks, w, k)

    chunks = task_chunks(37, 2, affine)
    seen = np.zeros(37, np.int64)
    run_worker(chunks, 1, 37, seen)
    assert np.all(seen == 1)


def test_direct_kernel_is_correct_with_any_thread_count(backend):
    """The chunks are made for the threads at prepare time; a call on fewer or more threads still
    computes every task exactly once."""
    import numba

    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 10, 9, 9)).astype(np.float32)
    w = rng.standard_normal((40, 10, 3, 3)).astype(np.float32)
    ref, spec = _conv(x, w, 1, 1)
    prepared = kernels.get_backend(backend).prepare(x, w, spec)
    before = numba.get_num_threads()
    try:
        for threads in (1, before):
            numba.set_num_threads(threads)
            prepared()
            out = prepared.result()
            assert kernels.error_margin(out, ref, kernels.tolerance(x, w, spec))[0] <= 1.0
    finally:
        numba.set_num_threads(before)


def test_strided_1x1_keeps_only_the_pixels_it_reads(backend):
    """A 1x1 stride-2 layer is prepared as the stride-1 1x1 on every other pixel; the result is the layer's."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 24, 13, 10)).astype(np.float32)
    w = rng.standard_normal((40, 24, 1, 1)).astype(np.float32)
    ref, spec = _conv(x, w, 2, 0)
    prepared = kernels.get_backend(backend).prepare(x, w, spec)
    assert prepared.spec == spec
    prepared()
    out = prepared.result()
    assert out.shape == spec.out_shape == (2, 40, 7, 5)
    assert kernels.error_margin(out, ref, kernels.tolerance(x, w, spec))[0] <= 1.0


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_on_nchw_and_on_pixel_panels(backend, packed, dtype):
    """The 1x1 GEMM gives the reference result whether it reads NCHW or the pixel panels of
    ``prepare()`` (each ISA picks one; both must stay right): 49 pixels = a zero-padded last panel."""
    from kernels.numba_cpu.conv import NumbaGemmPrepared

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 37, 7, 7)).astype(dtype)
    w = rng.standard_normal((21, 37, 1, 1)).astype(dtype)
    ref, spec = _conv(x, w, 1, 0)
    prepared = NumbaGemmPrepared(x, w, spec, packed=packed)
    prepared()
    assert kernels.error_margin(prepared.result(), ref, kernels.tolerance(x, w, spec))[0] <= 1.0
