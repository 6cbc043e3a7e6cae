"""revcore.matmul against the numpy reference, over shapes, dtypes and memory layouts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import revcore
from revcore import reference
from support import DTYPES, LAYOUTS, SIZES, assert_close_scaled, layout, tol

NON_SQUARE = [
    (0, 3, 5), (3, 0, 5), (3, 5, 0), (0, 0, 0), (1, 257, 1), (257, 1, 3), (2, 3, 128),
    (7, 13, 31), (13, 8, 7), (97, 64, 8), (31, 257, 16), (64, 97, 128), (128, 16, 97),
    (3, 2, 257), (8, 31, 1), (1, 7, 64),
]


def check_product(a: np.ndarray, b: np.ndarray, dtype) -> None:
    """revcore.matmul(a, b) matches the reference and numpy up to the dot-product bound."""
    c = revcore.matmul(a, b)
    k = a.shape[-1]
    # Each entry is a k-term dot product: error <= tol(dtype, k) * (|a| @ |b|) entrywise.
    scale = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    assert isinstance(c, np.ndarray)
    assert c.dtype == dtype
    assert_close_scaled(c, reference.matmul(a, b), scale, tol(dtype, k))
    assert_close_scaled(c, np.matmul(a, b), scale, tol(dtype, k))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_square(rng, n, dtype):
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    check_product(a, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", NON_SQUARE)
def test_non_square(rng, m, k, n, dtype):
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = revcore.matmul(a, b)
    assert c.shape == (m, n)
    if k == 0:
        np.testing.assert_array_equal(c, np.zeros((m, n), dtype))
    check_product(a, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout_a,layout_b", list(itertools.product(LAYOUTS, LAYOUTS)))
@pytest.mark.parametrize("m,k,n", [(13, 31, 7), (64, 97, 33)])
def test_layouts(rng, m, k, n, layout_a, layout_b, dtype):
    a0 = rng.standard_normal((m, k)).astype(dtype)
    b0 = rng.standard_normal((k, n)).astype(dtype)
    a, b = layout(a0, layout_a), layout(b0, layout_b)
    c = revcore.matmul(a, b)
    # Same values, so the same products as the contiguous operands, to rounding.
    scale = np.abs(a0.astype(np.float64)) @ np.abs(b0.astype(np.float64))
    assert_close_scaled(c, reference.matmul(a0, b0), scale, tol(dtype, k))
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transposed_views(rng, dtype):
    a = rng.standard_normal((31, 64)).astype(dtype)
    b = rng.standard_normal((97, 31)).astype(dtype)
    check_product(a.T, b.T, dtype)
    check_product(b[::-3, ::-1], a[:, ::2], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [0, 1, 7, 257])
def test_one_dimensional_operands(rng, k, dtype):
    v = rng.standard_normal(k).astype(dtype)
    w = rng.standard_normal(k).astype(dtype)
    matrix = rng.standard_normal((k, 5)).astype(dtype)
    # A k-term dot product each, as in check_product.
    rtol = tol(dtype, k)
    for a, b in [(v, matrix), (matrix.T, w), (v, w)]:
        c = revcore.matmul(a, b)
        expected = np.matmul(a, b)
        assert np.shape(c) == np.shape(expected)
        assert np.ndim(c) == np.ndim(expected)
        assert np.asarray(c).dtype == dtype
        scale = np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
        assert_close_scaled(np.asarray(c), np.asarray(expected), scale, rtol)
        np.testing.assert_array_equal(np.asarray(reference.matmul(a, b)).shape, np.shape(c))


@pytest.mark.parametrize(
    "dtype_a,dtype_b,expected",
    [
        (np.float32, np.float64, np.float64),
        (np.float64, np.float32, np.float64),
        (np.float32, np.float32, np.float32),
        (np.int64, np.int64, np.float64),
        (np.int32, np.float64, np.float64),
        (np.int64, np.float32, np.float64),
        (np.uint8, np.int16, np.float64),
        (np.float16, np.float16, np.float32),
        (np.float16, np.float32, np.float32),
        (np.float16, np.float64, np.float64),
    ],
)
def test_dtype_promotion(rng, dtype_a, dtype_b, expected):
    a = rng.integers(-5, 6, size=(7, 13)).astype(dtype_a) if np.dtype(dtype_a).kind != "u" \
        else rng.integers(0, 6, size=(7, 13)).astype(dtype_a)
    b = rng.integers(-5, 6, size=(13, 8)).astype(dtype_b)
    c = revcore.matmul(a, b)
    assert c.dtype == expected
    assert reference.matmul(a, b).dtype == expected
    # Small integers: every product and partial sum is exact in float32 and float64.
    np.testing.assert_array_equal(c, a.astype(np.float64) @ b.astype(np.float64))


def test_python_lists():
    c = revcore.matmul([[1, 2], [3, 4]], [[5.0], [6.0]])
    assert c.dtype == np.float64
    np.testing.assert_array_equal(c, [[17.0], [39.0]])


@pytest.mark.parametrize("bad", [
    np.ones((2, 2), dtype=bool),
    np.ones((2, 2), dtype=np.complex128),
    np.ones((2, 2), dtype=np.complex64),
    np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object),
    np.array([["a", "b"], ["c", "d"]]),
])
@pytest.mark.parametrize("side", ["a", "b"])
def test_refused_dtypes(bad, side):
    good = np.ones((2, 2))
    for function in (revcore.matmul, reference.matmul):
        with pytest.raises(TypeError, match=f"{side} must hold real numbers"):
            function(bad, good) if side == "a" else function(good, bad)


@pytest.mark.parametrize("shape_a,shape_b", [((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((), (3,))])
def test_refused_dimensions(shape_a, shape_b):
    with pytest.raises(ValueError, match="must be 1-D or 2-D"):
        revcore.matmul(np.ones(shape_a), np.ones(shape_b))


@pytest.mark.parametrize("shape_a,shape_b", [((3, 4), (5, 2)), ((4,), (3, 2)), ((3, 2), (3,)),
                                             ((2,), (3,))])
def test_shape_mismatch_names_shapes(shape_a, shape_b):
    for function in (revcore.matmul, reference.matmul):
        with pytest.raises(ValueError) as info:
            function(np.ones(shape_a), np.ones(shape_b))
        message = str(info.value)
        assert str(shape_a) in message and str(shape_b) in message, message
        assert "not aligned" in message


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_unchanged(rng, dtype):
    a = rng.standard_normal((31, 16)).astype(dtype)
    b = rng.standard_normal((16, 8)).astype(dtype)
    a_copy, b_copy = a.copy(), b.copy()
    for kind in LAYOUTS:
        a_view, b_view = layout(a, kind), layout(b, kind)
        revcore.matmul(a_view, b_view)
        np.testing.assert_array_equal(a_view, a_copy)
        np.testing.assert_array_equal(b_view, b_copy)
    revcore.matmul(a, b)
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(b, b_copy)


def test_result_is_fresh_and_writable(rng):
    a = rng.standard_normal((8, 8))
    b = np.eye(8)
    c = revcore.matmul(a, b)
    assert c.flags.writeable and c.flags.c_contiguous
    assert not np.shares_memory(c, a) and not np.shares_memory(c, b)


# Shapes past every cache block of every CPU: k over the deepest KC (2 x 384 floats), m over
# the tallest MC (4096 rows) and n over several NC, with n not a multiple of the register
# block's width (ragged last tiles) and m not a multiple of its height. The blocks are sized
# at run time from the CPU's caches, so these cross block edges wherever the suite runs.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n,layout_a,layout_b", [
    (4099, 1163, 136, "C", "C"),   # every m, k block edge; B packed with whole vectors
    (4099, 37, 531, "F", "C"),     # A with unit row stride: packed column by column
    (211, 1163, 1031, "C", "F"),   # B with unit row stride (transposes), n over NC
])
def test_crosses_cache_blocks(rng, m, k, n, layout_a, layout_b, dtype):
    a0 = rng.standard_normal((m, k)).astype(dtype)
    b0 = rng.standard_normal((k, n)).astype(dtype)
    c = revcore.matmul(layout(a0, layout_a), layout(b0, layout_b))
    scale = np.abs(a0.astype(np.float64)) @ np.abs(b0.astype(np.float64))
    # tol(dtype, k): the k-term dot-product bound of check_product.
    assert_close_scaled(c, reference.matmul(a0, b0), scale, tol(dtype, k))


# Shapes for the threaded product, each large enough (2mnk >= 16 Mflop in float32 terms) to be
# split over threads unless it takes a path of its own (k = 0: C = 0; m = 1 after the front
# end's transposition: the vector product): C wide enough for a team sharing the packed A
# blocks and claiming columns, or narrow (fewer than two micro-panels of columns per thread)
# and split along its rows; sizes not multiples of any register block, one dimension smaller
# than the thread count, k = 0 and 1, and k deep enough for several KC blocks.
THREADED_SHAPES = [
    (257, 263, 251),     # one cache block each way, ragged register blocks
    (1031, 1, 4099),     # k = 1: one A panel column per row, many column claims
    (3001, 0, 2999),     # k = 0: no product at all
    (2, 3001, 2999),     # m smaller than the thread count: a team of two-row A blocks
    (3, 1163, 4099),     # ... and k over KC
    (4099, 1163, 3),     # n smaller than the thread count: split along the rows
    (4097, 997, 37),     # narrow C: rows, with a ragged last column panel
    (1999, 1163, 531),   # several A blocks deep, odd everywhere
    (37, 2053, 1031),    # few rows, columns over NC
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", THREADED_SHAPES)
@pytest.mark.parametrize("layout_b", ["C", "F"])
def test_threads_give_the_single_thread_bits(rng, m, k, n, layout_b, dtype):
    # Every tile of C is summed over the same k blocks by the same micro-kernel whatever the
    # split, so the threaded product must equal the one-thread product bit for bit; and both
    # must be right (a split that dropped or repeated a block would show here, not above).
    a = rng.standard_normal((m, k)).astype(dtype)
    b0 = rng.standard_normal((k, n)).astype(dtype)
    b = layout(b0, layout_b)
    bias = rng.standard_normal(n).astype(dtype)
    w = np.ascontiguousarray(b0.T)  # dense(x, w) = act(x w^T + bias): B read with swapped strides
    with revcore.num_threads(1):
        single = revcore.matmul(a, b)
        single_dense = revcore.dense(a, w, bias, "tanh")
    scale = np.abs(a.astype(np.float64)) @ np.abs(b0.astype(np.float64))
    assert_close_scaled(single, reference.matmul(a, b0), scale, tol(dtype, k))
    for threads in (2, 3):
        with revcore.num_threads(threads):
            for _ in range(2):  # races show up only now and then
                threaded = revcore.matmul(a, b)
                assert threaded.tobytes() == single.tobytes(), (threads, np.abs(threaded - single).max())
                dense = revcore.dense(a, w, bias, "tanh")
                assert dense.tobytes() == single_dense.tobytes(), (threads, "dense")
