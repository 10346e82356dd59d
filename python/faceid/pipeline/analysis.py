"""``FaceAnalysis``: detect -> align -> embed (one batch per image) -> name, the insightface-style API.

>>> app = FaceAnalysis(det="blazeface_short", rec="mobileface_v1.0_infer", index="gallery.npz")
>>> faces = app.get(image_bgr)          # [Face(bbox, kps, det_score, embedding, normed_embedding, identity, sim)]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceid.embeddings import l2_normalize
from faceid.gallery import DEFAULT_REC_THRESH, GalleryIndex
from faceid.pipeline.align import alignment_matrix
from faceid.zoo.defaults import DEFAULT_DET, DEFAULT_REC

__all__ = ["DEFAULT_DET", "DEFAULT_REC", "Face", "FaceAnalysis", "default_rec_thresh"]

logger = logging.getLogger(__name__)


@dataclass
class Face:
    """One detected face, in original-image pixels (continuous xyxy box, (K, 2) keypoints)."""

    bbox: np.ndarray
    kps: np.ndarray
    det_score: float
    embedding: np.ndarray | None = None
    normed_embedding: np.ndarray | None = None
    identity: str | None = None
    sim: float | None = None

    def to_json(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.bbox],
            "score": round(float(self.det_score), 4),
            "identity": self.identity,
            "similarity": None if self.sim is None else round(float(self.sim), 4),
        }


class FaceAnalysis:
    """Detection (``det``: ``blazeface_short``, ``blazeface_full`` or ``blazeface_fpn_ssh``, the reference wheel's
    detector), recognition (``rec``) and an optional gallery (``index``: a GalleryIndex, a gallery store, or a path
    or URL read by :func:`faceid.gallery.open_gallery`: npz, ``index.bin`` or store).

    ``det=None`` takes every input as one aligned 112x112 face; ``rec=None`` only detects;
    ``landmarks="mtcnn_onet"`` aligns on MTCNN ONet's 5 points instead of the detector's keypoints (always so
    for ``blazeface_fpn_ssh``, which gives boxes only); ``det_thresh``: the detector's score threshold (default
    its own: 0.75 for BlazeFace, the wheel's 0.8 for FPN-SSH);
    ``rec_thresh``: the cosine a gallery match needs (default: the recogniser's zoo record's, else
    ``DEFAULT_REC_THRESH``); ``threads``, ``device``, ``precision`` (default ``auto``: bf16 where the
    CPU has it and it agrees with fp32 at load; the BlazeFace detector follows ``auto``/``bf16`` too) and
    ``max_batch_size`` go to the :class:`Recognizer` (``rec_preprocess`` as its ``preprocess``: mean/std of a
    reference-style folder).
    """

    def __init__(
        self,
        det: str | None = DEFAULT_DET,
        rec: str | os.PathLike[str] | None = DEFAULT_REC,
        *,
        index: GalleryIndex | str | os.PathLike[str] | None = None,
        model_source: str | os.PathLike[str] | None = None,
        det_thresh: float | None = None,
        rec_thresh: float | None = None,
        cdd_num: int = 5,
        threads: int = 2,
        device: str = "cpu",
        precision: str = "auto",
        max_batch_size: int = 32,
        landmarks: str | None = None,
        rec_preprocess: dict | None = None,
    ) -> None:
        if det is None and rec is None:
            raise ValueError("nothing to do: give a detector (det), a recognizer (rec) or both")
        self.rec_name = None if rec is None else str(rec)
        self.detector = self.recognizer = None
        if det is not None:
            self.detector = _detector(det, model_source, det_thresh, threads, precision)
            if landmarks is None and not getattr(self.detector, "has_keypoints", True):
                landmarks = "mtcnn_onet"  # a box-only detector (BlazeFace-FPN-SSH): align on ONet's 5 points
        self.landmarker = None
        if landmarks is not None:
            if landmarks != "mtcnn_onet":
                raise ValueError(f"landmarks must be None or 'mtcnn_onet', got {landmarks!r}")
            from faceid.zoo import load

            self.landmarker = load(landmarks, model_source)
        if rec is not None:
            from faceid.pipeline.recognizer import Recognizer

            self.recognizer = Recognizer(
                rec,
                device=device,
                threads=threads,
                precision=precision,
                model_source=model_source,
                batch_size=max_batch_size,
                preprocess=rec_preprocess,
            )
            # a reference-style folder holding a registered model's weights (hash-matched) is that model
            self.rec_name = self.recognizer.meta.get("record") or self.rec_name
        self.rec_thresh = default_rec_thresh(self.rec_name) if rec_thresh is None else rec_thresh
        self.cdd_num = cdd_num
        self.index = index
        if isinstance(index, (str, Path)):
            from faceid.gallery import open_gallery

            fingerprint = None if self.recognizer is None else self.recognizer.fingerprint
            self.index = open_gallery(index, model=self.rec_name, fingerprint=fingerprint)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces of a uint8 HWC BGR image (without embeddings)."""
        if self.detector is None:
            height, width = image_bgr.shape[:2]
            return [Face(np.array([0, 0, width, height], np.float32), np.zeros((0, 2), np.float32), 1.0)]
        return [
            Face(np.asarray(d.box), np.asarray(d.keypoints), float(d.score)) for d in self.detector.detect(image_bgr)
        ]

    def get(self, image_bgr: np.ndarray) -> list[Face]:
        """Detect, align and embed every face of ``image_bgr`` (uint8 HWC BGR) in one batch; name them."""
        faces = self.detect(image_bgr)
        if self.recognizer is None or not faces:
            return faces
        if self.detector is None:
            chips = image_bgr[None] if image_bgr.shape[:2] == (112, 112) else _resize(image_bgr)[None]
            embeddings = self.recognizer.embed(chips, color="bgr")
        else:
            if self.landmarker is not None:
                self._refine_landmarks(image_bgr, faces)
            matrices = np.stack([alignment_matrix(face.kps) for face in faces])
            embeddings = self.recognizer.embed_warped(image_bgr, matrices, color="bgr")
        normed = l2_normalize(embeddings)
        matches = self.index.search(normed, cdd_num=self.cdd_num, rec_thresh=self.rec_thresh) if self.index else None
        for i, face in enumerate(faces):
            face.embedding, face.normed_embedding = embeddings[i], normed[i]
            if matches is not None:
                face.identity, face.sim = matches[i].identity, matches[i].similarity
        return faces

    def _refine_landmarks(self, image_bgr: np.ndarray, faces: list[Face]) -> None:
        """Replace each face's detector keypoints by ONet's 5 points, from a square box around the detection."""
        from faceid.zoo.mtcnn import onet_landmarks

        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        for face in faces:
            x1, y1, x2, y2 = (float(v) for v in face.bbox)
            side, cx, cy = max(x2 - x1, y2 - y1), (x1 + x2) / 2, (y1 + y2) / 2
            face.kps, _ = onet_landmarks(
                self.landmarker, rgb, np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
            )

    def build_index(self, entries: Iterable[tuple[str, Path]], *, strict: bool = False) -> GalleryIndex:
        """A gallery from ``(name, image path)`` pairs: the largest detected face of each photo (or the whole
        image when there is no detector); see :func:`faceid.pipeline.enrol.embed_photos`. Photos without a face
        are reported and skipped."""
        from faceid.pipeline.enrol import embed_photos, index_from_report

        report = embed_photos(self, entries, strict=strict)
        return index_from_report(
            report, self.rec_name, self.recognizer.embedding_size, fingerprint=self.recognizer.fingerprint
        )


