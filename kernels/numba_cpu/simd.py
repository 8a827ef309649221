"""Explicit SIMD vectors for Numba kernels: a vector type and a handful of intrinsics.

LLVM's vectorisers pick their width from the target's *preferred* width, which is 256 bits on
Intel AVX-512 CPUs (the ``prefer-256-bit`` tuning), so auto-vectorised Numba loops never use
``zmm`` there. A vector type written into the IR is different: without a
``min-legal-vector-width`` attribute (Numba sets none) 512-bit vectors are legal on any AVX-512
target, so ``<16 x float>`` becomes ``zmm`` and ``<8 x float>`` ``ymm``. This module gives Numba
that type, with the width fixed at import from the compile target (``VECTOR_BYTES``, see
:mod:`kernels.numba_cpu.isa`), and nothing else in the process changes: no global Numba option.

Intrinsics (all take the array whose dtype sets the element type; indices are flat element
offsets into C-contiguous arrays):

* ``vload(a, i)``: the vector ``a.flat[i : i + lanes]`` (unaligned load);
* ``vstore(a, i, v)``: store it back;
* ``vsplat(a, x)``: ``x`` in every lane (``x`` converted to ``a``'s dtype);
* ``vzero(a)``: zeros;
* ``vfma(x, y, acc)``: ``x * y + acc`` lane by lane (``llvm.fma``: one FMA instruction);
* ``vstack(a, n)``: stack memory for ``n`` (a literal) vectors, a pointer ``p`` with ``p[j]``
  readable and writable; after unrolling LLVM keeps it in registers;
* ``vbroadcast(a, i)``, ``vload_n`` / ``vstore_n`` / ``vstore_range`` (masked), ``vtranspose(p)``
  (a lanes x lanes block of vectors, in registers), ``vlanes(a)`` and ``istack(n)``: see each
  docstring.

Numba's cache checks only the source file of a cached function: after changing the code
generated here, touch the kernel modules (or clear their ``__pycache__``) so they recompile.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from .isa import lanes_for


class SimdVector(types.Type):
    """A Numba type for an LLVM vector of ``lanes`` floats of ``dtype``."""

    def __init__(self, dtype, lanes):
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"simd<{lanes} x {dtype}>")


@register_model(SimdVector)
class SimdVectorModel(models.PrimitiveModel):
    """Data model: a plain LLVM vector value."""

    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.lanes))


def _splat(builder, value, lanes):
    """An LLVM vector with ``value`` in each of ``lanes`` lanes."""
    vty = ir.VectorType(value.type, lanes)
    one = builder.insert_element(ir.Constant(vty, None), value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
    return builder.shuffle_vector(one, ir.Constant(vty, None), zeros)


def _vec_of(arr):
    return SimdVector(arr.dtype, lanes_for(arr.dtype))


def _elem_ptr(context, builder, arrty, arr, idx, idxty):
    ary = context.make_array(arrty)(context, builder, arr)
    i = context.cast(builder, idx, idxty, types.intp)
    return builder.gep(ary.data, [i]), context.get_abi_sizeof(context.get_value_type(arrty.dtype))


@intrinsic
def vload(typingctx, arr, idx):
    """Load ``lanes`` consecutive elements of ``arr`` starting at flat index ``idx``."""
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        ptr, size = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        lt = context.get_value_type(vt)
        return builder.load(builder.bitcast(ptr, lt.as_pointer()), align=size, typ=lt)

    return vt(arr, idx), codegen


@intrinsic
def vstore(typingctx, arr, idx, vec):
    """Store vector ``vec`` to ``arr`` at flat index ``idx``."""

    def codegen(context, builder, sig, args):
        ptr, size = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        builder.store(args[2], builder.bitcast(ptr, args[2].type.as_pointer()), align=size)
        return context.get_dummy_value()

    return types.none(arr, idx, vec), codegen


@intrinsic
def vsplat(typingctx, arr, x):
    """``x`` (cast to the dtype of ``arr``) in every lane."""
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        return _splat(builder, context.cast(builder, args[1], sig.args[1], vt.dtype), vt.lanes)

    return vt(arr, x), codegen


@intrinsic
def vzero(typingctx, arr):
    """A vector of zeros in the dtype of ``arr``."""
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        lt = context.get_value_type(vt)
        return ir.Constant(lt, [ir.Constant(lt.element, 0.0)] * vt.lanes)

    return vt(arr), codegen


@intrinsic
def vfma(typingctx, x, y, acc):
    """``x * y + acc`` in each lane, as one fused multiply-add."""
    if not (isinstance(x, SimdVector) and x == y == acc):
        return None

    def codegen(context, builder, sig, args):
        lt = context.get_value_type(sig.return_type)
        name = f"llvm.fma.v{sig.return_type.lanes}f{sig.return_type.dtype.bitwidth}"
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(lt, [lt, lt, lt]), name)
        return builder.call(fma, list(args))

    return x(x, y, acc), codegen


@intrinsic
def vstack(typingctx, arr, n):
    """Stack memory for ``n`` vectors (``n`` a compile-time integer), as an indexable pointer."""
    if not isinstance(n, types.IntegerLiteral):
        return None
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        return cgutils.alloca_once(builder, context.get_value_type(vt), size=n.literal_value)

    return types.CPointer(vt)(arr, n), codegen


@intrinsic
def vbroadcast(typingctx, arr, idx):
    """The element ``arr.flat[idx]`` in every lane (one broadcast load; no wraparound check)."""
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        ptr, size = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        lt = context.get_value_type(vt)
        return _splat(builder, builder.load(ptr, align=size, typ=lt.element), vt.lanes)

    return vt(arr, idx), codegen


@intrinsic
def vlanes(typingctx, arr):
    """Lanes of a vector of ``arr``'s dtype, as a compile-time constant."""
    lanes = lanes_for(arr.dtype)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, lanes)

    return types.intp(arr), codegen


