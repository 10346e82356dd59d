"""Dataset converters: image files <-> kv ``.bin`` files, label files, and MXNet ``.rec`` -> image folder.

All conversions are lossless: encoded image bytes are copied, never decoded and re-encoded.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from faceid.data.images import sniff_format
from faceid.data.kvbin import read_kv_file, write_kv_file
from faceid.data.label_file import LabelEntry, read_label_file, write_label_file
from faceid.data.recordio import RecordIOReader, image_record_keys, iter_image_records
from faceid.errors import InputError
from faceid.io.atomic import atomic_write, atomic_write_bytes

__all__ = [
    "IMAGE_SUFFIXES",
    "VERIFICATION_SET_NAMES",
    "bin_to_image",
    "image_to_bin",
    "rec_to_images",
    "relocate_label_file",
    "rewrite_label_file",
    "sniff_image_format",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".bmp": "bmp"}
VERIFICATION_SET_NAMES = (
    "lfw.bin",
    "cfp_fp.bin",
    "agedb_30.bin",
    "cfp_ff.bin",
    "calfw.bin",
    "cplfw.bin",
    "vgg2_fp.bin",
)
_CANONICAL_SUFFIX = {"jpeg": ".jpg", "png": ".png", "bmp": ".bmp"}

_T = TypeVar("_T")


def sniff_image_format(data: bytes, *, source: str) -> str:
    """``"jpeg"``, ``"png"`` or ``"bmp"`` from magic bytes; else ``ValueError`` naming ``source``."""
    kind = sniff_format(data)
    if kind is not None:
        return kind
    raise ValueError(f"{source}: not a JPEG, PNG or BMP image (starts with {data[:8].hex() or 'nothing'})")


def _files_with_suffix(directory: Path, suffixes: Iterable[str]) -> list[Path]:
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory")
    wanted = set(suffixes)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in wanted)
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise ValueError(f"{stems[path.stem]} and {path} would convert to the same output name")
        stems[path.stem] = path
    return files


def image_to_bin(image_dir: str | os.PathLike[str], bin_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``<bin_dir>/<stem>.bin`` (keyed by the file name) for each image directly in ``image_dir``."""
    image_dir, bin_dir = Path(image_dir), Path(bin_dir)
    files = _files_with_suffix(image_dir, IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no image files (jpg/jpeg/png/bmp) found in {image_dir}")
    written = []
    for path in files:
        data = path.read_bytes()
        sniff_image_format(data, source=str(path))
        target = bin_dir / f"{path.stem}.bin"
        write_kv_file(target, path.name, data)
        written.append(target)
    logger.info("wrote %d kv .bin files to %s", len(written), bin_dir)
    return written


def bin_to_image(bin_dir: str | os.PathLike[str], image_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the original encoded bytes of each ``.bin`` in ``bin_dir`` to ``image_dir``.

    The name is the ``.bin`` stem plus the key's suffix when it matches the sniffed format (so ``x.jpeg``
    stays ``.jpeg``), else the format's canonical suffix (``.jpg``, ``.png``, ``.bmp``).
    """
    bin_dir, image_dir = Path(bin_dir), Path(image_dir)
    files = _files_with_suffix(bin_dir, [".bin"])
    if not files:
        raise FileNotFoundError(f"no .bin files found in {bin_dir}")
    written = []
    for path in files:
        key, data = read_kv_file(path)
        kind = sniff_image_format(data, source=str(path))
        key_suffix = os.path.splitext(key)[1]
        suffix = key_suffix if IMAGE_SUFFIXES.get(key_suffix.lower()) == kind else _CANONICAL_SUFFIX[kind]
        target = image_dir / f"{path.stem}{suffix}"
        atomic_write_bytes(target, data)
        written.append(target)
    logger.info("wrote %d images to %s", len(written), image_dir)
    return written


def _replace_suffix(path: str, suffix: str) -> str:
    """``images/a.jpg`` -> ``images/a<suffix>``; a name without a suffix (or a dot-file) gains one."""
    name_start = max(path.rfind("/"), path.rfind("\\")) + 1
    dot = path.rfind(".")
    stem_end = dot if dot > name_start else len(path)
    return path[:stem_end] + suffix


def rewrite_label_file(
    src_label: str | os.PathLike[str], dst_label: str | os.PathLike[str], suffix: str
) -> list[LabelEntry]:
    """Copy a label file replacing each image path's suffix (``.jpg`` -> ``.bin``); return the entries."""
    if not suffix.startswith(".") or len(suffix) < 2 or any(c in suffix for c in "/\\\t\n\r"):
        raise ValueError(f"suffix must look like '.bin', got {suffix!r}")
    entries = [LabelEntry(_replace_suffix(e.path, suffix), e.label) for e in read_label_file(src_label)]
    write_label_file(dst_label, entries)
    return entries


def relocate_label_file(
    src_label: str | os.PathLike[str],
    dst_label: str | os.PathLike[str],
    source_dir: str | os.PathLike[str],
    converted: Iterable[str | os.PathLike[str]],
) -> list[LabelEntry]:
    """Write ``dst_label`` listing, for each entry of ``src_label``, the file converted from it; return the entries.

    Paths in ``src_label`` are relative to its folder; ``converted`` are the files written from ``source_dir``
    (one per input stem, as :func:`image_to_bin` / :func:`bin_to_image` name them). The new paths are relative
    to ``dst_label``'s folder. ``src_label`` is only read, and may not be ``dst_label``. An entry whose image was
    not converted is an :class:`~faceid.errors.InputError` naming ``src_label`` (nothing is written then).
    """
    src_label, dst_label = Path(src_label), Path(dst_label)
    if dst_label.exists() and os.path.samefile(src_label, dst_label):
        raise InputError("the new label file would replace the input label file; choose another place", dst_label)
    by_stem = {Path(p).stem: Path(p).resolve() for p in converted}
    source_dir, dst_dir = Path(source_dir).resolve(), dst_label.parent.resolve()
    entries, unmatched = [], []
    for entry in read_label_file(src_label):
        image = (src_label.parent / entry.path).resolve()
        target = by_stem.get(image.stem) if image.parent == source_dir else None
        if target is None:
            unmatched.append(entry.path)
            continue
        entries.append(LabelEntry(Path(os.path.relpath(target, dst_dir)).as_posix(), entry.label))
    if unmatched:
        raise InputError(
            f"{len(unmatched)} entries list images that were not converted from {source_dir} (first: {unmatched[0]})",
            src_label,
        )
    write_label_file(dst_label, entries)
    return entries


# --- RecordIO -> image folder -------------------------------------------------------------------------


def rec_to_images(
    root_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    fmt: str = "jpg",
    progress: bool = True,
) -> dict[str, int]:
    """Convert ``root_dir/train.rec`` + ``train.idx`` to ``output_dir/images``, ``label.txt``, ``README.md``.

    ``fmt="jpg"`` writes the encoded bytes as ``images/%08d.jpg`` (the suffix follows the actual format, so a
    PNG record becomes ``.png``); ``fmt="bin"`` writes kv files ``images/%08d.bin`` keyed ``%08d.jpg``.
    Verification sets found in ``root_dir`` are copied. Returns ``{"num_image", "num_classes"}``.
    """
    if fmt not in ("jpg", "bin"):
        raise ValueError(f"fmt must be 'jpg' or 'bin', got {fmt!r}")
    root, out = Path(root_dir), Path(output_dir)
    rec_path, idx_path = root / "train.rec", root / "train.idx"
    for path in (rec_path, idx_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: rec_to_images needs train.rec and train.idx")
    classes: set[int] = set()
    count = 0
    with RecordIOReader(rec_path, idx_path) as reader, atomic_write(out / "label.txt", "wb") as labels:
        total = len(image_record_keys(reader))
        for key, label, image in _progress(iter_image_records(reader), total, progress):
            name = _write_record_image(out / "images", key, image, fmt, f"{rec_path}: record {key}")
            labels.write(f"images/{name}\t{label}\n".encode())
            classes.add(label)
            count += 1
    _copy_verification_sets(root, out)
    atomic_write_bytes(out / "README.md", f"num_image: {count}\nnum_classes: {len(classes)}\n".encode())
    logger.info("converted %d images of %d classes from %s to %s", count, len(classes), rec_path, out)
    return {"num_image": count, "num_classes": len(classes)}


def _progress(items: Iterator[_T], total: int, enabled: bool) -> Iterator[_T]:
    if not enabled:
        return items
    from tqdm import tqdm

    return iter(tqdm(items, total=total, unit="img"))


def _write_record_image(images_dir: Path, key: int, image: bytes, fmt: str, source: str) -> str:
    suffix = _CANONICAL_SUFFIX[sniff_image_format(image, source=source)]
    if fmt == "jpg":
        name = f"{key:08d}{suffix}"
        atomic_write_bytes(images_dir / name, image)
    else:
        name = f"{key:08d}.bin"
        write_kv_file(images_dir / name, f"{key:08d}{suffix}", image)
    return name


def _copy_verification_sets(root: Path, out: Path) -> list[Path]:
    copied = []
    for name in VERIFICATION_SET_NAMES:
        source = root / name
        if source.is_file() and not ((out / name).exists() and os.path.samefile(source, out / name)):
            with open(source, "rb") as src, atomic_write(out / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
            copied.append(out / name)
    if copied:
        logger.info("copied verification sets: %s", ", ".join(p.name for p in copied))
    return copied
