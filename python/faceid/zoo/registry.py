"""The pretrained-model registry: every weight set faceid knows, and how each is fetched, verified, converted, loaded.

Each :class:`ModelRecord` is plain data, complete as soon as ``faceid.zoo`` is imported (nothing registers itself
as a side effect of importing something else):

* **fetched**: its :class:`SourceFile` entries name a URL and the path in an offline source folder
  (``$FACEID_MODEL_SOURCE`` or an explicit ``source``, laid out like ``../shared/models``);
* **verified**: :func:`source_file` checks each file's SHA-256 before anything reads it (``sha256=None`` only where
  the record's ``caution`` says why the hash is unknown);
* **converted**: ``converter`` names the function that turns the verified files into what faceid runs and caches
  it under :func:`cache_dir` (``$FACEID_HOME/models``, default ``~/.faceid/models``); :func:`convert` calls it;
* **loaded**: ``loader`` names the function that gives the ready model, of the kind ``loads`` names (a
  ``paddle.nn.Layer``, the folder that :class:`faceid.Recognizer` opens: a faceid export or a reference-style
  ``inference.pdmodel`` + ``inference.pdiparams``, or a Paddle Inference predictor);
  :func:`load` calls it.

``converter`` and ``loader`` are ``"module:function"`` names, imported on first use so that importing the registry
stays cheap (no Paddle, no OpenCV); both functions take ``(name, source)``. The CLI and the pipeline only look names
up here.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceid.errors import InputError
from faceid.io.hashing import sha256_file

__all__ = [
    "ModelRecord",
    "SourceFile",
    "cache_dir",
    "convert",
    "export_dir",
    "export_names",
    "get_record",
    "list_records",
    "load",
    "resolve",
    "source_file",
]


@dataclass(frozen=True)
class SourceFile:
    """One file a weight set is made from: where it lives in a source folder, its URL and SHA-256."""

    path: str  # relative to the model source folder, e.g. "blazeface/face_detection_short_range.tflite"
    sha256: str | None  # None: not verified (the record's caution says why)
    url: str = ""


@dataclass(frozen=True)
class ModelRecord:
    """A pretrained weight set, how to feed it, and the functions that convert and load it."""

    name: str
    task: str  # "detection", "recognition", "landmarks"
    architecture: str
    input_size: tuple[int, int]  # (height, width)
    color: str  # "RGB" or "BGR"
    mean: tuple[float, ...]
    std: tuple[float, ...]
    files: tuple[SourceFile, ...]
    licence: str
    converter: str  # "module:function"; (name, source) -> the cached, converted model's path
    loader: str  # "module:function"; (name, source) -> the ready model, of the kind ``loads`` says
    loads: str  # "layer" (paddle.nn.Layer), "export" (a folder Recognizer opens) or "predictor" (faceid.infer)
    caution: str = ""
    extra: dict = field(default_factory=dict)


_MEDIAPIPE_WHEEL = "https://pypi.org/project/mediapipe/0.10.21/#files"
_MEDIAPIPE_LICENCE = "Apache-2.0 (MediaPipe, from the mediapipe 0.10.21 wheel; blazeface/LICENSE)"
_BLAZEFACE_KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")


def _blazeface(
    name: str, *, architecture: str, size: int, file: str, sha256: str, caution: str, **extra: Any
) -> ModelRecord:
    """A BlazeFace weight set: a ``.tflite`` of the mediapipe wheel, RGB in [-1, 1], weighted NMS 0.3."""
    return ModelRecord(
        name=name,
        task="detection",
        architecture=architecture,
        input_size=(size, size),
        color="RGB",
        mean=(127.5, 127.5, 127.5),
        std=(127.5, 127.5, 127.5),
        files=(SourceFile(path=f"blazeface/{file}", sha256=sha256, url=_MEDIAPIPE_WHEEL),),
        licence=_MEDIAPIPE_LICENCE,
        converter="faceid.zoo.blazeface:convert_into_cache",
        loader="faceid.zoo.blazeface:load_blazeface",
        loads="layer",
        caution=caution,
        extra={
            "wheel_member": "mediapipe/modules/face_detection/" + file,
            "nms_iou": 0.3,
            "keypoints": _BLAZEFACE_KEYPOINTS,
            **extra,
        },
    )


_ARCFACE_PADDLE_URL = "https://paddle-model-ecology.bj.bcebos.com/model/insight-face"
_UNVERIFIED = "SHA-256 unknown (the file could not be downloaded where faceid was built); "
_MS1M = "trained on MS1M, which is for non-commercial research only"
_TAR_UNKNOWN = "the tarball's own SHA-256 is unknown (only its extracted files are checked)"

# SHA-256 of the files each published tarball extracts to (../shared/SHA256SUMS; the tarballs themselves were never
# downloaded where faceid was built, so an archive is checked through what it extracts).
_MOBILEFACE_V1_FILES = {
    "inference.pdmodel": "11086ed73a8108021a677f0721fb1cc3796407abf22098905e327cba5830362b",
    "inference.pdiparams": "a7f078fd47776656b86cd03c3b9a9c69e6bc3f89c23335a8278632d9faa5e44a",
    "inference.pdiparams.info": "aeeb87425a7d61b4422995106f28f1e28c6e8f3c036fc057b380c48de1f67eaa",
}
_FPN_SSH_FILES = {
    "inference.pdmodel": "3d913ffefc77e20f671633cc04a0204d56fabf7249129864b3dd8024f79d7ea7",
    "inference.pdiparams": "d8f3fb8f72c6b96a7aee64ec298bf5a0e512134f1912cb3cb98a4ea9ef2dfd37",
    "inference.pdiparams.info": "15393f2177734a9ea7db9c7845b319c27d9bd947adc4b407636bca296294ca5c",
    "infer_cfg.yml": "5ff043060ce1f48e2559fbe364b1f378734fb47877d73ae723c849460eaa82e9",
    "blazeface_fpn_ssh_1000e.pdparams": "522d4ab2a2b5f06ffdba5b0871bffa4a5a7d87122af2e24b97111b39458c4f35",
}
_IRESNET50_FILES: dict[str, str | None] = {"inference.pdmodel": None, "inference.pdiparams": None}


def _arcface_paddle(
    name: str,
    task: str,
    architecture: str,
    size: tuple[int, int],
    *,
    files: dict[str, str | None],
    licence: str,
    caution: str,
    color: str = "RGB",
    mean: tuple[float, ...] = (127.5, 127.5, 127.5),
    std: tuple[float, ...] = (127.5, 127.5, 127.5),
    loads: str = "export",
    loader: str = "faceid.zoo.arcface_paddle:unpack_inference_model",
    **extra: Any,
) -> ModelRecord:
    """One of Arcface-Paddle's published Paddle Inference tarballs (``inference.pdmodel`` + ``.pdiparams``, legacy
    format). ``files`` are what the tarball extracts to (``seed/<name>/<file>`` in the model source, each with its
    SHA-256); ``extra["archive"]`` is the tarball itself (``seed/<name>.tar``), whose digest is unknown."""
    url = f"{_ARCFACE_PADDLE_URL}/{name}.tar"
    # "seed/": the folder name the offline model source (../shared/models) uses for Arcface-Paddle's files
    entries = tuple(SourceFile(f"seed/{name}/{file}", sha256, url) for file, sha256 in files.items())
    unverified = any(entry.sha256 is None for entry in entries)
    return ModelRecord(
        name=name,
        task=task,
        architecture=architecture,
        input_size=size,
        color=color,
        mean=mean,
        std=std,
        files=entries,
        licence=licence,
        converter="faceid.zoo.arcface_paddle:unpack_inference_model",
        loader=loader,
        loads=loads,
        caution=(_UNVERIFIED if unverified else "") + caution + "; " + _TAR_UNKNOWN,
        extra={"archive": SourceFile(f"seed/{name}.tar", None, url), **extra},
    )


_MOBILEFACE_URL = "https://github.com/becauseofAI/MobileFace/tree/master/MobileFace_Identification"

_RECORDS: dict[str, ModelRecord] = {
    record.name: record
    for record in (
        _blazeface(
            "blazeface_short",
            architecture="BlazeFaceShort",
            size=128,
            file="face_detection_short_range.tflite",
            sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            caution="Short range: faces that fill a good part of the 128x128 frame (selfies, portraits); "
            "use tiling for group photos.",
            num_anchors=896,
            strides=(8, 16, 16, 16),
            anchors_per_layer=2,
            tiling=True,
        ),
        _blazeface(
            "blazeface_full",
            architecture="BlazeFaceFull",
            size=192,
            file="face_detection_full_range_sparse.tflite",
            sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
            caution="Full range: small and distant faces (MediaPipe: up to about 5 m) in one 192x192 pass, "
            "no tiling; 117 M multiply-adds a pass (short range: 31 M, but several tiles).",
            num_anchors=2304,
            strides=(4,),
            anchors_per_layer=1,
            tiling=False,
        ),
        ModelRecord(
            name="mobileface_v2",
            task="recognition",
            architecture="MobileFace Identification V2 (MobileNetV2-style, 256-d; MXNet symbol graph)",
            input_size=(112, 112),
            color="RGB",
            mean=(127.5, 127.5, 127.5),  # the graph's own preprocessing: (x - 127.5) * 0.0078125
            std=(128.0, 128.0, 128.0),
            files=(
                SourceFile(
                    "mobileface/MobileFace_Identification_V2-symbol.json",
                    "9d4f776ecb40772e3eb10338319e4a10a3cd68694dc6ef4e9042c8c4141e658f",
                    _MOBILEFACE_URL,
                ),
                SourceFile(
                    "mobileface/MobileFace_Identification_V2-0000.params",
                    "750057619a1eef8acb320339aebf0bbcf191497e1396a361c8aaba517bbe825e",
                    _MOBILEFACE_URL,
                ),
            ),
            licence="MIT",
            converter="faceid.zoo.mobileface:cached_export",
            loader="faceid.zoo.mobileface:cached_export",
            loads="export",
            caution=(
                "very likely trained on MS1M (MS-Celeb-1M), which is licensed for non-commercial research only: "
                "check before any commercial use"
            ),
            extra={
                # faceid bench compare: different people <= 0.352 (photo pairs), same person >= 0.473 (README)
                "rec_thresh": 0.4,
                "embedding_size": 256,
                "export_input": "RGB (pixel - 127.5) / 127.5; the export rebuilds the pixels for the graph",
            },
        ),
        ModelRecord(
            name="mtcnn_onet",
            task="landmarks",
            architecture="MTCNN ONet",
            input_size=(48, 48),
            color="RGB",
            mean=(127.5, 127.5, 127.5),
            std=(128.0, 128.0, 128.0),
            files=(
                SourceFile(
                    "mtcnn/onet.pt",
                    "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
                    "https://pypi.org/project/facenet-pytorch/2.6.0/#files",
                ),
            ),
            licence="MIT (facenet-pytorch 2.6.0; mtcnn/LICENSE.md)",
            converter="faceid.zoo.mtcnn:verify_source",
            loader="faceid.zoo.mtcnn:load_onet",
            loads="layer",
            caution="MTCNN weights from facenet-pytorch (originally trained by the MTCNN authors on WIDER FACE / "
            "CelebA); small, so converted on each load instead of cached",
        ),
        _arcface_paddle(
            "mobileface_v1.0_infer",
            "recognition",
            "Arcface-Paddle MobileFaceNet_128 (128-d; legacy Paddle program)",
            (112, 112),
            files=_MOBILEFACE_V1_FILES,
            licence="MIT (insightface / Arcface-Paddle code)",
            caution=_MS1M,
            embedding_size=128,
            # faceid bench compare: different people <= 0.247 (small_lfw), same person >= 0.544: 0.4 is midway
            rec_thresh=0.4,
            # Arcface-Paddle's published row (README "MobileFace-Paddle", wheel/v1 README): lfw, cfp_fp, agedb30
            published={"lfw": 0.9945, "cfp_fp": 0.9343, "agedb_30": 0.9613, "cpu_ms": 4.3, "gpu_ms": 2.3},
        ),
        _arcface_paddle(
            "arcface_iresnet50_v1.0_infer",
            "recognition",
            "Arcface-Paddle iResNet50 (512-d; legacy Paddle program)",
            (112, 112),
            files=_IRESNET50_FILES,
            licence="MIT (insightface / Arcface-Paddle code)",
            caution=_MS1M,
            embedding_size=512,
            published={"lfw": 0.9973, "cfp_fp": 0.9743, "agedb_30": 0.9788},
        ),
        _arcface_paddle(
            "blazeface_fpn_ssh_1000e_v1.0_infer",
            "detection",
            "PaddleDetection BlazeFace-FPN-SSH",
            (640, 640),
            files=_FPN_SSH_FILES,
            licence="Apache-2.0 (PaddleDetection)",
            caution="trained on WIDER FACE (research use); gives boxes only (no landmarks)",
            # how the insightface-paddle wheel feeds it (reference doc 5.5), not PaddleDetection's infer_cfg.yml
            mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
            std=(0.229 * 255, 0.224 * 255, 0.225 * 255),
            loads="predictor",
            loader="faceid.zoo.arcface_paddle:load_predictor",
            det_thresh=0.8,
            nms_iou=0.3,
            resize="640x640, aspect ratio not kept, bilinear",
            published={"wider_easy": 0.9187, "wider_medium": 0.8979, "wider_hard": 0.8168, "cpu_ms": 31.7},
        ),
    )
}


# Short names a user types (``--det_model blazeface_fpn_ssh``) for records named after their published files.
ALIASES = {"blazeface_fpn_ssh": "blazeface_fpn_ssh_1000e_v1.0_infer"}


def get_record(name: str) -> ModelRecord:
    """The record of pretrained model ``name`` (or one of its :data:`ALIASES`); ``ValueError`` naming the known
    models otherwise."""
    name = ALIASES.get(name, name)
    if name not in _RECORDS:
        raise InputError(f"unknown pretrained model {name!r}; known: {', '.join(sorted(_RECORDS))}")
    return _RECORDS[name]


def list_records() -> list[ModelRecord]:
    """Every record, by name."""
    return [_RECORDS[name] for name in sorted(_RECORDS)]


def export_names() -> list[str]:
    """The pretrained models whose loader gives a faceid export folder (what ``faceid.Recognizer(name)`` takes)."""
    return sorted(name for name, record in _RECORDS.items() if record.loads == "export")


def resolve(target: str) -> Callable[..., Any]:
    """The function a record's ``converter`` / ``loader`` names (``"package.module:function"``)."""
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def convert(name: str, source: str | os.PathLike[str] | None = None) -> Path:
    """Verify the source files of ``name`` and convert them into the cache (once); returns the cached path."""
    record = get_record(name)
    return Path(resolve(record.converter)(record.name, source))


