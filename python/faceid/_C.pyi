"""Type stub for faceid's private native module (use the faceid Python API instead)."""

from collections.abc import Sequence
from typing import ClassVar, TypeAlias

import numpy as np

# Any object with the buffer protocol (collections.abc.Buffer from Python 3.12 on).
Buffer: TypeAlias = bytes | bytearray | memoryview | np.ndarray

class DecodeError(ValueError): ...

class DecodeStatus:
    """What became of one sample of a submitted batch (a pybind11 enum: ``int(status)`` is its value)."""

    OK: ClassVar[DecodeStatus]
    NOT_JPEG: ClassVar[DecodeStatus]
    ERROR: ClassVar[DecodeStatus]
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...
    def __int__(self) -> int: ...

def decode_jpeg(data: Buffer, max_pixels: int = ...) -> np.ndarray: ...
def parse_kv_record(data: Buffer) -> bytes: ...
def parse_pickled_bytes(data: Buffer) -> bytes: ...
def hwc_to_chw(
    src: np.ndarray,
    flips: np.ndarray,
    out: np.ndarray,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    src_is_bgr: bool,
) -> None: ...
def warp_faces(
    image: np.ndarray,
    matrices: np.ndarray,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    src_is_bgr: bool,
) -> np.ndarray: ...

class PendingBatch:
    def wait(self) -> list[tuple[int, DecodeStatus, str]]: ...
    def done(self) -> bool: ...
    @property
    def out(self) -> np.ndarray: ...

class BatchDecoder:
    def __init__(
        self,
        paths: Sequence[str],
        num_threads: int,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
    ) -> None: ...
    def submit(self, indices: np.ndarray, flips: np.ndarray, out: np.ndarray) -> PendingBatch: ...
    def path(self, index: int) -> str: ...
    def __len__(self) -> int: ...
    @property
    def num_threads(self) -> int: ...

def cuda_flip_normalize(
    src: np.ndarray,
    flips: np.ndarray,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    src_is_bgr: bool,
) -> np.ndarray: ...
def cuda_status() -> tuple[int, str]: ...
def build_info() -> dict[str, object]: ...
def _debug_thread_pool(num_threads: int, count: int, throw_at: int) -> int: ...

# Native Paddle Inference predictor (csrc/infer): use faceid.infer.native instead.
def native_infer_probe(libpaddle_path: str) -> str: ...
def native_infer_target() -> tuple[str, str]: ...

class NativePredictor:
    def __init__(
        self,
        libpaddle_path: str,
        model_file: str,
        params_file: str,
        threads: int,
        onednn: bool,
        bf16: bool,
        max_predictors: int,
    ) -> None: ...
    def embed(
        self,
        images: np.ndarray,
        src_is_bgr: bool,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        batch_size: int,
    ) -> np.ndarray: ...
    def run_raw(self, input: np.ndarray) -> np.ndarray: ...
    @property
    def output_dim(self) -> int: ...
    @property
    def pool_size(self) -> int: ...
    @property
    def max_predictors(self) -> int: ...
    def _hold(self, count: int) -> None: ...
    def _release_held(self) -> None: ...

# BlazeFace post-processing (csrc/detect): use faceid.ops.detect instead.
def decode_blazeface(raw: np.ndarray, anchors: np.ndarray, input_size: int) -> tuple[np.ndarray, np.ndarray]: ...
def blazeface_candidates(
    raw: np.ndarray,
    logits: np.ndarray,
    anchors: np.ndarray,
    input_size: int,
    score_threshold: float,
    score_clip: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def prepare_tiles(
    image: np.ndarray, resizes: np.ndarray, tiles: np.ndarray, size: int, num_threads: int
) -> np.ndarray: ...

# bf16 gallery scores (csrc/gallery): use faceid.ops.gallery instead.
def bf16_pack_rows(rows: np.ndarray, positions: np.ndarray, panels: np.ndarray, num_threads: int) -> None: ...
def bf16_candidates(
    panels: np.ndarray, n_rows: int, queries: np.ndarray, k: int, margins: np.ndarray, num_threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def bf16_scores(panels: np.ndarray, n_rows: int, queries: np.ndarray) -> np.ndarray: ...
