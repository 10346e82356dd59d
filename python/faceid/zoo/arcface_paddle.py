"""Arcface-Paddle's published Paddle Inference models (Arcface-Paddle / insightface-paddle): fetch and load.

They are tarballs on Baidu's servers holding ``inference.pdmodel`` + ``inference.pdiparams`` (legacy format), which
Paddle Inference loads as they are; their records are in :mod:`faceid.zoo.registry`. Their SHA-256 is unknown
here (the servers could not be reached where faceid was built), so a tarball or an extracted folder is checked
only for its layout. The model source holds either ``seed/<name>.tar`` or the folder it extracts to,
``seed/<name>/``; a tarball is unpacked into the cache (regular files only, no links, nothing outside the folder).
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from faceid.zoo.registry import cache_dir, get_record

__all__ = ["load_predictor", "unpack_inference_model"]

logger = logging.getLogger(__name__)

_REQUIRED = ("inference.pdmodel", "inference.pdiparams")


def _check_layout(folder: Path, origin: Path) -> Path:
    missing = [name for name in _REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{origin}: not a Paddle Inference model (missing {', '.join(missing)})")
    return folder


def _unpack(archive: Path, target: Path) -> Path:
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
        _check_layout(staging, archive)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def unpack_inference_model(name: str, source: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``inference.pdmodel`` + ``inference.pdiparams`` of Arcface-Paddle's model ``name``.

    An already extracted ``seed/<name>/`` in the model source (default ``$FACEID_MODEL_SOURCE``) is used where it
    is; ``seed/<name>.tar`` is unpacked into ``faceid.zoo.cache_dir() / name`` once.
    """
    record = get_record(name)
    target = cache_dir() / name
    if (target / _REQUIRED[0]).is_file():
        return target
    root = source or os.environ.get("FACEID_MODEL_SOURCE")
    if not root:
        raise FileNotFoundError(
            f"{name}: no model source; set FACEID_MODEL_SOURCE (or pass --model-source) to a folder holding "
            f"{record.files[0].path}, downloaded from {record.files[0].url}"
        )
    archive = Path(root) / record.files[0].path
    folder = archive.with_suffix("")
    if folder.is_dir():
        return _check_layout(folder, folder)
    if not archive.is_file():
        raise FileNotFoundError(
            f"{archive}: not found (nor the extracted folder {folder}); download {record.files[0].url}"
        )
    logger.info("unpacking %s into %s", archive, target)
    return _unpack(archive, target)


def load_predictor(name: str, source: str | os.PathLike[str] | None = None, **options):
    """A :class:`faceid.infer.PaddlePredictor` on Arcface-Paddle's model ``name`` (``options``: its keyword
    arguments, e.g. ``threads``)."""
    from faceid.infer import PaddlePredictor

    folder = unpack_inference_model(name, source)
    return PaddlePredictor(folder / "inference.pdmodel", folder / "inference.pdiparams", **options)
