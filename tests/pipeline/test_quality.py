"""Enrolment quality measures on real aligned crops from ``gallery_dev`` and on blurred/shrunk/turned versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceid.pipeline import quality
from faceid.pipeline.quality import MAX_YAW, MIN_FACE_PX, MIN_SHARPNESS, assess, pose_ratios, sharpness


def test_sharpness_is_the_laplacian_variance() -> None:
    cv2 = pytest.importorskip("cv2")
    image = np.random.default_rng(0).integers(0, 256, size=(40, 50), dtype=np.uint8)
    reference = cv2.Laplacian(image.astype(np.float64), cv2.CV_64F, ksize=1)[1:-1, 1:-1].var()
    assert sharpness(image) == pytest.approx(reference, rel=1e-12)
    assert sharpness(np.full((20, 20, 3), 77, np.uint8)) == 0.0


def test_pose_ratios_on_hand_made_points() -> None:
    # Eyes at (40, 50) and (72, 50), mouth at (56, 90): a level frontal face has the nose on the midline.
    frontal = np.array([[40, 50], [72, 50], [56, 70], [56, 90], [20, 55], [92, 55]], float)
    yaw, pitch = pose_ratios(frontal)
    assert yaw == pytest.approx(0.0) and pitch == pytest.approx(0.5)
    turned = frontal.copy()
    turned[2, 0] += 16  # nose half an eye distance sideways
    assert pose_ratios(turned)[0] == pytest.approx(0.5)
    # Rotating the whole face in the image (roll) changes neither ratio.
    angle = np.deg2rad(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = (turned - 56) @ rotation.T + 56
    np.testing.assert_allclose(pose_ratios(rolled), pose_ratios(turned), atol=1e-9)
    tilted = frontal.copy()
    tilted[2, 1] = 52  # nose almost on the eye line: looking far up
    assert pose_ratios(tilted)[1] < quality.PITCH_RANGE[0]


@pytest.fixture(scope="module")
def gallery_faces(shared_data: Path, shared_models: Path):
    """(image, Detection) of the largest face of every gallery_dev training photo."""
    cv2 = pytest.importorskip("cv2")
    from faceid.pipeline.detector import FaceDetector

    detector = FaceDetector(model_source=shared_models)
    found = []
    for path in sorted((shared_data / "gallery_dev/train").glob("*/*")):
        image = cv2.imread(str(path))
        faces = detector.detect(image)
        largest = max(faces, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        found.append((path.name, image, largest))
    return found


def test_real_gallery_faces_pass_and_degraded_ones_fail(gallery_faces) -> None:
    import cv2

    from faceid.pipeline.align import align

    assert len(gallery_faces) == 9
    for name, image, face in gallery_faces:
        crop = align(image, face.keypoints)
        good = assess(face.box, face.keypoints, crop)
        assert good.problem is None, (name, good)
        assert good.sharpness >= 4 * MIN_SHARPNESS and good.face_px >= 2 * MIN_FACE_PX and good.yaw < MAX_YAW
        assert 0.5 <= good.score <= 1.0
        blurred = assess(face.box, face.keypoints, cv2.GaussianBlur(crop, (0, 0), 2.0))
        assert blurred.problem is not None and "blurred" in blurred.problem, (name, blurred)
        # The same photo shrunk so that the face is 30 px wide: too small (its crop is an upscaled blur too).
        scale = 30.0 / (face.box[2] - face.box[0])
        small_box, small_points = face.box * scale, face.keypoints * scale
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        shrunk = assess(small_box, small_points, align(small, small_points))
        assert shrunk.problem is not None and "too small" in shrunk.problem


def test_half_profile_face_is_refused(shared_data: Path, shared_models: Path) -> None:
    """The third, half-profile face of obama_and_biden.jpg (yaw ratio ~0.66) fails the pose bar; the two frontal
    ones pass."""
    import cv2

    from faceid.pipeline.align import align
    from faceid.pipeline.detector import FaceDetector

    image = cv2.imread(str(shared_data / "gallery_dev/query/obama_and_biden.jpg"))
    faces = FaceDetector(model_source=shared_models).detect(image)
    problems = [assess(f.box, f.keypoints, align(image, f.keypoints)).problem for f in faces]
    assert len(problems) == 3 and problems.count(None) == 2
    assert "sideways" in next(p for p in problems if p is not None)
