"""``/v1/subjects`` and ``/v1/faces``: the gallery (enrol, list, show, delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from faceid.serve.deps import ConfigDep, EngineDep, InputsDep, StoreDep, require_key
from faceid.serve.enrol import enrol
from faceid.serve.routes.openapi import ERRORS, MANY_IMAGES
from faceid.serve.schemas import (
    DeletedFace,
    DeletedSubject,
    EnrolResponse,
    FaceInfo,
    SubjectDetail,
    SubjectList,
    SubjectSummary,
)

router = APIRouter(prefix="/v1", tags=["gallery"], dependencies=[Depends(require_key)], responses=ERRORS)

NameParam = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f/\\]+$", description="subject name")
]
FaceIdParam = Annotated[int, Path(ge=1, le=2**62)]


@router.post("/subjects/{name}/faces", response_model=EnrolResponse, openapi_extra=MANY_IMAGES)
def add_faces(
    name: NameParam,
    inputs: InputsDep,
    engine: EngineDep,
    store: StoreDep,
    config: ConfigDep,
) -> EnrolResponse:
    """Enrol ``name`` from one or more photos (the largest face of each; poor photos are rejected with a reason)."""
    return enrol(engine, store, name, inputs.many(), (config.max_upload_bytes, config.max_pixels))


@router.get("/subjects", response_model=SubjectList)
def list_subjects(store: StoreDep) -> SubjectList:
    """Every subject with its number of faces."""
    return SubjectList(subjects=[SubjectSummary(name=n, faces=c, created=t) for n, c, t in store.subjects()])


@router.get("/subjects/{name}", response_model=SubjectDetail)
def get_subject(name: NameParam, store: StoreDep) -> SubjectDetail:
    """One subject's faces (ids, quality, detector score, image digest)."""
    faces = store.faces_of(name)
    return SubjectDetail(
        name=name,
        faces=[
            FaceInfo(
                face_id=f.face_id,
                quality=f.quality,
                det_score=f.det_score,
                image_sha256=f.image_sha256,
                created=f.created,
            )
            for f in faces
        ],
    )


@router.delete("/subjects/{name}", response_model=DeletedSubject)
def delete_subject(name: NameParam, store: StoreDep) -> DeletedSubject:
    """Remove a subject and all its faces."""
    return DeletedSubject(name=name, removed_faces=store.remove_subject(name))


@router.delete("/faces/{face_id}", response_model=DeletedFace)
def delete_face(face_id: FaceIdParam, store: StoreDep) -> DeletedFace:
    """Remove one face (its subject goes too when it was the last face)."""
    return DeletedFace(face_id=face_id, subject=store.remove_face(face_id))