@intrinsic
def istack(typingctx, n):
    """Stack memory for ``n`` (a literal) integers, as an indexable pointer."""
    if not isinstance(n, types.IntegerLiteral):
        return None

    def codegen(context, builder, sig, args):
        return cgutils.alloca_once(builder, context.get_value_type(types.intp), size=n.literal_value)

    return types.CPointer(types.intp)(n), codegen


def _lane_mask(builder, lanes, count):
    """<lanes x i1>: lane l is on when l < count (count an intp value)."""
    idx = ir.Constant(ir.VectorType(count.type, lanes), list(range(lanes)))
    return builder.icmp_signed("<", idx, _splat(builder, count, lanes))


@intrinsic
def vload_n(typingctx, arr, idx, count):
    """Like :func:`vload`, reading only the first ``count`` lanes (the rest are zero): a masked load."""
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        ptr, size = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        lt = context.get_value_type(vt)
        cnt = context.cast(builder, args[2], sig.args[2], types.intp)
        name = f"llvm.masked.load.v{vt.lanes}f{vt.dtype.bitwidth}.p0"
        mask = _lane_mask(builder, vt.lanes, cnt)
        fnty = ir.FunctionType(lt, [ptr.type, ir.IntType(32), mask.type, lt])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        zero = ir.Constant(lt, [ir.Constant(lt.element, 0.0)] * vt.lanes)
        return builder.call(fn, [ptr, ir.Constant(ir.IntType(32), size), mask, zero])

    return vt(arr, idx, count), codegen


def _masked_store(context, builder, sig, args, mask):
    """llvm.masked.store of vector ``args[2]`` to ``arr.flat[idx]`` (``args[0]``, ``args[1]``) under ``mask``."""
    ptr, size = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
    vt = sig.args[2]
    name = f"llvm.masked.store.v{vt.lanes}f{vt.dtype.bitwidth}.p0"
    fnty = ir.FunctionType(ir.VoidType(), [args[2].type, ptr.type, ir.IntType(32), mask.type])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    builder.call(fn, [args[2], ptr, ir.Constant(ir.IntType(32), size), mask])
    return context.get_dummy_value()


