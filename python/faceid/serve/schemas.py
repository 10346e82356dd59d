"""Pydantic models of every request and response: ``/openapi.json`` is the service's contract."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "DeletedFace",
    "DeletedSubject",
    "DetectResponse",
    "EmbedResponse",
    "EnrolResponse",
    "ErrorBody",
    "ErrorEnvelope",
    "HealthResponse",
    "IdentifyResponse",
    "ImageJson",
    "SubjectDetail",
    "SubjectList",
    "VerifyResponse",
]

Box = list[float]


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable: no_face, not_an_image, too_large, unknown_subject, ...")
    message: str


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class ImageJson(BaseModel):
    """JSON alternative to multipart uploads: base64 images under the field names of the multipart form."""

    image: str | None = Field(None, description="base64 image (detect, embed, identify, enrol)")
    images: list[str] | None = Field(None, description="base64 images (enrol)")
    image1: str | None = Field(None, description="base64 image (verify)")
    image2: str | None = Field(None, description="base64 image (verify)")
    limit: int | None = Field(None, ge=1, le=100, description="identify: candidates per face")
    threshold: float | None = Field(None, ge=-1, le=1, description="identify/verify: cosine threshold")


class DetectedFaceOut(BaseModel):
    box: Box = Field(description="x1, y1, x2, y2 in pixels")
    score: float
    landmarks: list[list[float]] = Field(description="(x, y) of right eye, left eye, nose tip, mouth, ears")


class DetectResponse(BaseModel):
    faces: list[DetectedFaceOut]


class EmbeddedFace(BaseModel):
    box: Box
    score: float
    embedding: list[float] = Field(description="unit-length embedding")


class EmbedResponse(BaseModel):
    faces: list[EmbeddedFace]
    model: str


class VerifyResponse(BaseModel):
    similarity: float = Field(description="cosine similarity of the largest face of each image")
    same: bool
    threshold: float


class Candidate(BaseModel):
    name: str
    similarity: float


class IdentifiedFace(BaseModel):
    box: Box
    score: float
    identity: str = Field(description='best subject, or "unknown" below the threshold')
    similarity: float
    candidates: list[Candidate]


class IdentifyResponse(BaseModel):
    faces: list[IdentifiedFace]


class AddedFace(BaseModel):
    face_id: int
    quality: float = Field(description="0..1, the smallest margin over the quality bars")


class RejectedImage(BaseModel):
    filename: str
    reason: str
    code: str = Field(description="no_face, several_faces, low_quality, already_enrolled, not_an_image, ...")


class EnrolResponse(BaseModel):
    added: list[AddedFace]
    rejected: list[RejectedImage]


class SubjectSummary(BaseModel):
    name: str
    faces: int
    created: float


class SubjectList(BaseModel):
    subjects: list[SubjectSummary]


class FaceInfo(BaseModel):
    face_id: int
    quality: float | None
    det_score: float | None
    image_sha256: str | None
    created: float


class SubjectDetail(BaseModel):
    name: str
    faces: list[FaceInfo]


class DeletedSubject(BaseModel):
    name: str
    removed_faces: int


class DeletedFace(BaseModel):
    face_id: int
    subject: str


class HealthResponse(BaseModel):
    status: str
    models: bool
    store: bool
