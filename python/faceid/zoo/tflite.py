"""A minimal TFLite flatbuffer reader, written from ``tensorflow/lite/schema/schema.fbs``.

It reads only what the weight converters need: the model's operator codes, the first subgraph's tensors and
operators (with the options of the ops the face models use), and the constant buffers, with fp16 weights (behind
``DEQUANTIZE``) turned into float32 arrays and sparse weights (behind ``DENSIFY``) expanded to dense ones
(:func:`densify`). No TensorFlow, no ``flatbuffers`` package.

Flatbuffer layout in brief: the file starts with a ``uint32`` offset to the root table; a table starts with an
``int32`` that points back to its vtable (``uint16`` vtable size, table size, then one ``uint16`` offset per field,
0 when absent); offsets to tables, vectors and strings are ``uint32`` relative to where they are stored; vectors
and strings carry a ``uint32`` length first. A union field takes two slots: its type (``uint8``), then its value.

Sparse tensors (``Tensor.sparsity``, a ``SparsityParameters`` table) use TFLite's variant of the TACO format: the
dense shape is traversed in ``traversal_order`` (a permutation of the ``n`` tensor dimensions, then, for a
block-sparse tensor, the ``k`` block dimensions, each mapped to the tensor dimension it splits by ``block_map``);
one ``DimensionMetadata`` per traversed dimension is either ``DENSE`` (``dense_size`` entries, all present) or
``SPARSE_CSR`` (entry ``p`` of the enclosing level owns ``array_indices[array_segments[p]:array_segments[p + 1]]``).
The buffer holds the stored values in traversal order, one per leaf of that tree.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "BUILTIN_OPS",
    "DimensionMetadata",
    "SparsityParameters",
    "TFLiteModel",
    "TFLiteOperator",
    "TFLiteTensor",
    "densify",
    "read_tflite",
]

logger = logging.getLogger(__name__)

# BuiltinOperator codes (schema.fbs) of the ops the face models use; others are reported by number.
BUILTIN_OPS: dict[int, str] = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    2: "CONCATENATION",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE",
    6: "DEQUANTIZE",
    14: "LOGISTIC",
    17: "MAX_POOL_2D",
    18: "MUL",
    19: "RELU",
    21: "RELU6",
    22: "RESHAPE",
    23: "RESIZE_BILINEAR",
    34: "PAD",
    39: "TRANSPOSE",
    67: "TRANSPOSE_CONV",
    97: "RESIZE_NEAREST_NEIGHBOR",
    124: "DENSIFY",
}
# TensorType -> numpy dtype (schema.fbs order).
_TENSOR_TYPES: dict[int, str] = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 9: "int8"}
_PADDING = {0: "SAME", 1: "VALID"}
_ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH"}
# SparseIndexVector union members (type code -> element format); DimensionType.
_INDEX_VECTORS = {1: "i", 2: "H", 3: "B"}
_DIMENSION_TYPES = {0: "DENSE", 1: "SPARSE_CSR"}
# Field layouts (name, slot, struct format[, default]) of the builtin options tables we decode, by operator name;
# absent fields take the schema's default (0 / false unless given).
_OPTION_FIELDS: dict[str, tuple[tuple, ...]] = {
    "CONV_2D": (("padding", 0, "b"), ("stride_w", 1, "i"), ("stride_h", 2, "i"), ("activation", 3, "b"),
                ("dilation_w", 4, "i", 1), ("dilation_h", 5, "i", 1)),
    "DEPTHWISE_CONV_2D": (("padding", 0, "b"), ("stride_w", 1, "i"), ("stride_h", 2, "i"),
                          ("depth_multiplier", 3, "i"), ("activation", 4, "b"), ("dilation_w", 5, "i", 1),
                          ("dilation_h", 6, "i", 1)),
    "MAX_POOL_2D": (("padding", 0, "b"), ("stride_w", 1, "i"), ("stride_h", 2, "i"), ("filter_w", 3, "i"),
                    ("filter_h", 4, "i"), ("activation", 5, "b")),
    "AVERAGE_POOL_2D": (("padding", 0, "b"), ("stride_w", 1, "i"), ("stride_h", 2, "i"), ("filter_w", 3, "i"),
                        ("filter_h", 4, "i"), ("activation", 5, "b")),
    "ADD": (("activation", 0, "b"),),
    "CONCATENATION": (("axis", 0, "i"), ("activation", 1, "b")),
    "RESIZE_BILINEAR": (("align_corners", 2, "?", False), ("half_pixel_centers", 3, "?", False)),
    "DEPTH_TO_SPACE": (("block_size", 0, "i"),),
}  # fmt: skip


class _Reader:
    """Random access to flatbuffer tables in one byte string."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.data, pos)[0]

    def field_pos(self, table: int, slot: int) -> int | None:
        """Absolute position of field ``slot`` of the table at ``table``, or ``None`` when absent."""
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        vt_size = struct.unpack_from("<H", self.data, vtable)[0]
        entry = 4 + 2 * slot
        if entry >= vt_size:
            return None
        offset = struct.unpack_from("<H", self.data, vtable + entry)[0]
        return table + offset if offset else None

    def scalar(self, table: int, slot: int, fmt: str, default: int | float | bool = 0) -> int | float | bool:
        pos = self.field_pos(table, slot)
        return default if pos is None else struct.unpack_from("<" + fmt, self.data, pos)[0]

    def ref(self, table: int, slot: int) -> int | None:
        """Target of an offset field (table, vector or string), or ``None``."""
        pos = self.field_pos(table, slot)
        return None if pos is None else pos + self._u32(pos)

    def vector(self, table: int, slot: int) -> tuple[int, int]:
        """``(start, length)`` of a vector field; ``(0, 0)`` when absent."""
        target = self.ref(table, slot)
        return (0, 0) if target is None else (target + 4, self._u32(target))

    def tables(self, table: int, slot: int) -> list[int]:
        start, length = self.vector(table, slot)
        return [start + 4 * i + self._u32(start + 4 * i) for i in range(length)]

    def ints(self, table: int, slot: int, fmt: str = "i") -> list[int]:
        start, length = self.vector(table, slot)
        return list(struct.unpack_from(f"<{length}{fmt}", self.data, start)) if length else []

    def string(self, table: int, slot: int) -> str:
        target = self.ref(table, slot)
        if target is None:
            return ""
        return self.data[target + 4 : target + 4 + self._u32(target)].decode("utf-8", errors="replace")


