"""Run a FaceAnalysis over an image, a folder of images or a video; write annotated copies and JSON.

Output names keep the whole input file name, so two inputs never share an output: ``x.jpg`` gives
``x.jpg.json`` and ``x.jpg.annotated.jpg``, ``x.png`` gives ``x.png.json`` and ``x.png.annotated.png`` (other
image types: ``.annotated.png``), a video ``clip.avi`` gives ``clip.avi.json`` (one record per frame) and
``clip.avi.annotated.mp4``. The output folder may not be the input folder or inside it.

A bad input (missing, unreadable, corrupt, not an image) is reported and the run goes on to the next one
(:func:`iter_predictions`); a video whose frames stop before its frame count ends there with a problem.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceid.errors import FaceidError, InputError, UsageError
from faceid.io.atomic import atomic_write_bytes
from faceid.pipeline.analysis import Face, FaceAnalysis
from faceid.pipeline.draw import draw_faces
from faceid.pipeline.enrol import IMAGE_SUFFIXES

__all__ = ["VIDEO_SUFFIXES", "Prediction", "check_output_folder", "iter_predictions", "output_names", "predict_path"]

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv"}
_KEPT_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class Prediction:
    """One input's result: its faces (a video: the last frame's), the files written, and ``problem`` when it failed."""

    path: Path
    faces: list[Face] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    problem: str | None = None


def output_names(path: Path) -> tuple[str, str]:
    """``(json name, annotated name)`` for input ``path`` (see the module docstring)."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return f"{path.name}.json", f"{path.name}.annotated.mp4"
    kept = path.suffix if path.suffix.lower() in _KEPT_IMAGE_SUFFIXES else ".png"
    return f"{path.name}.json", f"{path.name}.annotated{kept}"


def _inputs(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    if not source.exists():
        raise InputError("input not found", source)
    return [source]


def check_output_folder(source: str | os.PathLike[str], output: str | os.PathLike[str]) -> None:
    """Refuse an output folder that is the input folder or inside it (annotated copies would sit among, or replace,
    the photos), or an input file itself."""
    source_path, output_path = Path(source).resolve(), Path(output).resolve()
    if output_path == source_path or (source_path.is_dir() and source_path in output_path.parents):
        raise UsageError(f"--output {output} is inside --input {source}; choose a folder outside the input", output)
    if output_path.is_file():
        raise UsageError("--output must be a folder, not a file", output)


def _write_json(path: Path, payload: dict) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=1) + "\n").encode())


def _predict_image(app: FaceAnalysis, path: Path, output: Path) -> Prediction:
    import cv2

    from faceid.data.images import load_photo_bgr

    image = load_photo_bgr(path)
    faces = app.get(image)
    json_name, image_name = output_names(path)
    ok, encoded = cv2.imencode(Path(image_name).suffix, draw_faces(image, faces))
    if not ok:
        raise InputError("could not encode the annotated image", path)
    atomic_write_bytes(output / image_name, encoded.tobytes())
    _write_json(output / json_name, {"faces": [f.to_json() for f in faces]})
    return Prediction(path, faces, [output / image_name, output / json_name])


def _frames(capture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def _predict_video(app: FaceAnalysis, path: Path, output: Path, progress: bool) -> Prediction:
    import cv2
    from tqdm import tqdm

    json_name, video_name = output_names(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError("cannot open the video (corrupt, truncated or an unsupported codec)", path)
    fps, total = capture.get(cv2.CAP_PROP_FPS) or 25.0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    writer, records, last = None, [], []
    temporary = output / f".{video_name}.partial.mp4"
    try:
        for number, frame in enumerate(tqdm(_frames(capture), total=total or None, disable=not progress)):
            faces = app.get(frame)
            if writer is None:
                writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
            writer.write(draw_faces(frame, faces))
            records.append({"frame": number, "faces": [f.to_json() for f in faces]})
            last = faces
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    result = Prediction(path, last, [output / video_name, output / json_name])
    if writer is not None:
        os.replace(temporary, output / video_name)
    else:
        result.outputs.remove(output / video_name)
    _write_json(output / json_name, {"frames": records})
    if not records or (total > 0 and len(records) < total):
        result.problem = f"video ends at frame {len(records)} of {total or '?'} (corrupt or truncated); kept those"
    return result


def iter_predictions(
    app: FaceAnalysis,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    progress: bool = False,
    fail_fast: bool = False,
) -> Iterator[Prediction]:
    """Annotate every image/video under ``source`` into ``output``, one :class:`Prediction` per input as it is done.

    A :class:`~faceid.errors.FaceidError` or ``OSError`` from one input becomes that input's ``problem`` and the run
    goes on (``fail_fast=True``: it is raised instead). The output folder is checked before anything is written."""
    source, output = Path(source), Path(output)
    check_output_folder(source, output)
    inputs = _inputs(source)
    output.mkdir(parents=True, exist_ok=True)
    for path in inputs:
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                yield _predict_video(app, path, output, progress)
            else:
                yield _predict_image(app, path, output)
        except (FaceidError, OSError) as error:
            if fail_fast:
                raise
            logger.debug("%s failed", path, exc_info=True)
            yield Prediction(path, problem=_describe(error))


def _describe(error: BaseException) -> str:
    """The problem without the path the caller prints in front of it."""
    if isinstance(error, FaceidError):
        return error.message
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


def predict_path(
    app: FaceAnalysis, source: str | os.PathLike[str], output: str | os.PathLike[str], *, progress: bool = True
) -> dict[str, list[Face]]:
    """Annotate every image/video under ``source`` into ``output``; returns the faces per input file name.

    Stops at the first bad input (raises); :func:`iter_predictions` goes on past them."""
    return {p.path.name: p.faces for p in iter_predictions(app, source, output, progress=progress, fail_fast=True)}