def load(name: str, source: str | os.PathLike[str] | None = None) -> Any:
    """The ready model ``name`` (see its record's ``loader``), converted from ``source`` on first use."""
    record = get_record(name)
    return resolve(record.loader)(record.name, source)


def export_dir(name: str, source: str | os.PathLike[str] | None = None) -> Path:
    """The faceid export folder of the pretrained recognition model ``name`` (what ``faceid.Recognizer(name)``
    opens), converted into the cache on first use. ``ValueError`` for a name that has no such export."""
    exports = export_names()
    if name not in exports:
        raise ValueError(f"no pretrained export named {name!r}; available: {', '.join(exports)}")
    return Path(load(name, source))


def cache_dir() -> Path:
    """Where converted models are kept: ``$FACEID_HOME/models`` (default ``~/.faceid/models``)."""
    return Path(os.environ.get("FACEID_HOME", Path.home() / ".faceid")) / "models"


def source_root(source: str | os.PathLike[str] | None, what: str, where: str) -> Path:
    """The offline model folder: ``source``, else ``$FACEID_MODEL_SOURCE``; a FileNotFoundError naming ``what``
    is missing and ``where`` to get it when neither is set."""
    root = source or os.environ.get("FACEID_MODEL_SOURCE")
    if not root:
        raise FileNotFoundError(f"{what}: no model source; set FACEID_MODEL_SOURCE (or pass --model-source) to {where}")
    return Path(root)


def source_file(entry: SourceFile, source: str | os.PathLike[str] | None = None) -> Path:
    """The verified local path of ``entry`` in the offline source folder.

    ``source`` defaults to ``$FACEID_MODEL_SOURCE``. Missing folder/file or a hash mismatch raises with the
    path and what to do.
    """
    where = f"a folder laid out like ../shared/models, or download it from {entry.url or 'its project page'}"
    root = source_root(source, entry.path, where)
    path = root / entry.path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (expected {entry.path} under the model source {root})")
    if entry.sha256 is not None and (actual := sha256_file(path)) != entry.sha256:
        raise InputError(f"SHA-256 {actual} does not match the registry's {entry.sha256}", path)
    return path