@dataclass(frozen=True)
class DimensionMetadata:
    """How one traversed dimension of a sparse tensor is stored: ``DENSE`` (``dense_size`` entries) or
    ``SPARSE_CSR`` (``segments`` of length ``parents + 1`` into ``indices``)."""

    format: str
    dense_size: int = 0
    segments: tuple[int, ...] = ()
    indices: tuple[int, ...] = ()


@dataclass(frozen=True)
class SparsityParameters:
    """A tensor's ``SparsityParameters``: ``traversal_order`` (n + k entries), ``block_map`` (k entries: the
    tensor dimension each block dimension splits) and one :class:`DimensionMetadata` per traversed dimension."""

    traversal_order: tuple[int, ...]
    block_map: tuple[int, ...]
    dim_metadata: tuple[DimensionMetadata, ...]


@dataclass
class TFLiteTensor:
    """One tensor of the subgraph; ``data`` is its constant value (``None`` for activations). For a sparse
    tensor ``data`` holds the stored values only (1-D) and ``sparsity`` how to expand them (:meth:`dense`)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None
    sparsity: SparsityParameters | None = None

    @property
    def sparse(self) -> bool:
        return self.sparsity is not None

    def dense(self) -> np.ndarray:
        """The constant value in its dense ``shape`` (sparse storage expanded, same dtype)."""
        if self.data is None:
            raise ValueError(f"tensor {self.index} ({self.name}) has no constant data")
        return self.data if self.sparsity is None else densify(self.data, self.shape, self.sparsity)


@dataclass
class TFLiteOperator:
    """One operator: its name, input/output tensor indices (-1: optional input absent) and decoded options."""

    index: int
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, int | str | bool] = field(default_factory=dict)


@dataclass
class TFLiteModel:
    """The first subgraph of a TFLite model, with constants resolved to float32 where they were fp16."""

    tensors: list[TFLiteTensor]
    operators: list[TFLiteOperator]
    inputs: list[int]
    outputs: list[int]
    description: str = ""

    def producer(self, tensor: int) -> TFLiteOperator | None:
        """The operator that writes ``tensor`` (``None`` for graph inputs and constants)."""
        return next((op for op in self.operators if tensor in op.outputs), None)

    def consumers(self, tensor: int) -> list[TFLiteOperator]:
        return [op for op in self.operators if tensor in op.inputs]

    def constant(self, tensor: int) -> np.ndarray:
        """The dense value of a constant input, looking through ``DEQUANTIZE`` (fp16 -> fp32) and ``DENSIFY``
        (sparse -> dense); float16 comes back as float32."""
        src = self.tensors[tensor]
        if src.data is None:
            producer = self.producer(tensor)
            if producer is None or producer.op not in ("DEQUANTIZE", "DENSIFY"):
                raise ValueError(f"tensor {tensor} ({src.name}) is neither constant nor a DEQUANTIZE/DENSIFY of one")
            value = self.constant(producer.inputs[0])
            if value.shape != src.shape:
                raise ValueError(f"{producer.op} #{producer.index}: {value.shape} in, {src.shape} out")
            return value
        value = src.dense()
        return value.astype(np.float32) if value.dtype == np.float16 else value


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity: SparsityParameters) -> np.ndarray:
    """The dense array of ``shape`` whose stored entries are ``values`` (traversal order), zeros elsewhere: what
    TFLite's ``DENSIFY`` computes. Walks the traversal levels breadth first, keeping per leaf its coordinate in
    every level and its position in the level's storage (dense: ``parent * size + i``; CSR: the index slot)."""
    rank, order, block_map = len(shape), sparsity.traversal_order, sparsity.block_map
    levels = sparsity.dim_metadata
    if len(order) != rank + len(block_map) or len(levels) != len(order) or sorted(order) != list(range(len(order))):
        raise ValueError(f"sparsity of a rank-{rank} tensor: bad traversal order {order} / block map {block_map}")
    positions = np.zeros(1, dtype=np.int64)
    coords: list[np.ndarray] = []
    for meta in levels:
        if meta.format == "DENSE":
            counts = np.full(positions.size, meta.dense_size, dtype=np.int64)
            child = np.arange(meta.dense_size, dtype=np.int64)
            new_positions = (positions[:, None] * meta.dense_size + child).ravel()
            new_coord = np.tile(child, positions.size)
        elif meta.format == "SPARSE_CSR":
            segments, indices = np.asarray(meta.segments, np.int64), np.asarray(meta.indices, np.int64)
            if positions.size and (positions.max() + 1 >= segments.size or segments[-1] > indices.size):
                raise ValueError(f"sparse level: {segments.size} segments, {indices.size} indices do not fit")
            starts, counts = segments[positions], segments[positions + 1] - segments[positions]
            new_positions = np.arange(counts.sum()) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
            new_coord = indices[new_positions]
        else:
            raise ValueError(f"unknown sparse dimension format {meta.format!r}")
        coords = [np.repeat(c, counts) for c in coords] + [new_coord]
        positions = new_positions
    values = np.asarray(values).reshape(-1)
    if values.size != positions.size:
        raise ValueError(f"sparse tensor {shape}: {values.size} stored values for {positions.size} traversed entries")
    original: list[np.ndarray | None] = [None] * rank
    for level, dim in enumerate(order[:rank]):
        original[dim] = coords[level]
    for level in range(rank, len(order)):
        dim, size = block_map[order[level] - rank], levels[level].dense_size
        original[dim] = original[dim] * size + coords[level]
    if positions.size and any(int(c.max()) >= n for c, n in zip(original, shape, strict=True)):
        raise ValueError(f"sparse tensor {shape}: stored coordinates reach {[int(c.max()) for c in original]}")
    dense = np.zeros(shape, dtype=values.dtype)
    dense[tuple(original)] = values
    return dense


