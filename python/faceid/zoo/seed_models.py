"""The reference system's published Paddle Inference models (Arcface-Paddle / insightface-paddle).

They are tarballs on Baidu's servers holding ``inference.pdmodel`` + ``inference.pdiparams`` (legacy
format), which Paddle Inference loads as they are. This machine cannot reach those servers, so their
SHA-256 is not known here: the records say so, and a downloaded file is checked only for its layout.
"""

from __future__ import annotations

from faceid.zoo.registry import ModelRecord, SourceFile, register

__all__ = ["SEED_MODELS"]

_BASE = "https://paddle-model-ecology.bj.bcebos.com/model/insight-face"
_UNVERIFIED = "SHA-256 unverified (the file could not be downloaded where faceid was built); "
_MS1M = "trained on MS1M, which is for non-commercial research only"


def _record(name: str, task: str, architecture: str, size: tuple[int, int], caution: str) -> ModelRecord:
    return ModelRecord(
        name=name,
        task=task,
        architecture=architecture,
        input_size=size,
        color="RGB",
        mean=(127.5, 127.5, 127.5),
        std=(127.5, 127.5, 127.5),
        files=(SourceFile(f"seed/{name}.tar", None, f"{_BASE}/{name}.tar"),),
        licence="Apache-2.0 (Arcface-Paddle)",
        caution=_UNVERIFIED + caution,
    )


SEED_MODELS = tuple(
    register(record)
    for record in (
        _record("mobileface_v1.0_infer", "recognition", "MobileFaceNet_128 (128-d)", (112, 112), _MS1M),
        _record("arcface_iresnet50_v1.0_infer", "recognition", "iResNet50 (512-d)", (112, 112), _MS1M),
        _record(
            "blazeface_fpn_ssh_1000e_v1.0_infer",
            "detection",
            "PaddleDetection BlazeFace-FPN-SSH",
            (640, 640),
            "trained on WIDER FACE",
        ),
    )
)