@intrinsic
def vstore_n(typingctx, arr, idx, vec, count):
    """Like :func:`vstore`, writing only the first ``count`` lanes: a masked store."""

    def codegen(context, builder, sig, args):
        cnt = context.cast(builder, args[3], sig.args[3], types.intp)
        return _masked_store(context, builder, sig, args, _lane_mask(builder, sig.args[2].lanes, cnt))

    return types.none(arr, idx, vec, count), codegen


@intrinsic
def vstore_range(typingctx, arr, idx, vec, lo, hi):
    """Store lanes ``lo <= l < hi`` of ``vec`` to ``arr.flat[idx + l]`` (a masked store; the lanes
    outside the range are not touched, so ``idx + lo`` may be the first element of ``arr``)."""

    def codegen(context, builder, sig, args):
        lanes = sig.args[2].lanes
        lo_, hi_ = (context.cast(builder, args[a], sig.args[a], types.intp) for a in (3, 4))
        idx = ir.Constant(ir.VectorType(lo_.type, lanes), list(range(lanes)))
        mask = builder.and_(builder.icmp_signed(">=", idx, _splat(builder, lo_, lanes)),
                            builder.icmp_signed("<", idx, _splat(builder, hi_, lanes)))
        return _masked_store(context, builder, sig, args, mask)

    return types.none(arr, idx, vec, lo, hi), codegen


@intrinsic
def vtranspose(typingctx, buf):
    """Transpose in place the lanes x lanes block ``buf[0 .. lanes)`` of a :func:`vstack` (which must
    hold at least ``lanes`` vectors): lane l of ``buf[r]`` becomes what lane r of ``buf[l]`` was.

    log2(lanes) rounds of two-source shuffles (each round swaps one bit of the row index with the
    same bit of the lane index), lanes * log2(lanes) shuffles in all, no memory round trip once
    LLVM keeps ``buf`` in registers."""
    if not (isinstance(buf, types.CPointer) and isinstance(buf.dtype, SimdVector)):
        return None
    n = buf.dtype.lanes

    def codegen(context, builder, sig, args):
        intp = context.get_value_type(types.intp)
        ptrs = [builder.gep(args[0], [ir.Constant(intp, r)]) for r in range(n)]
        rows = [builder.load(p) for p in ptrs]
        mask_t = ir.VectorType(ir.IntType(32), n)
        h = n // 2
        while h >= 1:
            keep = ir.Constant(mask_t, [n + (c ^ h) if c & h else c for c in range(n)])
            swap = ir.Constant(mask_t, [n + c if c & h else c ^ h for c in range(n)])
            for r in range(n):
                if not r & h:
                    lo, hi = rows[r], rows[r | h]
                    rows[r] = builder.shuffle_vector(lo, hi, keep)
                    rows[r | h] = builder.shuffle_vector(lo, hi, swap)
            h //= 2
        for p, row in zip(ptrs, rows):
            builder.store(row, p)
        return context.get_dummy_value()

    return types.none(buf), codegen


@intrinsic
def atomic_add(typingctx, arr, idx, val):
    """Add ``val`` to the integer ``arr.flat[idx]`` atomically (sequentially consistent) and return the
    value it held before: a counter the threads of one parallel loop share."""
    if not isinstance(getattr(arr, "dtype", None), types.Integer):
        return None

    def codegen(context, builder, sig, args):
        ptr, _ = _elem_ptr(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        value = context.cast(builder, args[2], sig.args[2], sig.args[0].dtype)
        return builder.atomic_rmw("add", ptr, value, "seq_cst")

    return arr.dtype(arr, idx, val), codegen