def _read_buffers(reader: _Reader, model: int) -> list[bytes]:
    buffers = []
    for table in reader.tables(model, 4):
        start, length = reader.vector(table, 0)
        if length:
            buffers.append(reader.data[start : start + length])
            continue
        offset, size = int(reader.scalar(table, 1, "Q")), int(reader.scalar(table, 2, "Q"))
        buffers.append(reader.data[offset : offset + size] if offset > 1 and size else b"")
    return buffers


def _index_vector(reader: _Reader, table: int, slot: int) -> tuple[int, ...]:
    """A ``SparseIndexVector`` union (type in ``slot``, value in ``slot + 1``) as a tuple of ints."""
    kind = int(reader.scalar(table, slot, "B"))
    target = reader.ref(table, slot + 1)
    if kind == 0 or target is None:
        return ()
    if kind not in _INDEX_VECTORS:
        raise ValueError(f"unknown SparseIndexVector type {kind}")
    return tuple(reader.ints(target, 0, _INDEX_VECTORS[kind]))


def _read_sparsity(reader: _Reader, table: int) -> SparsityParameters:
    levels = []
    for meta in reader.tables(table, 2):
        kind = int(reader.scalar(meta, 0, "b"))
        levels.append(
            DimensionMetadata(
                _DIMENSION_TYPES.get(kind, f"type{kind}"),
                int(reader.scalar(meta, 1, "i")),
                _index_vector(reader, meta, 2),
                _index_vector(reader, meta, 4),
            )
        )
    return SparsityParameters(tuple(reader.ints(table, 0)), tuple(reader.ints(table, 1)), tuple(levels))


