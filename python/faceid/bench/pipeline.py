"""Per-stage latency of detect -> align -> embed -> search on one group photo, faceid against a real peer, in one
run.

The photo: ``two_people.jpg`` tiled 3 x 1 and scaled to 1920x1080 (6 faces). faceid runs its default pipeline
(``FaceAnalysis`` with :data:`~faceid.zoo.defaults.DEFAULT_DET` and :data:`~faceid.zoo.defaults.DEFAULT_REC` at
its default precision): detection, the fused warp + normalise into the model's batch (its "align"), the
Recognizer on that batch, its GalleryIndex. The peer (:mod:`faceid.bench.peer`) is the pipeline a user would
assemble from the peers' own runtimes: LiteRT on MediaPipe's original ``.tflite`` over the same tiles,
``cv2.warpAffine``, the same recogniser's weights in ONNX Runtime, numpy search. Both run the same number of
threads, in turns of whole pipeline runs (:func:`faceid.bench.timing.interleaved_pipelines`: each side in its
own steady state, as on a stream of photos, load on the machine shared alike). Before timing, the peer must
find the same faces (each faceid box matched by
a peer box with IoU >= 0.9, same count) and its recogniser must give faceid's embeddings of the same aligned
faces (cosine >= 0.99): otherwise the run stops. End to end, each side embeds its own detection, whose keypoints
differ by a few pixels (the peer letterboxes each tile, faceid cuts its tiles from one resize per scale), so
that cosine is reported, not required.

The same run also reports detection alone (:func:`faceid.bench.pipeline_detail.detection_alone`) and
MobileFaceNet at batch 1 against the fp32 compute floor (:func:`faceid.bench.pipeline_detail.recognizer_floor`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from faceid.bench.timing import interleaved_pipelines
from faceid.errors import FaceidError

__all__ = [
    "PEER",
    "check_same_embeddings",
    "check_same_faces",
    "format_pipeline_table",
    "group_photo",
    "run_pipeline_benchmark",
]

logger = logging.getLogger(__name__)

PEER = "litert+onnxruntime"
STAGES = ("detect", "align", "embed", "search")
MIN_IOU, MIN_COSINE = 0.9, 0.99


def group_photo(shared_data: Path) -> np.ndarray:
    """A 1920x1080 uint8 BGR photo with 6 faces: ``two_people.jpg`` three times side by side, scaled to fit
    (aspect kept) and centred on a grey canvas."""
    import cv2

    from faceid.data.images import load_bgr

    strip = np.concatenate([load_bgr(shared_data / "faces" / "two_people.jpg")] * 3, axis=1)
    scale = min(1920 / strip.shape[1], 1080 / strip.shape[0])
    strip = cv2.resize(strip, (round(strip.shape[1] * scale), round(strip.shape[0] * scale)))
    canvas = np.full((1080, 1920, 3), 128, np.uint8)
    top, left = (1080 - strip.shape[0]) // 2, (1920 - strip.shape[1]) // 2
    canvas[top : top + strip.shape[0], left : left + strip.shape[1]] = strip
    return canvas


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy row of ``a`` (N, 4) with every row of ``b`` (M, 4)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 1, 4), np.asarray(b, np.float64).reshape(1, -1, 4)
    inter = np.prod((np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2])).clip(0), axis=-1)
    area_a, area_b = np.prod((a[..., 2:] - a[..., :2]).clip(0), -1), np.prod((b[..., 2:] - b[..., :2]).clip(0), -1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def check_same_faces(ours_boxes: np.ndarray, peer_boxes: np.ndarray) -> tuple[np.ndarray, float]:
    """The fairness check on detection: the same number of faces, each of faceid's boxes matched by its own
    peer box with IoU >= 0.9. Returns (for each of faceid's faces its peer face's index, the smallest IoU); a
    :class:`faceid.errors.FaceidError` saying what differs otherwise."""
    ours_boxes, peer_boxes = np.asarray(ours_boxes).reshape(-1, 4), np.asarray(peer_boxes).reshape(-1, 4)
    if len(ours_boxes) != len(peer_boxes):
        raise FaceidError(f"unfair comparison: faceid found {len(ours_boxes)} faces, the peer {len(peer_boxes)}")
    iou = _iou_matrix(ours_boxes, peer_boxes)
    match = iou.argmax(axis=1) if len(peer_boxes) else np.zeros(0, int)
    best = iou[np.arange(len(ours_boxes)), match]
    if len(set(match.tolist())) != len(match) or (best < MIN_IOU).any():
        worst = int(best.argmin())
        raise FaceidError(
            f"unfair comparison: faceid's face {worst} at {np.round(ours_boxes[worst], 1).tolist()} has no peer "
            f"box of its own with IoU >= {MIN_IOU} (best {best[worst]:.3f}; peer boxes matched: {match.tolist()})"
        )
    return match, float(best.min(initial=1.0))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def check_same_embeddings(ours: np.ndarray, theirs: np.ndarray) -> float:
    """The fairness check on recognition: faceid's and the peer's embeddings of the same aligned faces at cosine
    >= 0.99 each. Returns the smallest cosine; a :class:`faceid.errors.FaceidError` otherwise."""
    cosine = _cosines(ours, theirs)
    if (cosine < MIN_COSINE).any():
        raise FaceidError(
            f"unfair comparison: the two recognisers' embeddings of face {int(cosine.argmin())} differ (cosine "
            f"{cosine.min():.4f} < {MIN_COSINE})"
        )
    return float(cosine.min(initial=1.0))


def _peer_for(app, image: np.ndarray, model_source, threads: int, gallery: np.ndarray):
    """The peer pipeline on the same tiles, thresholds, recogniser weights and gallery as ``app``."""
    from faceid.bench.peer import PeerDetectorConfig, PeerPipeline
    from faceid.ops.detect import tile_grid
    from faceid.pipeline.align import ARCFACE_TEMPLATE
    from faceid.zoo import get_record, source_file
    from faceid.zoo.arcface_paddle import export_with_faceid_graph
    from faceid.zoo.defaults import DEFAULT_DET, DEFAULT_REC

    detector = app.detector
    height, width = image.shape[:2]
    tiles = tile_grid(height, width, detector.tile_scales) if detector.tiling else [(0, 0, width, height)]
    config = PeerDetectorConfig(
        tuple(tiles), detector.score_threshold, detector.tile_score_threshold, detector.iou_threshold, height, width
    )
    onnx = export_with_faceid_graph(DEFAULT_REC, model_source) / "inference.onnx"
    if not onnx.is_file():
        raise FaceidError(f"{DEFAULT_REC}'s export has no ONNX model (is paddle2onnx installed? pip install "
                          '"faceid[bench]")', onnx.parent)  # fmt: skip
    # BlazeFace's 4 usable points onto the ArcFace template: eyes, nose tip, the mouth corners' midpoint
    template = np.vstack([ARCFACE_TEMPLATE[:3], ARCFACE_TEMPLATE[3:5].mean(axis=0)])
    tflite = source_file(get_record(DEFAULT_DET).files[0], model_source)
    return PeerPipeline(tflite, onnx, config, threads=threads, mean=app.recognizer.mean, std=app.recognizer.std,
                        template=template, gallery=gallery)  # fmt: skip


def _checked_stages(app, peer, index, image: np.ndarray) -> tuple[dict, dict]:
    """Both pipelines once, the fairness check on their results, then each stage of each side as a call on
    those results: ``(sides, fairness)``, ``sides``: ``{side: {stage: call}}`` in pipeline order."""
    from faceid.pipeline.align import alignment_matrix

    detections = app.detector.detect(image)
    if not detections:
        raise FaceidError("faceid found no face on the benchmark photo: nothing to compare")
    kps = [d.keypoints for d in detections]
    batch = app.recognizer.warped_batch(image, np.stack([alignment_matrix(k) for k in kps]))
    embeddings = app.recognizer.run_batch(batch)
    peer_boxes, _, peer_kps = peer.detect(image)
    chips = peer.align(image, peer_kps)
    peer_embeddings = peer.embed(chips)
    match, min_iou = check_same_faces(np.stack([d.box for d in detections]), peer_boxes)
    fairness = {
        "faces": len(detections),
        "min_iou": min_iou,
        "min_cosine": check_same_embeddings(app.recognizer.embed(np.stack(chips), color="bgr"), peer_embeddings),
        # each side's embedding of its own detection: the detectors' keypoints differ by a few pixels
        "min_cosine_end_to_end": float(_cosines(embeddings, peer_embeddings[match]).min(initial=1.0)),
    }
    sides = {
        "faceid": {
            "detect": lambda: app.detector.detect(image),
            "align": lambda: app.recognizer.warped_batch(image, np.stack([alignment_matrix(k) for k in kps])),
            "embed": lambda: app.recognizer.run_batch(batch),
            "search": lambda: index.search(embeddings),
        },
        "peer": {
            "detect": lambda: peer.detect(image),
            "align": lambda: peer.align(image, peer_kps),
            "embed": lambda: peer.embed(chips),
            "search": lambda: peer.search(peer_embeddings),
        },
    }
    return sides, fairness


def run_pipeline_benchmark(
    shared_data: Path, model_source: str | os.PathLike[str], *, repeats: int = 5, threads: int = 2
) -> dict:
    """Median ms per stage for faceid and the peer, ``ratios`` (faceid / peer, per stage and total), the
    fairness check, detection alone and MobileFaceNet's batch-1 latency against its compute floor."""
    from faceid.bench.peer import require_peer_runtimes
    from faceid.bench.pipeline_detail import detection_alone, machine, recognizer_floor
    from faceid.gallery import GalleryIndex
    from faceid.pipeline import FaceAnalysis
    from faceid.zoo.defaults import DEFAULT_DET, DEFAULT_REC

    require_peer_runtimes()
    app = FaceAnalysis(DEFAULT_DET, DEFAULT_REC, model_source=model_source, threads=threads)
    image = group_photo(shared_data)
    index = GalleryIndex(DEFAULT_REC, app.recognizer.embedding_size)
    index.add("someone", np.random.default_rng(0).normal(size=(50, app.recognizer.embedding_size)))
    peer = _peer_for(app, image, model_source, threads, index.embeddings)

    sides, fairness = _checked_stages(app, peer, index, image)
    timed = interleaved_pipelines(sides, warmup=2, repeats=repeats)
    ours = {stage: timed[f"faceid {stage}"]["median_ms"] for stage in STAGES}
    theirs = {stage: timed[f"peer {stage}"]["median_ms"] for stage in STAGES}
    ratios = {stage: ours[stage] / theirs[stage] for stage in STAGES}
    ratios["total"] = sum(ours.values()) / sum(theirs.values())
    return {
        "faces": fairness["faces"],
        "image": "two_people.jpg x3 on a 1920x1080 canvas",
        "peer": PEER,
        "threads": threads,
        "recognizer": DEFAULT_REC,
        "precision": app.recognizer.precision,
        "detector_precision": app.detector.precision,
        "faceid_ms": ours,
        "peer_ms": theirs,
        "insightface_style_ms": theirs,  # the old name of peer_ms, kept for one release
        "ratios": ratios,
        "backend": app.recognizer.backend,
        "fairness": fairness,
        "detection_alone": detection_alone(app.detector, peer, image, model_source, repeats=max(repeats, 5)),
        "mobilefacenet": recognizer_floor(model_source, threads=threads, repeats=max(10 * repeats, 30)),
        "machine": machine(),
    }


