"""Drawing: stable colours, labels for ASCII and non-ASCII names, boxes at the image border."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from faceid.pipeline import draw
from faceid.pipeline.draw import draw_faces, identity_colour


@dataclass
class _Face:
    bbox: tuple
    det_score: float = 0.9
    identity: str | None = None
    sim: float | None = None


def test_colours_are_stable_and_distinct() -> None:
    assert identity_colour("obama") == identity_colour("obama")
    assert identity_colour("obama") != identity_colour("biden")


def test_labels_draw_inside_the_image_and_leave_the_input_untouched() -> None:
    image = np.full((200, 300, 3), 255, np.uint8)
    faces = [_Face((10, 40, 110, 150), identity="ann", sim=0.8123), _Face((250, 0, 320, 60))]
    out = draw_faces(image, faces)
    assert (image == 255).all() and out.shape == image.shape
    assert (out[40:150, 10] != 255).any() and (out[0:60, 299] != 255).any()  # box edges


def test_non_ascii_names_use_a_truetype_font_when_one_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.full((200, 300, 3), 255, np.uint8)
    face = [_Face((20, 60, 220, 190), identity="José 王", sim=0.7)]
    monkeypatch.setattr(draw, "_font_path", lambda: None)
    fallback = draw_faces(image, face)  # '?' through OpenCV's font: must not crash
    monkeypatch.undo()
    if draw._font_path() is None:
        pytest.skip("no TrueType font installed")
    assert not np.array_equal(draw_faces(image, face), fallback)
