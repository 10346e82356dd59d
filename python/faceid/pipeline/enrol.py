"""Enrolment from photos: one face embedding per photo, the checks ``build-index`` and ``gallery add`` share.

- A folder without any ``<person>/<photo>`` is an error; so is a gallery whose persons yield no face at all
  (the error lists what was found).
- A photo with several faces: a warning naming the file and the count, and the largest face is taken
  (``strict=True``: the photo is skipped).
- ``aligned=True`` (no detector): every photo must be a 112x112 aligned crop, else the run is refused.
- A photo that cannot be read is reported (``path: problem``) and the others go on.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceid.errors import FaceidError, InputError

if TYPE_CHECKING:
    from faceid.eval.open_set import OpenSetReport

__all__ = [
    "IMAGE_SUFFIXES",
    "EnrolReport",
    "Enrolled",
    "check_found",
    "embed_photos",
    "evaluate_open_set",
    "gallery_entries",
    "index_from_report",
    "iter_gallery_images",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enrolled:
    """One enrolled photo: the unit embedding of its (largest) face, detector score, image SHA-256 and quality (the
    score in [0, 1] of :func:`faceid.pipeline.quality.assess`, as the service stores it; None without landmarks)."""

    name: str
    path: Path
    embedding: np.ndarray
    det_score: float
    digest: str
    quality: float | None


@dataclass
class EnrolReport:
    faces: list[Enrolled] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)  # (photo, problem): could not be read
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (photo, why): no face, several with strict

    def by_name(self) -> dict[str, list[Enrolled]]:
        groups: dict[str, list[Enrolled]] = {}
        for face in self.faces:
            groups.setdefault(face.name, []).append(face)
        return groups


def gallery_entries(
    img_dir: str | os.PathLike[str], label_file: str | os.PathLike[str] | None = None
) -> list[tuple[str, Path]]:
    """``(name, photo)`` pairs of ``<img_dir>/<person>/<photos>`` (or a ``path<TAB>name`` label file); an
    InputError when there are none."""
    root = Path(img_dir)
    if label_file is None and not root.is_dir():
        raise InputError("gallery folder not found", root)
    try:
        entries = list(iter_gallery_images(root, label_file))
    except ValueError as error:
        raise InputError(str(error), label_file) from None
    if not entries:
        raise InputError("no identity found: expected <person>/<photos> folders (or --label)", label_file or root)
    return entries


def _largest(faces: list[Any]) -> Any:
    return max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))


def embed_photos(app: Any, entries: Iterable[tuple[str, Path]], *, strict: bool = False) -> EnrolReport:
    """Embed one face per photo with a :class:`faceid.pipeline.FaceAnalysis` (``app.detector`` None: the photos
    are aligned 112x112 crops, checked). Problems with single photos are collected in ``failures``."""
    from faceid.data.images import decode_photo_bgr, read_image_bytes

    if app.recognizer is None:
        raise ValueError("enrolment needs a recognizer")
    report = EnrolReport()
    for name, path in entries:
        try:
            data = read_image_bytes(path)
            image = decode_photo_bgr(data, path)  # read once: the digest and the pixels come from the same bytes
        except (OSError, ValueError) as error:
            problem = _problem(error)
            logger.error("%s: %s", path, problem)
            report.failures.append((Path(path), problem))
            continue
        if app.detector is None and image.shape[:2] != (112, 112):
            height, width = image.shape[:2]
            raise InputError(f"--aligned expects 112x112 aligned face crops, got a {width}x{height} image", path)
        faces = app.get(image)
        if not faces:
            logger.warning("%s: no face found; skipped", path)
            report.skipped.append((Path(path), "no face found"))
            continue
        if len(faces) > 1:
            if strict:
                logger.warning("%s: %d faces; skipped (--strict)", path, len(faces))
                report.skipped.append((Path(path), f"{len(faces)} faces (--strict)"))
                continue
            logger.warning("%s: %d faces; the largest is enrolled", path, len(faces))
        face = _largest(faces)
        digest = hashlib.sha256(data).hexdigest()
        quality = _quality_score(image, face)
        report.faces.append(Enrolled(name, Path(path), face.normed_embedding, float(face.det_score), digest, quality))
    return report


def _quality_score(image_bgr: np.ndarray, face: Any) -> float | None:
    """The enrolment quality score in [0, 1] of :func:`faceid.pipeline.quality.assess` (the service's measure);
    None for an aligned crop given without landmarks."""
    from faceid.pipeline.align import align
    from faceid.pipeline.quality import assess

    points = np.asarray(face.kps)
    if len(points) < 4:
        return None
    return assess(face.bbox, points, align(image_bgr, points)).score


def _problem(error: Exception) -> str:
    """What is wrong with a photo, without its path (the report pairs it with the path)."""
    if isinstance(error, FaceidError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def check_found(report: EnrolReport, source: str | os.PathLike[str]) -> None:
    """An InputError listing what was found when no photo gave a face."""
    if not report.faces:
        problems = report.failures + report.skipped
        found = "; ".join(f"{Path(path.parent.name, path.name)}: {problem}" for path, problem in problems[:10])
        raise InputError(f"no face enrolled from any photo ({found or 'no photos'})", source)


def index_from_report(report: EnrolReport, model: str, dim: int, *, fingerprint: str | None = None) -> Any:
    """A :class:`faceid.gallery.GalleryIndex` of the report's faces (photo order kept within a person)."""
    from faceid.gallery.index import GalleryIndex

    index = GalleryIndex(model, dim, fingerprint=fingerprint)
    for name, faces in report.by_name().items():
        index.add(name, np.stack([f.embedding for f in faces]))
    return index


def evaluate_open_set(
    app: Any, gallery_dir: str | os.PathLike[str], probe_dir: str | os.PathLike[str]
) -> OpenSetReport:
    """Enrol ``gallery_dir`` (``<person>/<photos>``) with a :class:`faceid.pipeline.FaceAnalysis` and score every photo
    of ``probe_dir`` (``<person>/<photos>``, people absent from the gallery allowed; the largest face of each)."""
    from faceid.eval.open_set import OpenSetReport, subject_scores

    enrolled = embed_photos(app, gallery_entries(gallery_dir))
    check_found(enrolled, gallery_dir)
    entries = gallery_entries(probe_dir)
    probes = embed_photos(app, entries)
    found = {face.path: face.embedding for face in probes.faces}
    dim = enrolled.faces[0].embedding.shape[0]
    rows = np.stack([found.get(Path(path), np.full(dim, np.nan, np.float32)) for _, path in entries])
    gallery = np.stack([face.embedding for face in enrolled.faces])
    scores, subjects = subject_scores(rows, gallery, [face.name for face in enrolled.faces])
    undetected = [f"{Path(path).parent.name}/{Path(path).name}" for _, path in entries if Path(path) not in found]
    names = [f"{Path(path).parent.name}/{Path(path).name}" for _, path in entries]
    return OpenSetReport(subjects, names, scores, [name for name, _ in entries], undetected)


def iter_gallery_images(img_dir: str | os.PathLike[str], label_file: str | os.PathLike[str] | None = None):
    """``(name, path)`` pairs: from ``<img_dir>/<person>/<images>``, or a label file of ``path<TAB>name``
    lines (paths relative to ``img_dir``), the reference wheel's ``--img_dir/--label``."""
    root = Path(img_dir)
    if label_file is not None:
        for number, line in enumerate(Path(label_file).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                raise ValueError(f"{label_file}:{number}: expected 'path<TAB>name', got {line!r}")
            yield parts[1].strip(), root / parts[0].strip()
        return
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: gallery folder not found")
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(person.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                yield person.name, path
