"""How :class:`~faceid.pipeline.detector.FaceDetector` runs its network through Paddle Inference.

The BlazeFace net is exported once per detector to a temporary legacy program with ONE output, the regressors
and the score logits side by side, ``(N, A, 17)``, so that the native (C++) loop, which reads one output, can run
it with the GIL released; the export rewrites the net and the program into what Paddle's oneDNN fuses
(:mod:`faceid.export.detector_program`): fp32 gets faster and bf16 (``enable_onednn_bfloat16``) runs at all.
bf16 is taken only where the CPU has bf16 instructions and, like the Recognizer's, only once its detections agree
with fp32 on a probe batch of drawn faces (:func:`probe_batch`); otherwise fp32, with one log line saying why.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import shutil
import tempfile
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import paddle

from faceid.export.detector_program import export_detector
from faceid.infer.cpu import cpu_has_bf16
from faceid.infer.paddle_predictor import PaddlePredictor, quiet_pass_logs
from faceid.ops.detect import blazeface_candidates, box_iou, weighted_nms

__all__ = ["BF16_IOU", "BF16_SCORE_TOLERANCE", "DetectorEngine", "detections_disagree", "probe_batch"]

logger = logging.getLogger(__name__)

# How close bf16 detections must stay to fp32 ones (probe at load, tests on real photos): the same faces, boxes
# overlapping by at least BF16_IOU, sigmoid scores within BF16_SCORE_TOLERANCE. Measured on the TFLite fixture
# photos, whole and tiled (Xeon, AMX): IoU >= 0.991, scores within 0.005.
BF16_IOU = 0.9
BF16_SCORE_TOLERANCE = 0.02
_PROBE_THRESHOLD = 0.5
_REGRESSORS = 16  # per anchor: box (4) + 6 keypoints (x, y); the score logit follows
_MIN_CHUNK = 3  # fewer rows per predictor run cost more in per-run overhead than a second core saves


def _drawn_face(size: int, cx: float, cy: float, scale: float, skin: tuple[int, int, int]) -> np.ndarray:
    """An RGB uint8 (size, size, 3) picture of a frontal face (hair, skin, eyes, brows, nose, mouth) on green."""
    import cv2

    image = np.full((size, size, 3), (60, 120, 90), np.uint8)

    def at(dx: float, dy: float) -> tuple[int, int]:
        return round(cx + dx * scale), round(cy + dy * scale)

    def span(w: float, h: float) -> tuple[int, int]:
        return max(1, round(w * scale)), max(1, round(h * scale))

    cv2.ellipse(image, at(0, -0.13), span(0.78, 1.0), 0, 0, 360, (70, 50, 40), -1)  # hair
    cv2.ellipse(image, at(0, 0), span(0.69, 0.88), 0, 0, 360, skin, -1)
    for side in (-0.29, 0.29):
        cv2.ellipse(image, at(side, -0.21), span(0.14, 0.075), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(image, at(side, -0.21), max(1, round(0.06 * scale)), (20, 30, 40), -1)
        cv2.line(image, at(side - 0.16, -0.41), at(side + 0.16, -0.41), (40, 30, 30), max(1, round(0.04 * scale)))
    cv2.line(image, at(0, -0.12), at(-0.08, 0.19), (170, 120, 100), max(1, round(0.025 * scale)))
    cv2.ellipse(image, at(0, 0.44), span(0.22, 0.075), 0, 0, 360, (200, 80, 90), -1)
    return cv2.GaussianBlur(image, (5, 5), 1.5)


def probe_batch(size: int) -> np.ndarray:
    """A fixed float32 (6, 3, size, size) RGB [-1, 1] batch: four drawn faces (sizes, places, skin tones) that
    BlazeFace detects, and two of noise."""
    faces = [
        _drawn_face(size, size * 0.5, size * 0.55, size * 0.32, (220, 170, 140)),
        _drawn_face(size, size * 0.35, size * 0.4, size * 0.22, (150, 100, 70)),
        _drawn_face(size, size * 0.62, size * 0.6, size * 0.4, (235, 195, 170)),
        _drawn_face(size, size * 0.5, size * 0.5, size * 0.18, (190, 140, 110)),
    ]
    noise = np.random.default_rng(0).integers(0, 256, size=(2, size, size, 3), dtype=np.uint8)
    batch = np.concatenate([np.stack(faces), noise]).astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def _faces(output: np.ndarray, anchors: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, scores) after weighted NMS of one input's (A, 17) output, scores >= the probe threshold."""
    regressors, logits = output[:, :_REGRESSORS], output[:, _REGRESSORS:]
    boxes, scores, keypoints = blazeface_candidates(regressors, logits, anchors, size, _PROBE_THRESHOLD)
    boxes, scores, _ = weighted_nms(boxes, scores, keypoints, 0.3)
    return boxes, scores