def format_pipeline_table(result: dict) -> str:
    """The run as Markdown: the pipeline by stage, detection alone, MobileFaceNet against its floor."""
    from faceid.bench.pipeline_detail import format_detail

    fair = result["fairness"]
    lines = [
        f"{result['faces']} faces on {result['image']}, {result['threads']} threads; recogniser "
        f"{result['recognizer']} ({result['precision']}, {result['backend']}), detector in "
        f"{result['detector_precision']}; peer = LiteRT + ONNX Runtime "
        f"({result['peer']}); same faces: min IoU {fair['min_iou']:.3f}; same embeddings of the same chips: min "
        f"cosine {fair['min_cosine']:.4f} (end to end {fair['min_cosine_end_to_end']:.4f})",
        "",
        "| stage | faceid ms | peer (LiteRT + ONNX Runtime) ms | faceid / peer |",
        "|---|---:|---:|---:|",
    ]
    for stage in STAGES:
        ours, theirs = result["faceid_ms"][stage], result["peer_ms"][stage]
        lines.append(f"| {stage} | {ours:.2f} | {theirs:.2f} | {result['ratios'][stage]:.2f} |")
    lines.append(
        f"| total | {sum(result['faceid_ms'].values()):.2f} | {sum(result['peer_ms'].values()):.2f} | "
        f"{result['ratios']['total']:.2f} |"
    )
    return "\n".join(lines) + "\n\n" + format_detail(result)
