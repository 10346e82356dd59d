"""The Python face of faceid's native ops, each beside the numpy reference it must equal: ``faceid.ops.image``
(JPEG decode, normalise/flip/CHW, the aligning warp), ``faceid.ops.detect`` (BlazeFace decode, weighted NMS,
with the anchors, letterbox and tiles around them) and ``faceid.ops.gallery`` (bf16 gallery panels and the
candidate pass of exact search)."""

from faceid.ops.image import (
    TRAIN_MEAN,
    TRAIN_STD,
    DecodeError,
    cuda_flip_normalize,
    decode_jpeg,
    hwc_to_chw,
    hwc_to_chw_reference,
    warp_faces,
    warp_faces_reference,
)

__all__ = [
    "TRAIN_MEAN",
    "TRAIN_STD",
    "DecodeError",
    "cuda_flip_normalize",
    "decode_jpeg",
    "hwc_to_chw",
    "hwc_to_chw_reference",
    "warp_faces",
    "warp_faces_reference",
]