def default_rec_thresh(rec_name: str | None) -> float:
    """The zoo record's ``rec_thresh`` of recogniser ``rec_name``, else :data:`DEFAULT_REC_THRESH`."""
    from faceid.zoo import list_records

    known = {record.name: record for record in list_records()}
    record = known.get(rec_name or "")
    return float(record.extra.get("rec_thresh", DEFAULT_REC_THRESH)) if record else DEFAULT_REC_THRESH


def _detector(name: str, model_source, score_threshold: float | None, threads: int, precision: str = "fp32"):
    """The detector ``name`` names in the zoo: BlazeFace-FPN-SSH (the wheel's) or MediaPipe BlazeFace (at
    ``precision`` where it is a CPU one: ``auto``/``bf16``; anything else runs it in fp32)."""
    from faceid.zoo import get_record

    options = {} if score_threshold is None else {"score_threshold": score_threshold}
    if get_record(name).name == "blazeface_fpn_ssh_1000e_v1.0_infer":
        from faceid.pipeline.fpn_ssh import FpnSshDetector

        return FpnSshDetector(name, model_source=model_source, threads=threads, **options)
    from faceid.pipeline.detector import FaceDetector

    precision = precision if precision in ("auto", "bf16") else "fp32"
    return FaceDetector(name, model_source=model_source, threads=threads, precision=precision, **options)


def _resize(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA)
