"""The TFLite reader's sparse-tensor expansion (``DENSIFY``) on hand-built examples with hand-written dense answers."""

from __future__ import annotations

import numpy as np
import pytest

from faceid.zoo.tflite import DimensionMetadata, SparsityParameters, TFLiteTensor, densify

DENSE = "DENSE"
CSR = "SPARSE_CSR"


def _dense(size: int) -> DimensionMetadata:
    return DimensionMetadata(DENSE, size)


def _csr(segments: tuple[int, ...], indices: tuple[int, ...]) -> DimensionMetadata:
    return DimensionMetadata(CSR, 0, segments, indices)


def test_csr_matrix() -> None:
    """Rows dense, columns compressed: row r owns indices[segments[r]:segments[r + 1]]; an empty row in between."""
    sparsity = SparsityParameters((0, 1), (), (_dense(3), _csr((0, 2, 2, 3), (1, 3, 0))))
    expected = np.array([[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]], dtype=np.float32)
    got = densify(np.array([1, 2, 3], dtype=np.float32), (3, 4), sparsity)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_column_major_traversal() -> None:
    """``traversal_order`` (1, 0): columns outside, rows compressed inside (CSC); values in column order."""
    sparsity = SparsityParameters((1, 0), (), (_dense(4), _csr((0, 1, 1, 1, 3), (2, 0, 2))))
    expected = np.array([[0, 0, 0, 20], [0, 0, 0, 0], [10, 0, 0, 30]], dtype=np.float16)
    got = densify(np.array([10, 20, 30], dtype=np.float16), (3, 4), sparsity)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, expected)


def test_four_dimensional_weight_sparse_in_the_last_axis() -> None:
    """The layout of the full-range BlazeFace's 1x1 kernels: (O, 1, 1, I), only the input axis compressed."""
    sparsity = SparsityParameters((0, 1, 2, 3), (), (_dense(2), _dense(1), _dense(1), _csr((0, 2, 3), (0, 4, 2))))
    expected = np.zeros((2, 1, 1, 5), dtype=np.float32)
    expected[0, 0, 0, [0, 4]] = [-1.5, 2.5]
    expected[1, 0, 0, 2] = 7
    got = densify(np.array([-1.5, 2.5, 7], dtype=np.float32), (2, 1, 1, 5), sparsity)
    np.testing.assert_array_equal(got, expected)


BLOCKS = np.array(
    [
        [0, 0, 0, 1, 2, 3],
        [0, 0, 0, 4, 5, 6],
        [7, 8, 9, 0, 0, 0],
        [10, 11, 12, 0, 0, 0],
    ],
    dtype=np.float32,
)


def test_block_sparse_row_major_blocks() -> None:
    """2x3 blocks of a 4x6 matrix (block_map (0, 1)): a 2x2 grid of blocks, block columns compressed, each stored
    block dense and row-major inside (traversal (0, 1, 2, 3))."""
    levels = (_dense(2), _csr((0, 1, 2), (1, 0)), _dense(2), _dense(3))
    sparsity = SparsityParameters((0, 1, 2, 3), (0, 1), levels)
    np.testing.assert_array_equal(densify(np.arange(1, 13, dtype=np.float32), (4, 6), sparsity), BLOCKS)


def test_block_sparse_column_major_inside_blocks() -> None:
    """Same matrix, but each block traversed column first (traversal (0, 1, 3, 2): block columns, then rows)."""
    levels = (_dense(2), _csr((0, 1, 2), (1, 0)), _dense(3), _dense(2))
    sparsity = SparsityParameters((0, 1, 3, 2), (0, 1), levels)
    values = np.array([1, 4, 2, 5, 3, 6, 7, 10, 8, 11, 9, 12], dtype=np.float32)
    np.testing.assert_array_equal(densify(values, (4, 6), sparsity), BLOCKS)


def test_tensor_dense_and_inconsistent_storage() -> None:
    sparsity = SparsityParameters((0, 1), (), (_dense(2), _csr((0, 1, 2), (1, 0))))
    tensor = TFLiteTensor(0, "w", (2, 2), "float32", np.array([5, 6], dtype=np.float32), sparsity)
    assert tensor.sparse
    np.testing.assert_array_equal(tensor.dense(), [[0, 5], [6, 0]])
    with pytest.raises(ValueError, match="3 stored values for 2 traversed entries"):
        densify(np.ones(3, dtype=np.float32), (2, 2), sparsity)
    with pytest.raises(ValueError, match="bad traversal order"):
        densify(np.ones(2, dtype=np.float32), (2, 2), SparsityParameters((0,), (), sparsity.dim_metadata))
    with pytest.raises(ValueError, match="stored coordinates reach"):
        densify(
            np.ones(2, dtype=np.float32), (2, 2), SparsityParameters((0, 1), (), (_dense(2), _csr((0, 1, 2), (2, 0))))
        )
    with pytest.raises(ValueError, match="do not fit"):
        densify(np.ones(2, dtype=np.float32), (2, 2), SparsityParameters((0, 1), (), (_dense(2), _csr((0, 1), (1,)))))
