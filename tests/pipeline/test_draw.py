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


ANN = (185, 242, 36)  # identity_colour("ann"): sha1("ann") -> hue 0.235, saturation 0.85, value 0.95, as BGR
GREY = (160, 160, 160)  # the default colour of an unknown face


def test_colours_are_stable_and_distinct() -> None:
    assert identity_colour("ann") == ANN  # the same in every run and release, so galleries keep their colours
    assert identity_colour("obama") == identity_colour("obama")
    assert identity_colour("obama") != identity_colour("biden")


def test_boxes_and_labels_are_drawn_where_expected_and_nothing_else_changes() -> None:
    """Hand-checked layout: face A (10, 40, 110, 150) named "ann" gets a 2-px box (thickness round(100 / 60)) and a
    label strip of "ann 0.8123" (OpenCV text 88x15 + baseline 1 at scale 100/180) from (10, 20) to (102, 40);
    face B (250, 0, 320, 60) without a name gets a grey 1-px box cut by the image border and its strip at the top.
    """
    image = np.full((200, 300, 3), 255, np.uint8)
    out = draw_faces(image, [_Face((10, 40, 110, 150), identity="ann", sim=0.8123), _Face((250, 0, 320, 60))])
    assert (image == 255).all() and out.shape == image.shape and out.dtype == np.uint8  # the input is untouched
    # Box A: the edges carry the identity's colour; inside stays white.
    for edge in (out[45:146, 10], out[45:146, 110], out[150, 15:106]):
        assert (edge == ANN).all()
    assert (out[45:146, 15:106] == 255).all()
    # Label A: the strip is the colour with dark text on it (no white left, some ink).
    strip = out[21:40, 11:102].reshape(-1, 3).astype(int)
    ink = ~(strip == ANN).all(axis=1)
    assert 0.03 < ink.mean() < 0.5, f"{ink.mean():.3f} of the strip is text"
    assert (strip[ink].sum(axis=1) < sum(ANN)).all(), "text pixels are darker than the strip"
    assert (out[21:38, 104] == 255).all() and (out[18, 10:103] == 255).all()  # the strip ends where expected
    # Box B: grey, clipped at the right border; its label strip starts at the top row.
    for edge in (out[20:56, 250], out[60, 255:300]):  # a 1-px anti-aliased line: within 10 levels of the colour
        assert np.abs(edge.astype(int) - GREY).max() <= 10
    assert (out[2, 252:300] != 255).any(axis=1).all()
    # Nothing outside the two boxes and their labels changed.
    touched = np.zeros(out.shape[:2], bool)
    touched[20:153, 8:113] = True
    touched[0:62, 248:300] = True
    assert (out[~touched] == 255).all()


def test_non_ascii_names_use_a_truetype_font_when_one_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.full((200, 300, 3), 255, np.uint8)
    face = [_Face((20, 60, 220, 190), identity="José 王", sim=0.7)]
    monkeypatch.setattr(draw, "_font_path", lambda: None)
    fallback = draw_faces(image, face)  # '?' through OpenCV's font: must not crash
    monkeypatch.undo()
    if draw._font_path() is None:
        pytest.skip("no TrueType font installed")
    assert not np.array_equal(draw_faces(image, face), fallback)
