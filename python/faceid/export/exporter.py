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
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import paddle

from faceid.errors import InputError
from faceid.export.onednn_bf16 import BF16_PREFIX, save_bf16_program
from faceid.export.program import save_program
from faceid.io.atomic import atomic_write_bytes, make_staging_dir, replace_dir
from faceid.io.hashing import sha256_file

__all__ = [
    "INPUT_MEAN",
    "INPUT_STD",
    "ExportResult",
    "export_model",
    "load_checkpoint_backbone",
    "read_export_meta",
    "verify_export_files",
]

logger = logging.getLogger(__name__)

INPUT_MEAN = (127.5, 127.5, 127.5)
INPUT_STD = (127.5, 127.5, 127.5)
META_FILE = "faceid.json"

# (real path, size, mtime_ns) -> SHA-256 of a file already hashed: a repeat load hashes nothing. A file
# modified within _RACY_NS of its hashing is not remembered (as git's "racily clean" rule): file system
# timestamps are coarse, so a change in that window could keep the same mtime.
_DIGESTS: dict[tuple[str, int, int], str] = {}
_RACY_NS = 2_000_000_000
_DIGESTS_LOCK = threading.Lock()


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


def _check_replaceable(output: Path) -> None:
    """An existing ``output`` may be replaced only when it is a faceid export or an empty folder."""
    if not output.exists():
        return
    if not output.is_dir():
        raise InputError("the export folder is a file; choose a folder", output)
    if (output / META_FILE).is_file() or not any(output.iterdir()):
        return
    raise InputError(
        f"the export folder holds files but is not a faceid export (no {META_FILE}); it is left as it is: "
        "choose a new or empty folder",
        output,
    )


def _write_files(model: paddle.nn.Layer, staging: Path, *, onnx: bool) -> dict[str, Path]:
    """Every file of an export (but ``faceid.json``) into ``staging``, by kind."""
    build = staging / ".build"
    _save_programs(model, build)
    moves = {
        "pdmodel": ("inference.pdmodel", build / "legacy" / "inference.pdmodel"),
        "json": ("inference.json", build / "pir" / "inference.json"),
        "pdiparams": ("inference.pdiparams", build / "pir" / "inference.pdiparams"),
    }
    if save_bf16_program(model, build / "bf16" / "inference"):
        moves["onednn_bf16_json"] = (f"{BF16_PREFIX}.json", build / "bf16" / "inference.json")
        moves["onednn_bf16_pdiparams"] = (f"{BF16_PREFIX}.pdiparams", build / "bf16" / "inference.pdiparams")
    files = {}
    for kind, (name, src) in moves.items():
        os.replace(src, staging / name)
        files[kind] = staging / name
    shutil.rmtree(build)
    if onnx:
        files["onnx"] = _export_onnx(staging)
    return files


def export_model(
    model: paddle.nn.Layer,
    output: str | os.PathLike[str],
    *,
    network: str,
    embedding_size: int,
    source: str = "",
    onnx: bool = False,
) -> ExportResult:
    """Write ``model`` (put in eval mode) as Paddle Inference files (+ ONNX) and ``faceid.json`` into ``output``.

    The export is written into a staging folder beside ``output`` and swapped into place whole, so ``output``
    holds exactly one export (no file of an older one) and a failed export leaves it as it was. An existing
    ``output`` that is neither a faceid export nor empty is refused (:class:`~faceid.errors.InputError`).
    """
    output = Path(output)
    _check_replaceable(output)
    model.eval()
    staging = make_staging_dir(output)
    try:
        files = _write_files(model, staging, onnx=onnx)
        meta = _meta(network, embedding_size, source, files)
        atomic_write_bytes(staging / META_FILE, (json.dumps(meta, indent=1) + "\n").encode())
        replace_dir(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = ExportResult({kind: output / path.name for kind, path in files.items()})
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
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"unreadable export description ({error})", path) from None
    if not isinstance(meta, dict):
        raise InputError("unreadable export description (not a JSON object)", path)
    return meta


def _digest(path: Path) -> str:
    """SHA-256 of ``path``, remembered by (path, size, mtime_ns) so an unchanged file is hashed once."""
    info = path.stat()
    key = (os.path.realpath(path), info.st_size, info.st_mtime_ns)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
    if known is None:
        started = time.time_ns()
        known = sha256_file(path)
        if started - info.st_mtime_ns > _RACY_NS:
            with _DIGESTS_LOCK:
                _DIGESTS[key] = known
    return known


def verify_export_files(directory: str | os.PathLike[str], *paths: str | os.PathLike[str]) -> None:
    """Check ``paths`` (files of the export ``directory``) against the SHA-256s its ``faceid.json`` records.

    A file that was changed or damaged after the export raises :class:`~faceid.errors.InputError` naming it.
    Verdicts are cached by (path, size, mtime_ns): verifying an unchanged export again reads no file. A file
    that ``faceid.json`` does not list (an export written before digests were recorded) is not checked, and neither
    is a reference-style folder without ``faceid.json`` (the zoo checks the registered ones against its records).
    """
    if not (Path(directory) / META_FILE).is_file():
        return
    recorded = {entry["name"]: entry["sha256"] for entry in read_export_meta(directory).get("files", {}).values()}
    for path in map(Path, paths):
        expected = recorded.get(path.name)
        if expected is None:
            logger.debug("%s: no SHA-256 in %s; not verified", path, META_FILE)
            continue
        if not path.is_file():
            raise InputError(f"export file missing (listed in {META_FILE})", path)
        if _digest(path) != expected:
            raise InputError(
                f"export file does not match the SHA-256 in {META_FILE} (changed or damaged since the export; "
                "export again)",
                path,
            )
