"""``/v1/detect``, ``/v1/embed``, ``/v1/verify``, ``/v1/identify``: questions about the faces of a photo."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from faceid.serve.config import ServeConfig
from faceid.serve.deps import ConfigDep, EngineDep, InputsDep, StoreDep, Upload, require_key
from faceid.serve.engine import DetectedFace, Engine
from faceid.serve.errors import ApiError
from faceid.serve.images import DecodedImage, decode_upload
from faceid.serve.routes.openapi import ERRORS, IDENTIFY, ONE_IMAGE, TWO_IMAGES
from faceid.serve.schemas import (
    Candidate,
    DetectedFaceOut,
    DetectResponse,
    EmbeddedFace,
    EmbedResponse,
    IdentifiedFace,
    IdentifyResponse,
    VerifyResponse,
)

router = APIRouter(prefix="/v1", tags=["faces"], dependencies=[Depends(require_key)], responses=ERRORS)


def _box(face: DetectedFace) -> list[float]:
    return [round(float(v), 2) for v in face.box]


def _faces(engine: Engine, config: ServeConfig, upload: Upload) -> tuple[DecodedImage, list[DetectedFace]]:
    image = decode_upload(upload.data, upload.filename, max_bytes=config.max_upload_bytes, max_pixels=config.max_pixels)
    faces = engine.detect(image.bgr)
    if len(faces) > config.max_faces:
        raise ApiError("too_many_faces", f"{upload.filename}: {len(faces)} faces, at most {config.max_faces}")
    return image, faces


@router.post("/detect", response_model=DetectResponse, openapi_extra=ONE_IMAGE)
def detect(
    inputs: InputsDep,
    engine: EngineDep,
    config: ConfigDep,
) -> DetectResponse:
    """Every face: box, detector score and keypoints."""
    _, faces = _faces(engine, config, inputs.one("image"))
    return DetectResponse(
        faces=[
            DetectedFaceOut(
                box=_box(f), score=round(f.score, 4), landmarks=[[round(float(v), 2) for v in p] for p in f.keypoints]
            )
            for f in faces
        ]
    )


@router.post("/embed", response_model=EmbedResponse, openapi_extra=ONE_IMAGE)
def embed(
    inputs: InputsDep,
    engine: EngineDep,
    config: ConfigDep,
) -> EmbedResponse:
    """Every face with its unit embedding."""
    image, faces = _faces(engine, config, inputs.one("image"))
    engine.embed(image.bgr, faces)
    return EmbedResponse(
        faces=[EmbeddedFace(box=_box(f), score=round(f.score, 4), embedding=f.embedding.tolist()) for f in faces],
        model=engine.rec_name,
    )


def _largest_embedding(engine: Engine, config: ServeConfig, upload: Upload):
    image, faces = _faces(engine, config, upload)
    if not faces:
        raise ApiError("no_face", f"{upload.filename}: no face found")
    largest = max(faces, key=lambda f: f.area)
    return engine.embed(image.bgr, [largest])[0].embedding


@router.post("/verify", response_model=VerifyResponse, openapi_extra=TWO_IMAGES)
def verify(
    inputs: InputsDep,
    engine: EngineDep,
    config: ConfigDep,
) -> VerifyResponse:
    """Are the largest faces of ``image1`` and ``image2`` the same person?"""
    first, second = inputs.one("image1"), inputs.one("image2")
    threshold = inputs.number("threshold", float, config.rec_thresh, -1.0, 1.0)
    similarity = float(_largest_embedding(engine, config, first) @ _largest_embedding(engine, config, second))
    return VerifyResponse(similarity=round(similarity, 4), same=similarity >= threshold, threshold=threshold)


@router.post("/identify", response_model=IdentifyResponse, openapi_extra=IDENTIFY)
def identify(
    inputs: InputsDep,
    engine: EngineDep,
    store: StoreDep,
    config: ConfigDep,
) -> IdentifyResponse:
    """Every face with the best-matching subject (``unknown`` below ``threshold``) and the top ``limit``
    candidates."""
    limit = int(inputs.number("limit", int, config.cdd_num, 1, 100))
    threshold = inputs.number("threshold", float, config.rec_thresh, -1.0, 1.0)
    image, faces = _faces(engine, config, inputs.one("image"))
    engine.embed(image.bgr, faces)
    if not faces:
        return IdentifyResponse(faces=[])
    import numpy as np

    matches = store.search(np.stack([f.embedding for f in faces]), limit=limit, threshold=threshold)
    out = []
    for face, match in zip(faces, matches, strict=False):
        best: dict[str, float] = {}
        for name, sim in match.candidates:
            best[name] = max(best.get(name, -2.0), sim)
        out.append(
            IdentifiedFace(
                box=_box(face),
                score=round(face.score, 4),
                identity=match.identity,
                similarity=round(float(match.similarity), 4),
                candidates=[Candidate(name=n, similarity=round(s, 4)) for n, s in best.items()],
            )
        )
    return IdentifyResponse(faces=out)
