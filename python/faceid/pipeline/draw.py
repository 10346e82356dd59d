"""Annotated images: a box per face and a label strip ``<name> <score>``, one stable colour per identity."""

from __future__ import annotations

import colorsys
import functools
import hashlib
import os
from collections.abc import Sequence

import numpy as np

__all__ = ["draw_faces", "identity_colour"]


def identity_colour(name: str) -> tuple[int, int, int]:
    """A stable, saturated BGR colour for ``name`` (the same in every image and run)."""
    hue = int.from_bytes(hashlib.sha1(name.encode()).digest()[:2], "big") / 65535
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def _ascii(text: str) -> str:
    # OpenCV's Hershey fonts draw ASCII only; other characters become '?' rather than garbage.
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


# TrueType fonts for non-ASCII names, CJK-capable ones first; $FACEID_FONT overrides.
_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


@functools.cache
def _font_path() -> str | None:
    chosen = os.environ.get("FACEID_FONT")
    if chosen and os.path.isfile(chosen):
        return chosen
    return next((path for path in _FONT_CANDIDATES if os.path.isfile(path)), None)


def _put_unicode(out: np.ndarray, text: str, origin: tuple[int, int], height: int) -> bool:
    """Draw ``text`` (black) with a TrueType font through Pillow; False when no font or Pillow is available."""
    path = _font_path()
    if path is None:
        return False
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        return False
    font = ImageFont.truetype(path, max(height, 8))
    x, y = origin
    _, _, right, bottom = font.getbbox(text)
    x2, y2 = min(out.shape[1], x + right + 4), min(out.shape[0], y + bottom + 4)
    if x2 > x and y2 > y:
        region = Image.fromarray(np.ascontiguousarray(out[y:y2, x:x2, ::-1]))
        ImageDraw.Draw(region).text((2, 2), text, font=font, fill=(0, 0, 0))
        out[y:y2, x:x2] = np.asarray(region)[:, :, ::-1]
    return True


def draw_faces(image_bgr: np.ndarray, faces: Sequence, *, unknown_colour: tuple[int, int, int] = (160, 160, 160)):
    """A copy of ``image_bgr`` (uint8 HWC BGR) with each face's box, name and score drawn.

    ``faces``: objects with ``bbox`` (x1, y1, x2, y2 pixels), ``det_score`` and optionally ``identity`` and
    ``sim`` (the label then shows the similarity; otherwise the detection score).
    """
    import cv2

    out = image_bgr.copy()
    for face in faces:
        x1, y1, x2, y2 = (int(round(float(v))) for v in face.bbox)  # noqa: RUF046
        identity = getattr(face, "identity", None)
        score = getattr(face, "sim", None)
        if score is None:
            score = face.det_score
        colour = unknown_colour if identity in (None, "unknown") else identity_colour(identity)
        thickness = max(1, round((x2 - x1) / 60))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        label = f"{identity or 'face'} {score:.4f}"
        text = _ascii(label)
        scale = float(np.clip((x2 - x1) / 180, 0.35, 1.2))
        (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y1 - height - base - 4, 0)
        cv2.rectangle(out, (x1, top), (x1 + width + 4, top + height + base + 4), colour, -1)
        if label.isascii() or not _put_unicode(out, label, (x1, top), height + base):
            cv2.putText(
                out, text, (x1 + 2, top + height + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA
            )
    return out
