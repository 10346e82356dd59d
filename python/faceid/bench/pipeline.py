"""Per-stage latency of detect -> align -> embed -> search on one group photo, faceid vs the
insightface-style Python path, in one run.

The photo: ``two_people.jpg`` tiled 3 x 1 and scaled to 1920x1080 (6 faces). Detection is the same code on both
sides (there is no other BlazeFace runtime here). The insightface-style side then aligns face by face
(least-squares similarity + ``cv2.warpAffine``), builds the blob with ``cv2.dnn.blobFromImages``, runs the
bare Paddle predictor and searches with numpy; faceid warps and normalises all faces in one native pass
(``warp_faces``, its "align"), runs the Recognizer on that batch (native loop) and searches its GalleryIndex.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_pipeline_table", "group_photo", "run_pipeline_benchmark"]


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


def _insightface_align(image: np.ndarray, kps: np.ndarray) -> np.ndarray:
    import cv2

    from faceid.pipeline.align import template_for

    src, dst = template_for(kps)
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=False):  # the 4-parameter similarity by least squares, as skimage does
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    return cv2.warpAffine(image, np.array([[a, -b, tx], [b, a, ty]]), (112, 112), borderValue=0.0)


def _median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    result, times = None, []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1000, result


def run_pipeline_benchmark(shared_data: Path, model_source: str | os.PathLike[str], *, repeats: int = 5) -> dict:
    """Median ms per stage for both paths, and ``ratios`` (faceid / insightface-style)."""
    import cv2

    from faceid.gallery import GalleryIndex
    from faceid.infer import PaddlePredictor
    from faceid.ops.image import warp_faces
    from faceid.pipeline import FaceAnalysis
    from faceid.pipeline.align import alignment_matrix

    app = FaceAnalysis("blazeface_short", "mobileface_v2", model_source=model_source)
    image = group_photo(shared_data)
    app.recognizer.embed(np.zeros((6, 112, 112, 3), np.uint8))  # warm-up
    mean, std = app.recognizer.mean, app.recognizer.std
    bare = PaddlePredictor(app.recognizer.program, app.recognizer.params, threads=1)
    detect_ms, detections = _median_ms(lambda: app.detector.detect(image), repeats)
    kps = [d.keypoints for d in detections]
    index = GalleryIndex("mobileface_v2", app.recognizer.embedding_size)
    index.add("someone", np.random.default_rng(0).normal(size=(50, app.recognizer.embedding_size)))
    ours, theirs = {"detect": detect_ms}, {"detect": detect_ms}
    # faceid's align stage is the fused warp + normalise into the model's float batch (what FaceAnalysis does).
    ours["align"], batch = _median_ms(
        lambda: warp_faces(image, np.stack([alignment_matrix(k) for k in kps]), mean=mean, std=std), repeats
    )
    theirs["align"], their_chips = _median_ms(lambda: [_insightface_align(image, k) for k in kps], repeats)
    ours["embed"], embeddings = _median_ms(lambda: app.recognizer.run_batch(batch), repeats)

    def their_embed() -> np.ndarray:
        rgb = [cv2.cvtColor(c, cv2.COLOR_BGR2RGB) for c in their_chips]
        blob = cv2.dnn.blobFromImages(rgb, 1 / 127.5, (112, 112), (127.5, 127.5, 127.5))
        return bare.run(blob)

    theirs["embed"], their_embeddings = _median_ms(their_embed, repeats)
    ours["search"], _ = _median_ms(lambda: index.search(embeddings), repeats)

    def their_search() -> list[int]:
        unit = their_embeddings / np.linalg.norm(their_embeddings, axis=1, keepdims=True)
        gallery = index.embeddings
        return [int(np.argmax([g @ q for g in gallery])) for q in unit]  # the wheel compares face by face

    theirs["search"], _ = _median_ms(their_search, repeats)
    ratios = {stage: ours[stage] / theirs[stage] for stage in ours}
    ratios["total"] = sum(ours.values()) / sum(theirs.values())
    return {
        "faces": len(detections),
        "image": "two_people.jpg x3 on a 1920x1080 canvas",
        "faceid_ms": ours,
        "insightface_style_ms": theirs,
        "ratios": ratios,
        "backend": app.recognizer.backend,
    }


def format_pipeline_table(result: dict) -> str:
    lines = [
        f"{result['faces']} faces on {result['image']} (recognizer backend: {result['backend']})",
        "",
        "| stage | faceid ms | insightface-style ms | ratio |",
        "|---|---:|---:|---:|",
    ]
    for stage in ("detect", "align", "embed", "search"):
        ours, theirs = result["faceid_ms"][stage], result["insightface_style_ms"][stage]
        lines.append(f"| {stage} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} |")
    lines.append(
        f"| total | {sum(result['faceid_ms'].values()):.2f} | "
        f"{sum(result['insightface_style_ms'].values()):.2f} | {result['ratios']['total']:.2f} |"
    )
    return "\n".join(lines)
