"""Alignment: the similarity transform against an independent least-squares solve, and the warp."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from faceid.pipeline.align import ARCFACE_TEMPLATE, align, similarity_transform, template_for


def _lstsq_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Independent reference: solve [a -b tx; b a ty] by linear least squares."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=False):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def test_transform_equals_least_squares_and_recovers_exact_similarities() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        src = rng.uniform(0, 400, size=(5, 2))
        dst = ARCFACE_TEMPLATE + rng.normal(0, 2, size=(5, 2))
        np.testing.assert_allclose(similarity_transform(src, dst), _lstsq_similarity(src, dst), atol=1e-8)
    angle, scale, shift = math.radians(25), 2.5, np.array([30.0, -12.0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    src = ARCFACE_TEMPLATE @ np.linalg.inv(rot).T + shift
    matrix = similarity_transform(src, ARCFACE_TEMPLATE)
    np.testing.assert_allclose(src @ matrix[:, :2].T + matrix[:, 2], ARCFACE_TEMPLATE, atol=1e-9)


def test_blazeface_points_use_eyes_nose_and_mouth_centre() -> None:
    six = np.arange(12, dtype=float).reshape(6, 2)
    src, dst = template_for(six)
    assert src.shape == dst.shape == (4, 2)
    np.testing.assert_allclose(dst[3], ARCFACE_TEMPLATE[3:].mean(axis=0))
    with pytest.raises(ValueError, match=r"expected \(5, 2\) landmarks or \(6, 2\) BlazeFace points"):
        template_for(np.zeros((4, 2)))


def test_align_maps_the_landmarks_onto_the_template() -> None:
    canvas = np.zeros((300, 400, 3), np.uint8)
    rot = 1.8 * np.array([[math.cos(0.3), -math.sin(0.3)], [math.sin(0.3), math.cos(0.3)]])
    points = ARCFACE_TEMPLATE @ rot.T + np.array([150.0, 40.0])
    for x, y in points:
        cv2.circle(canvas, (round(x), round(y)), 4, (255, 255, 255), -1)
    crop = align(canvas, points)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    for x, y in ARCFACE_TEMPLATE:  # each dot lands on its template point
        assert crop[round(y), round(x)].min() > 200
