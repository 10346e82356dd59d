"""Enrolment: one face per photo (the largest), photos that would make a poor gallery entry rejected with a
reason, the kept faces written in one store transaction."""

from __future__ import annotations

import logging

import numpy as np

from faceid.serve.deps import Upload
from faceid.serve.engine import DetectedFace, Engine
from faceid.serve.errors import ApiError
from faceid.serve.images import DecodedImage, decode_upload
from faceid.serve.schemas import AddedFace, EnrolResponse, RejectedImage
from faceid.serve.store import ServeStore

__all__ = ["COMPARABLE_AREA", "enrol", "pick_enrolment_face"]

logger = logging.getLogger(__name__)

# A second face at least this fraction of the largest one's box area makes the photo ambiguous (who is it?).
COMPARABLE_AREA = 0.5


class RejectedError(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def pick_enrolment_face(faces: list[DetectedFace]) -> DetectedFace:
    """The largest face; :class:`RejectedError` when there is none or another face is comparably large."""
    if not faces:
        raise RejectedError("no_face", "no face found")
    ordered = sorted(faces, key=lambda f: f.area, reverse=True)
    if len(ordered) > 1 and ordered[1].area >= COMPARABLE_AREA * ordered[0].area:
        raise RejectedError(
            "several_faces",
            f"{len(faces)} faces, {sum(f.area >= COMPARABLE_AREA * ordered[0].area for f in faces)} of comparable "
            "size: upload a photo where the person's face is clearly the largest",
        )
    return ordered[0]


def _prepare(engine: Engine, upload: Upload, limits: tuple[int, int]) -> tuple[DecodedImage, DetectedFace, float]:
    try:
        image = decode_upload(upload.data, upload.filename, max_bytes=limits[0], max_pixels=limits[1])
    except ApiError as error:
        raise RejectedError(error.code, error.message) from None
    face = pick_enrolment_face(engine.detect(image.bgr))
    quality = engine.quality(image.bgr, face)
    if quality.problem:
        raise RejectedError("low_quality", quality.problem)
    engine.embed(image.bgr, [face])
    return image, face, quality.score


def enrol(
    engine: Engine, store: ServeStore, name: str, uploads: list[Upload], limits: tuple[int, int]
) -> EnrolResponse:
    """Check each upload, then add the accepted faces of ``name`` in one transaction. Nothing accepted: the
    first rejection's code as an :class:`ApiError` (its message lists every file)."""
    if name.strip().lower() == "unknown" or name != name.strip():
        raise ApiError("validation_error", f"{name!r} cannot be a subject name")
    rejected: list[RejectedImage] = []
    kept: list[tuple[DecodedImage, DetectedFace, float]] = []
    for upload in uploads:
        try:
            item = _prepare(engine, upload, limits)
        except RejectedError as why:
            rejected.append(RejectedImage(filename=upload.filename, reason=why.reason, code=why.code))
            continue
        if any(other.sha256 == item[0].sha256 for other, _, _ in kept):
            reason = "the same image is already in this request"
            rejected.append(RejectedImage(filename=upload.filename, reason=reason, code="already_enrolled"))
        else:
            kept.append(item)
    added: list[AddedFace] = []
    if kept:
        result = store.add(
            name,
            np.stack([face.embedding for _, face, _ in kept]),
            digests=[image.sha256 for image, _, _ in kept],
            det_scores=[face.score for _, face, _ in kept],
            qualities=[score for _, _, score in kept],
        )
        duplicates = {digest: owner for digest, owner in result.duplicates}
        fresh = [item for item in kept if item[0].sha256 not in duplicates]
        added = [AddedFace(face_id=i, quality=item[2]) for i, item in zip(result.added, fresh, strict=False)]
        rejected += [
            RejectedImage(
                filename=image.filename,
                reason=f"already enrolled as {duplicates[image.sha256]!r}",
                code="already_enrolled",
            )
            for image, _, _ in kept
            if image.sha256 in duplicates
        ]
    if not added:
        first = rejected[0]
        raise ApiError(first.code, "; ".join(f"{r.filename}: {r.reason}" for r in rejected))
    logger.info("enrolled %d face(s) of %r, rejected %d", len(added), name, len(rejected))
    return EnrolResponse(added=added, rejected=rejected)
