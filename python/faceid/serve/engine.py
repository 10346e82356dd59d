"""The models behind the service, loaded once: detection on a small thread pool (each thread its own predictor),
alignment + normalisation in the request's thread (native, no GIL), recognition through the dynamic batcher."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from faceid.embeddings import l2_normalize
from faceid.pipeline.align import align, alignment_matrix
from faceid.pipeline.quality import Quality, assess
from faceid.serve.batching import DynamicBatcher

__all__ = ["DetectedFace", "Engine"]

logger = logging.getLogger(__name__)


@dataclass
class DetectedFace:
    """One face in image pixels: ``box`` xyxy, ``score``, ``keypoints`` (K, 2); ``embedding`` unit (D,) once
    embedded."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    embedding: np.ndarray | None = None

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


class Engine:
    """Detector + recogniser + batcher. ``det``/``rec``: model names or export folders (as ``FaceAnalysis``)."""

    def __init__(
        self,
        det: str,
        rec: str,
        *,
        model_source: str | os.PathLike[str] | None = None,
        det_thresh: float = 0.75,
        threads: int = 2,
        detect_workers: int = 4,
        window_s: float = 0.003,
        max_batch: int = 32,
    ) -> None:
        from faceid.pipeline.detector import FaceDetector
        from faceid.pipeline.recognizer import Recognizer

        self.det_name, self.rec_name = det, str(rec)
        self.detector = FaceDetector(det, model_source=model_source, score_threshold=det_thresh, precision="auto")
        self.recognizer = Recognizer(
            rec, threads=threads, precision="auto", model_source=model_source, batch_size=max_batch
        )
        self.fingerprint = self.recognizer.fingerprint
        self.dim = self.recognizer.embedding_size
        self._detect_pool = ThreadPoolExecutor(max_workers=detect_workers, thread_name_prefix="faceid-detect")
        self.batcher = DynamicBatcher(self._run_bucketed, window_s=window_s, max_batch=max_batch)

    def _run_bucketed(self, batch: np.ndarray) -> np.ndarray:
        """The recogniser on ``batch`` zero-padded to the next power of two: a handful of input shapes, so the
        predictor's per-shape caches stop growing once each has been seen (server memory stays flat)."""
        size = len(batch)
        bucket = 1 << (size - 1).bit_length()
        if bucket != size:
            batch = np.concatenate([batch, np.zeros((bucket - size, *batch.shape[1:]), batch.dtype)])
        return self.recognizer.run_batch(batch)[:size]

    def close(self) -> None:
        self.batcher.close()
        self._detect_pool.shutdown(wait=False, cancel_futures=True)

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        """Faces of a uint8 HWC BGR image, best score first."""
        found = self._detect_pool.submit(self.detector.detect, image_bgr).result()
        return [DetectedFace(np.asarray(d.box), float(d.score), np.asarray(d.keypoints)) for d in found]

    def embed(self, image_bgr: np.ndarray, faces: list[DetectedFace]) -> list[DetectedFace]:
        """Fill each face's unit ``embedding`` (one shared recogniser call with other requests' faces)."""
        if not faces:
            return faces
        matrices = np.stack([alignment_matrix(face.keypoints) for face in faces])
        batch = self.recognizer.warped_batch(image_bgr, matrices, color="bgr")
        embeddings = l2_normalize(self.batcher.submit(batch).result())
        for face, row in zip(faces, embeddings, strict=False):
            face.embedding = row
        return faces

    def quality(self, image_bgr: np.ndarray, face: DetectedFace) -> Quality:
        return assess(face.box, face.keypoints, align(image_bgr, face.keypoints))
