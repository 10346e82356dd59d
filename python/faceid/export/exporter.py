"""Export a backbone for Paddle Inference (and ONNX), with a ``faceid.json`` describing how to feed it.

Files (Arcface-Paddle's layout plus Paddle 3's default): ``inference.pdmodel`` (legacy program, the faster CPU
predictor at batch >= 8), ``inference.json`` (PIR program), one ``inference.pdiparams`` shared by both (the
two exports write identical parameter files), optional ``inference.onnx`` (dynamic batch), for networks with
PReLU ``inference.onednn_bf16.json`` + ``.pdiparams`` (bf16 on oneDNN only; see :mod:`faceid.export.onednn_bf16`)
and ``faceid.json``. Input: ``x``, float32 (N, 3, 112, 112) RGB, ``(pixel - 127.5) / 127.5``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import paddle

from faceid.export.onednn_bf16 import BF16_PREFIX, save_bf16_program
from faceid.export.program import save_program
from faceid.io.atomic import atomic_write_bytes
from faceid.io.hashing import sha256_file

__all__ = [
    "INPUT_MEAN",
    "INPUT_STD",
    "ExportResult",
    "export_model",
    "load_checkpoint_backbone",
    "read_export_meta",
]

logger = logging.getLogger(__name__)

INPUT_MEAN = (127.5, 127.5, 127.5)
INPUT_STD = (127.5, 127.5, 127.5)
META_FILE = "faceid.json"


class ExportResult(dict):
    """Paths of the written files by kind (``pdmodel``, ``json``, ``pdiparams``, ``onednn_bf16_json``,
    ``onednn_bf16_pdiparams``, ``onnx``, ``meta``)."""


def load_checkpoint_backbone(network: str, checkpoint: str | os.PathLike[str], embedding_size: int | None = None):
    """A backbone in eval mode with the weights of a training checkpoint.

    ``checkpoint``: a checkpoint folder (holding ``backbone.npz``), or a training ``--output`` folder (its
    newest checkpoint under ``<output>/<network>/`` is used). The embedding size comes from the checkpoint's
    ``meta.json`` unless given.
    """
    from faceid.models import create_model
    from faceid.models.weights import latest_checkpoint, load_backbone, read_meta

    path = Path(checkpoint)
    if not (path / "backbone.npz").is_file():
        found = latest_checkpoint(path / network) or latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"{path}: no checkpoint (backbone.npz) here or under {path / network}")
        path = found
    meta = read_meta(path)
    if meta.get("network") not in (None, network):
        raise ValueError(f"{path}: checkpoint is a {meta['network']}, not a {network}")
    size = embedding_size or int(meta["embedding_size"])
    model = create_model(network, embedding_size=size)
    load_backbone(path, model)
    model.eval()
    logger.info("loaded %s (%d-d) from %s", network, size, path)
    return model, path, size


def _save_programs(model: paddle.nn.Layer, staging: Path) -> None:
    save_program(model, staging / "pir" / "inference", legacy=False)
    save_program(model, staging / "legacy" / "inference", legacy=True)
    if sha256_file(staging / "pir" / "inference.pdiparams") != sha256_file(staging / "legacy" / "inference.pdiparams"):
        raise RuntimeError("the PIR and legacy exports wrote different parameter files; cannot share one")


def _export_onnx(output: Path) -> Path:
    try:
        import paddle2onnx
    except ImportError as error:
        raise RuntimeError("--onnx needs paddle2onnx: pip install 'faceid[onnx]'") from error
    target = output / "inference.onnx"
    paddle2onnx.export(
        str(output / "inference.pdmodel"),
        str(output / "inference.pdiparams"),
        save_file=str(target),
        opset_version=13,
        enable_onnx_checker=True,
    )
    return target


def export_model(
    model: paddle.nn.Layer,
    output: str | os.PathLike[str],
    *,
    network: str,
    embedding_size: int,
    source: str = "",
    onnx: bool = False,
) -> ExportResult:
    """Write ``model`` (put in eval mode) as Paddle Inference files (+ ONNX) and ``faceid.json`` into ``output``."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model.eval()
    with tempfile.TemporaryDirectory(dir=output, prefix=".export-") as tmp:
        staging = Path(tmp)
        _save_programs(model, staging)
        moves = {
            "pdmodel": ("inference.pdmodel", staging / "legacy" / "inference.pdmodel"),
            "json": ("inference.json", staging / "pir" / "inference.json"),
            "pdiparams": ("inference.pdiparams", staging / "pir" / "inference.pdiparams"),
        }
        if save_bf16_program(model, staging / "bf16" / "inference"):
            moves["onednn_bf16_json"] = (f"{BF16_PREFIX}.json", staging / "bf16" / "inference.json")
            moves["onednn_bf16_pdiparams"] = (f"{BF16_PREFIX}.pdiparams", staging / "bf16" / "inference.pdiparams")
        result = ExportResult()
        for kind, (name, src) in moves.items():
            os.replace(src, output / name)
            result[kind] = output / name
    if onnx:
        result["onnx"] = _export_onnx(output)
    meta = _meta(network, embedding_size, source, result)
    atomic_write_bytes(output / META_FILE, (json.dumps(meta, indent=1) + "\n").encode())
    result["meta"] = output / META_FILE
    logger.info("exported %s to %s", network, output)
    return result


def _meta(network: str, embedding_size: int, source: str, files: dict[str, Path]) -> dict[str, Any]:
    import faceid

    return {
        "network": network,
        "embedding_size": embedding_size,
        "input": {
            "name": "x",
            "shape": [None, 3, 112, 112],
            "dtype": "float32",
            "color": "RGB",
            "layout": "NCHW",
            "mean": list(INPUT_MEAN),
            "std": list(INPUT_STD),
        },
        "source": source,
        "files": {kind: {"name": p.name, "sha256": sha256_file(p)} for kind, p in files.items()},
        "faceid_version": faceid.__version__,
        "paddle_version": paddle.__version__,
    }


def read_export_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """``faceid.json`` of an export folder (FileNotFoundError naming the folder when it is not one)."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not a faceid export (no {META_FILE}); run faceid export first")
    return json.loads(path.read_text())