def _read_tensor(reader: _Reader, table: int, index: int, buffers: list[bytes]) -> TFLiteTensor:
    shape = tuple(reader.ints(table, 0))
    type_code = int(reader.scalar(table, 1, "b"))
    dtype = _TENSOR_TYPES.get(type_code, f"type{type_code}")
    raw = buffers[int(reader.scalar(table, 2, "I"))]
    sparsity_table = reader.ref(table, 6)
    sparsity = None if sparsity_table is None else _read_sparsity(reader, sparsity_table)
    data = None
    if raw and dtype in _TENSOR_TYPES.values():
        flat = np.frombuffer(raw, dtype=dtype).copy()
        data = flat if sparsity is not None or int(np.prod(shape)) != flat.size else flat.reshape(shape)
    return TFLiteTensor(index, reader.string(table, 3), shape, dtype, data, sparsity)


def _read_operator(reader: _Reader, table: int, index: int, codes: list[int]) -> TFLiteOperator:
    code = codes[int(reader.scalar(table, 0, "I"))]
    name = BUILTIN_OPS.get(code, f"BUILTIN_{code}")
    options: dict[str, int | str | bool] = {}
    opt_table = reader.ref(table, 4)
    if opt_table is not None:
        for key, slot, fmt, *default in _OPTION_FIELDS.get(name, ()):
            options[key] = reader.scalar(opt_table, slot, fmt, *default)
    if "padding" in options:
        options["padding"] = _PADDING[int(options["padding"])]
    if "activation" in options:
        options["activation"] = _ACTIVATION.get(int(options["activation"]), str(options["activation"]))
    return TFLiteOperator(index, name, reader.ints(table, 1), reader.ints(table, 2), options)


def read_tflite(path: str | os.PathLike[str]) -> TFLiteModel:
    """Parse the first subgraph of the ``.tflite`` file at ``path``."""
    data = Path(path).read_bytes()
    if data[4:8] != b"TFL3":
        raise ValueError(f"{path}: not a TFLite flatbuffer (file identifier {data[4:8]!r}, expected b'TFL3')")
    reader = _Reader(data)
    model = reader._u32(0)
    codes = []
    for table in reader.tables(model, 1):  # max(deprecated_builtin_code, builtin_code), as the schema says
        codes.append(max(int(reader.scalar(table, 0, "b")), int(reader.scalar(table, 3, "i"))))
    buffers = _read_buffers(reader, model)
    subgraphs = reader.tables(model, 2)
    if not subgraphs:
        raise ValueError(f"{path}: the model has no subgraph")
    graph = subgraphs[0]
    tensors = [_read_tensor(reader, t, i, buffers) for i, t in enumerate(reader.tables(graph, 0))]
    operators = [_read_operator(reader, t, i, codes) for i, t in enumerate(reader.tables(graph, 3))]
    logger.debug("%s: %d tensors, %d operators", path, len(tensors), len(operators))
    return TFLiteModel(tensors, operators, reader.ints(graph, 1), reader.ints(graph, 2), reader.string(model, 3))