def detections_disagree(reference: np.ndarray, candidate: np.ndarray, anchors: np.ndarray, size: int) -> str:
    """Why the detections decoded from ``candidate`` (N, A, 17) are not those of ``reference`` ("" when they
    agree): every face scoring clearly above the probe threshold in one must be in the other with a box IoU of
    at least :data:`BF16_IOU` and a score within :data:`BF16_SCORE_TOLERANCE`; and ``reference`` must have such a
    face at all (an empty comparison proves nothing)."""
    compared = 0
    for i in range(len(reference)):
        mine, theirs = _faces(reference[i], anchors, size), _faces(candidate[i], anchors, size)
        for (boxes, scores), (other_boxes, other_scores) in ((mine, theirs), (theirs, mine)):
            for box, score in zip(boxes, scores, strict=True):
                if score < _PROBE_THRESHOLD + BF16_SCORE_TOLERANCE:
                    continue  # may fall on either side of the threshold
                ious = box_iou(box, other_boxes.reshape(-1, 4))
                best = int(ious.argmax()) if ious.size else -1
                if best < 0 or ious[best] < BF16_IOU:
                    return f"input {i}: a face of score {score:.3f} has no match (IoU >= {BF16_IOU})"
                if abs(other_scores[best] - score) > BF16_SCORE_TOLERANCE:
                    return f"input {i}: scores {score:.3f} and {other_scores[best]:.3f} differ"
                compared += 1
    return "" if compared else "no face in the reference to compare"


@functools.cache
def _chunk_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(2, min(os.cpu_count() or 1, 16)), thread_name_prefix="faceid-detect")


def _chunks(count: int, parts: int) -> list[slice]:
    """``count`` rows in at most ``parts`` contiguous, balanced slices of at least :data:`_MIN_CHUNK` rows."""
    parts = max(1, min(parts, count // _MIN_CHUNK))
    bounds = np.linspace(0, count, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


class DetectorEngine:
    """An exported detector net on Paddle Inference: :meth:`run` maps a float32 (N, 3, S, S) batch to its
    (N, A, 17) output (regressors, then the score logit).

    ``precision``: ``fp32``, ``bf16`` (kept only when the CPU has bf16 and the probe agrees with fp32; see
    :attr:`precision` for what runs) or ``auto`` (bf16 tried only on a CPU with bf16, quietly); ``threads``: CPU
    threads one call uses; ``native``: use the native loop (GIL released) when it is usable and passes its
    self-test, else the Python predictor (``threads`` math threads). The native loop splits a batch between
    ``threads`` single-threaded predictors that run at once (no oneDNN thread barriers per layer, and a busy core
    slows only its own part). The temporary export folder goes when the engine is collected.
    """

    def __init__(
        self, net: paddle.nn.Layer, *, size: int, anchors: np.ndarray, threads: int = 2, precision: str = "fp32",
        native: bool = True, name: str = "detector",
    ) -> None:  # fmt: skip
        if precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"precision must be fp32, bf16 or auto, got {precision!r}")
        self.size, self.threads = size, threads
        self.folder = Path(tempfile.mkdtemp(prefix=f"faceid-{name}-"))
        weakref.finalize(self, shutil.rmtree, str(self.folder), True)
        self.program, self.params = export_detector(net, self.folder / "inference", size)
        self.precision = "fp32"
        self._python = PaddlePredictor(self.program, self.params, threads=threads)
        if precision == "bf16" or (precision == "auto" and cpu_has_bf16()):
            self._try_bf16(anchors, quiet=precision == "auto")
        self._native = None
        self.engine = "python"
        if native:
            self._try_native()

    def _try_bf16(self, anchors: np.ndarray, *, quiet: bool = False) -> None:
        """Keep bf16 only if the probe's detections agree with fp32 (``quiet``: say why not at info level)."""
        warn = logger.info if quiet else logger.warning
        if not cpu_has_bf16():
            logger.warning("bf16 detection needs a CPU with AVX512-BF16 or AMX-BF16; using fp32")
            return
        probe = probe_batch(self.size)
        try:
            candidate = PaddlePredictor(self.program, self.params, threads=self.threads, precision="bf16")
            got = candidate.run(probe)
        except Exception as error:  # Paddle raises ValueError, RuntimeError, ... for a program it cannot run
            warn("bf16 detection failed on this CPU/Paddle (%s); using fp32", str(error).splitlines()[0])
            return
        why = detections_disagree(self._python.run(probe), got, anchors, self.size)
        if why:
            warn("bf16 detections disagree with fp32 (%s); using fp32", why)
            return
        self._python, self.precision = candidate, "bf16"
        logger.info("detector runs in bf16 (its probe detections agree with fp32)")

    def _try_native(self) -> None:
        try:
            from faceid.infer.native import load_native_predictor
        except ImportError as error:  # an installation without the native loop
            logger.info("detector uses the Python predictor: native loop not available (%s)", error)
            return
        with quiet_pass_logs():  # the native loop's predictors are made here, not in a later call
            self._native = load_native_predictor(
                self.program, self.params, threads=1, precision=self.precision, input_size=(self.size, self.size),
                max_predictors=self.threads,
            )  # fmt: skip
            if self._native is not None:
                self.engine = "native"
                self.run(probe_batch(self.size))

    def _run_native(self, batch: np.ndarray) -> np.ndarray:
        parts = _chunks(len(batch), self.threads)
        if len(parts) == 1:
            return self._native.run_raw(batch)
        return np.concatenate(list(_chunk_pool().map(lambda rows: self._native.run_raw(batch[rows]), parts)))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 3, S, S) RGB [-1, 1] -> float32 (N, A, 17)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._native is not None and len(batch):
            return self._run_native(batch).reshape(len(batch), -1, _REGRESSORS + 1)
        return self._python.run(batch)
