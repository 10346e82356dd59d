"""Run a FaceAnalysis over an image, a folder of images or a video; write annotated copies and JSON."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from faceid.io.atomic import atomic_write_bytes
from faceid.pipeline.analysis import IMAGE_SUFFIXES, Face, FaceAnalysis
from faceid.pipeline.draw import draw_faces

__all__ = ["VIDEO_SUFFIXES", "predict_path"]

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv"}


def _inputs(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: input not found")
    return [source]


def _write_json(path: Path, payload: dict) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=1) + "\n").encode())


def _predict_image(app: FaceAnalysis, path: Path, output: Path) -> list[Face]:
    import cv2

    from faceid.data.images import load_bgr

    image = load_bgr(path)
    faces = app.get(image)
    suffix = path.suffix if path.suffix.lower() in (".jpg", ".jpeg", ".png") else ".png"
    ok, encoded = cv2.imencode(suffix, draw_faces(image, faces))
    if not ok:
        raise RuntimeError(f"{path}: could not encode the annotated image")
    atomic_write_bytes(output / f"{path.stem}{suffix}", encoded.tobytes())
    _write_json(output / f"{path.stem}.json", {"faces": [f.to_json() for f in faces]})
    return faces


def _frames(path: Path) -> Iterator[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: cannot open the video")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def _predict_video(app: FaceAnalysis, path: Path, output: Path, progress: bool) -> list[Face]:
    import cv2
    from tqdm import tqdm

    capture = cv2.VideoCapture(str(path))
    fps, total = capture.get(cv2.CAP_PROP_FPS) or 25.0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    writer, records, last = None, [], []
    target = output / f"{path.stem}.mp4"
    for number, frame in enumerate(tqdm(_frames(path), total=total or None, disable=not progress, unit="frame")):
        faces = app.get(frame)
        if writer is None:
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
        writer.write(draw_faces(frame, faces))
        records.append({"frame": number, "faces": [f.to_json() for f in faces]})
        last = faces
    if writer is not None:
        writer.release()
    _write_json(output / f"{path.stem}.json", {"frames": records})
    return last


def predict_path(
    app: FaceAnalysis, source: str | os.PathLike[str], output: str | os.PathLike[str], *, progress: bool = True
) -> dict[str, list[Face]]:
    """Annotate every image/video under ``source`` into ``output``; returns the faces per input file."""
    from tqdm import tqdm

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[Face]] = {}
    inputs = _inputs(Path(source))
    for path in tqdm(inputs, disable=not progress or len(inputs) < 2, unit="file"):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            results[path.name] = _predict_video(app, path, output, progress)
        else:
            results[path.name] = _predict_image(app, path, output)
    return results
