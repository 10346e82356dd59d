"""Arcface-Paddle's published Paddle Inference models (Arcface-Paddle / insightface-paddle): fetch and load.

They are tarballs on Baidu's servers holding ``inference.pdmodel`` + ``inference.pdiparams`` (legacy format), which
Paddle Inference loads as they are; their records are in :mod:`faceid.zoo.registry`. The model source holds either
``seed/<name>.tar`` or the folder it extracts to, ``seed/<name>/``; a tarball is unpacked into the cache (regular
files only, no links, nothing outside the folder). Every extracted file is checked against the SHA-256 in the
record (the tarball's own digest is unknown: it could not be downloaded where faceid was built), in the source
folder, in the staging folder before it becomes the cache, and on each use of the cache.

:func:`reference_meta` describes a folder in the reference layout (no ``faceid.json``) the way ``faceid.json``
describes an export, so that :class:`faceid.Recognizer` opens both. :func:`export_with_faceid_graph` loads the
published MobileFaceNet weights into faceid's own ``MobileFaceNet_128`` (same outputs within 2e-6) and writes a
faceid export of them (PIR program, bf16 variant, ONNX), for what the 2021 legacy program cannot do here.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from faceid.io.hashing import sha256_file
from faceid.zoo.registry import ModelRecord, cache_dir, get_record, list_records, source_root

__all__ = ["export_with_faceid_graph", "faceid_graph_of", "load_predictor", "reference_meta", "unpack_inference_model"]

logger = logging.getLogger(__name__)

_REQUIRED = ("inference.pdmodel", "inference.pdiparams")


def _check_layout(folder: Path, origin: Path, record: ModelRecord | None = None) -> Path:
    """``folder`` if it holds the model's files (``record``: all of them, each with its SHA-256 where known)."""
    names = [Path(entry.path).name for entry in record.files] if record else list(_REQUIRED)
    missing = [name for name in dict.fromkeys([*_REQUIRED, *names]) if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{origin}: not a Paddle Inference model (missing {', '.join(missing)})")
    for entry in record.files if record else ():
        path = folder / Path(entry.path).name
        if entry.sha256 is not None and (actual := sha256_file(path)) != entry.sha256:
            raise ValueError(f"{path}: SHA-256 {actual} does not match the registry's {entry.sha256} ({record.name})")
    return folder


def _unpack(archive: Path, target: Path, record: ModelRecord) -> Path:
    """Extract the regular files of ``archive`` flat into ``target`` (written under a temporary name first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        try:
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    if member.isdir():
                        continue
                    if not member.isfile() or ".." in Path(member.name).parts or Path(member.name).is_absolute():
                        raise ValueError(f"{archive}: refusing member {member.name!r} (not a plain relative file)")
                    source = tar.extractfile(member)
                    with source, open(staging / Path(member.name).name, "wb") as out:
                        shutil.copyfileobj(source, out)
        except tarfile.TarError as error:
            raise ValueError(f"{archive}: not a readable tar archive ({error})") from error
        _check_layout(staging, archive, record)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def unpack_inference_model(name: str, source: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``inference.pdmodel`` + ``inference.pdiparams`` of Arcface-Paddle's model ``name``, each
    file checked against the record's SHA-256.

    An already extracted ``seed/<name>/`` in the model source (default ``$FACEID_MODEL_SOURCE``) is used where it
    is; ``seed/<name>.tar`` is unpacked into ``faceid.zoo.cache_dir() / name`` once.
    """
    record = get_record(name)
    archive_entry = record.extra["archive"]
    target = cache_dir() / name
    if (target / _REQUIRED[0]).is_file():
        return _check_layout(target, target, record)
    where = f"a folder holding {archive_entry.path} or the folder it extracts to, downloaded from {archive_entry.url}"
    root = source_root(source, name, where)
    archive = root / archive_entry.path
    folder = archive.with_suffix("")
    if folder.is_dir():
        return _check_layout(folder, folder, record)
    if not archive.is_file():
        raise FileNotFoundError(
            f"{archive}: not found (nor the extracted folder {folder}); download {archive_entry.url}"
        )
    logger.info("unpacking %s into %s (the tarball's own SHA-256 is unknown; its files are checked)", archive, target)
    return _unpack(archive, target, record)


def match_record(folder: str | os.PathLike[str]) -> ModelRecord | None:
    """The record whose ``inference.pdiparams`` has the SHA-256 of ``folder``'s, if any."""
    params = Path(folder) / "inference.pdiparams"
    if not params.is_file():
        return None
    digest = sha256_file(params)
    for record in list_records():
        if any(Path(e.path).name == "inference.pdiparams" and e.sha256 == digest for e in record.files):
            return record
    return None


def reference_meta(
    folder: str | os.PathLike[str],
    *,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> dict[str, Any]:
    """A ``faceid.json``-style description of a reference-layout folder (``inference.pdmodel`` +
    ``inference.pdiparams``, no ``faceid.json``): preprocessing from the record whose weights these are (matched
    by SHA-256), else Arcface-Paddle's (RGB, ``(x - 127.5) / 127.5``, 112x112); ``mean`` / ``std`` override it.
    ``embedding_size`` is ``None`` when no record says it (the caller reads it off the model's output)."""
    folder = Path(folder)
    _check_layout(folder, folder)
    record = match_record(folder)
    if record is not None and record.task != "recognition":
        raise ValueError(f"{folder}: holds {record.name}, a {record.task} model, not a recogniser")
    base = record or get_record("mobileface_v1.0_infer")
    return {
        "network": record.architecture if record else "unknown (reference-style folder)",
        "embedding_size": record.extra.get("embedding_size") if record else None,
        "input": {
            "name": "x",
            "shape": [None, 3, *base.input_size],
            "dtype": "float32",
            "color": base.color,
            "layout": "NCHW",
            "mean": list(mean or base.mean),
            "std": list(std or base.std),
        },
        "source": record.name if record else f"reference-style folder {folder}",
        "record": record.name if record else None,
    }


def load_predictor(name: str, source: str | os.PathLike[str] | None = None, **options):
    """A :class:`faceid.infer.PaddlePredictor` on Arcface-Paddle's model ``name`` (``options``: its keyword
    arguments, e.g. ``threads``)."""
    from faceid.infer import PaddlePredictor

    folder = unpack_inference_model(name, source)
    return PaddlePredictor(folder / "inference.pdmodel", folder / "inference.pdiparams", **options)


# Operator inputs that hold parameters, in the order faceid's layers list them (conv weight; BN scale, bias,
# mean, variance; PReLU slope).
_PARAM_SLOTS = {
    "conv2d": ("Filter",),
    "depthwise_conv2d": ("Filter",),
    "batch_norm": ("Scale", "Bias", "Mean", "Variance"),
    "prelu": ("Alpha",),
}


def _program_parameters(folder: Path) -> list[np.ndarray]:
    """The parameters of a legacy Paddle program, in the order its operators read them."""
    import paddle

    paddle.enable_static()
    try:
        with paddle.pir_utils.OldIrGuard(), paddle.static.scope_guard(paddle.static.Scope()):
            executor = paddle.static.Executor(paddle.CPUPlace())
            program, _, _ = paddle.static.load_inference_model(str(folder / "inference"), executor)
            scope = paddle.static.global_scope()
            return [
                np.array(scope.find_var(name).get_tensor())
                for op in program.global_block().ops
                for slot in _PARAM_SLOTS.get(op.type, ())
                for name in op.input(slot)
            ]
    finally:
        paddle.disable_static()


def export_with_faceid_graph(name: str, source: str | os.PathLike[str] | None = None, *, onnx: bool = True) -> Path:
    """A faceid export (``faceid.json``, legacy + PIR programs, the oneDNN bf16 variant, ONNX when paddle2onnx is
    installed) of Arcface-Paddle's published MobileFaceNet ``name``: its hash-checked weights loaded into faceid's
    ``MobileFaceNet_128``, whose layers read them in the published program's order. Cached under
    ``cache_dir() / f"{name}.faceid"``."""
    record = get_record(name)
    if not _has_faceid_graph(record):
        raise ValueError(f"{record.name}: only Arcface-Paddle's MobileFaceNet_128 has a faceid graph")
    target = cache_dir() / f"{record.name}.faceid"
    with_onnx = onnx and importlib.util.find_spec("paddle2onnx") is not None
    if (target / "faceid.json").is_file() and (target / "inference.onnx").is_file() >= with_onnx:
        return target
    return _write_faceid_graph(record, unpack_inference_model(record.name, source), target, onnx=with_onnx)


def faceid_graph_of(folder: str | os.PathLike[str]) -> Path | None:
    """:func:`export_with_faceid_graph` of a reference-style ``folder`` whose weights are a published MobileFaceNet
    (matched by SHA-256), read from that folder, without ONNX (what a Recognizer's bf16 needs); ``None`` for
    other weights."""
    record = match_record(folder)
    if record is None or not _has_faceid_graph(record):
        return None
    target = cache_dir() / f"{record.name}.faceid"
    if (target / "faceid.json").is_file():
        return target
    return _write_faceid_graph(record, _check_layout(Path(folder), Path(folder), record), target, onnx=False)


def _has_faceid_graph(record: ModelRecord) -> bool:
    return record.architecture.startswith("Arcface-Paddle MobileFaceNet_128")


def _write_faceid_graph(record: ModelRecord, folder: Path, target: Path, *, onnx: bool) -> Path:
    """Export ``folder``'s weights in faceid's MobileFaceNet_128 to ``target``: an existing cache (lacking what is
    asked for) is replaced whole; a new one is written beside it and renamed into place only if no other process
    got there first, so a process already running from the cache (its predictors read its files) never sees it
    swapped."""
    import functools

    import paddle

    from faceid.export import export_model
    from faceid.models import create_model

    size = record.extra["embedding_size"]
    model = create_model("MobileFaceNet_128", embedding_size=size)
    keys, values = list(model.state_dict()), _program_parameters(folder)
    shapes = [tuple(model.state_dict()[key].shape) for key in keys]
    if len(keys) != len(values) or any(shape != value.shape for shape, value in zip(shapes, values, strict=False)):
        raise ValueError(f"{folder}: its parameters do not fit faceid's MobileFaceNet_128")
    model.set_state_dict({key: paddle.to_tensor(value) for key, value in zip(keys, values, strict=False)})
    export = functools.partial(
        export_model, model, network="MobileFaceNet_128", embedding_size=size, source=str(folder), onnx=onnx
    )
    if (target / "faceid.json").is_file():
        export(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)) / "export"
    try:
        export(staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "faceid.json").is_file():
                raise
            logger.info("%s was written by another process meanwhile; using it", target)
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
    return target
