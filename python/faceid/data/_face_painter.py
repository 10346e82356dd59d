"""Drawing one synthetic face: identity parameters, pose, painter, occluders and camera effects.

Private to :mod:`faceid.data.synthetic_faces`, which documents what varies per identity and per sample.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

IMAGE_SIZE = 112
Colour = tuple[float, float, float]

_SHIFT = 4  # fractional bits of the fixed-point coordinates handed to cv2
_AA = cv2.LINE_AA
_YAW_PX, _PITCH_PX = 6.0, 3.0  # how far a feature of depth 1 slides at full yaw / pitch
_RAMP = (np.arange(IMAGE_SIZE, dtype=np.float32) - IMAGE_SIZE / 2) / (IMAGE_SIZE / 2)
_HAIR_STYLES = ("bald", "buzz", "short", "fringe", "side_part", "long", "curly", "receding")
_BEARDS = ("stubble", "moustache", "goatee", "full")


def _hex_colours(text: str) -> np.ndarray:
    """``"rrggbb rrggbb ..."`` -> (N, 3) float64 BGR."""
    return np.array([[int(c[i : i + 2], 16) for i in (4, 2, 0)] for c in text.split()], dtype=np.float64)


# Identities interpolate between neighbouring palette entries and add jitter.
_SKIN = _hex_colours("f5dccd e6bea0 cda078 af7d55 825537 5f3c28")
_HAIR = _hex_colours("161212 372319 643c23 8c3c1e d29650 918c8c dcd7d7 3c322d")
_IRIS = _hex_colours("502d19 281c14 376ea0 3c7846 6e7378 785f2d")


@dataclass(frozen=True, eq=False)
class IdentityParams:
    """Everything fixed about one synthetic person. Lengths are in 112x112-crop pixels, colours BGR 0..255."""

    index: int
    face: tuple[float, float, float, float]  # centre x, centre y, half width, half height
    jaw: tuple[float, float]  # superellipse exponent of the lower half (2 = round), chin taper
    skin: np.ndarray
    texture: np.ndarray  # (6, 6) relative skin brightness, stretched over the image
    spots: np.ndarray  # (M, 4) moles and freckles: x, y, radius, brightness factor
    eyes: tuple[float, float, float, float, float]  # half spacing, y, half width, half height, tilt (deg)
    iris: np.ndarray
    brow: tuple[float, float, float, float, float]  # gap above the eye, length, angle (deg), arch, thickness
    nose: tuple[float, float]  # length below the eye line, half width
    mouth: tuple[float, float, float, float, float]  # gap below the nose, half width, upper/lower lip, curve
    lip: np.ndarray
    ear: float  # half height
    hair_style: str
    hair: np.ndarray
    hairline: tuple[float, float]  # height above the eye line, volume around the skull
    strands: np.ndarray  # (K, 4) strands over the hair: x, y, slant, tone
    beard: tuple[str, float]  # style ("none", "stubble", "moustache", "goatee", "full"), density
    glasses: tuple[float, float, float] | None  # round (0) or square (1), frame thickness, gray level


class _Pose(NamedTuple):
    """One sample's geometric and expression nuisance."""

    yaw: float
    pitch: float
    roll: float
    scale: float
    shift: tuple[float, float]
    smile: float
    mouth_open: float
    eye_open: float
    brow_raise: float
    gaze: tuple[float, float]
    glasses_on: bool


def _palette(rng: np.random.Generator, palette: np.ndarray, jitter: float) -> np.ndarray:
    t = rng.uniform(0, len(palette) - 1)
    low, frac = int(t), t - int(t)
    colour = palette[low] * (1 - frac) + palette[min(low + 1, len(palette) - 1)] * frac
    return np.clip(colour + rng.normal(0, jitter, 3), 0, 255)


def _spots(rng: np.random.Generator, count: int, box: Sequence[float], size: float, factor: float) -> np.ndarray:
    """``count`` round marks around ``box`` = (x, y, x spread, y spread): x, y, radius, brightness factor."""
    xy = rng.normal(0, 1, (count, 2)) * box[2:] + box[:2]
    return np.column_stack([xy, rng.uniform(size, 2 * size, count), np.full(count, factor)])


def _draw_identity(index: int, rng: np.random.Generator) -> IdentityParams:
    u = rng.uniform
    cx, cy, eye_y = 56 + u(-1.5, 1.5), u(56, 62), u(48, 54)
    style = _HAIR_STYLES[int(rng.integers(len(_HAIR_STYLES)))]
    moles = _spots(rng, int(rng.choice([0, 1, 1, 2, 2, 3])), (cx, cy + 10, 18, 14), 1.0, 0.35)
    freckles = _spots(rng, int(rng.integers(20, 45)) if u() < 0.3 else 0, (cx, eye_y + 16, 16, 5), 0.5, 0.72)
    beard = _BEARDS[int(rng.integers(len(_BEARDS)))] if u() < 0.45 else "none"
    return IdentityParams(
        index=index,
        face=(cx, cy, u(36, 46), u(50, 60)),
        jaw=(u(2.0, 3.5), u(0.0, 0.35)),
        skin=_palette(rng, _SKIN, 8),
        texture=rng.normal(0, u(0.03, 0.10), (6, 6)).astype(np.float32),
        spots=np.concatenate([freckles, moles]),
        eyes=(u(15.5, 20.0), eye_y, u(5.5, 8.5), u(2.5, 4.2), u(-8, 10)),
        iris=_palette(rng, _IRIS, 12),
        brow=(u(6, 11), u(11, 18), u(-12, 18), u(-1, 3), u(1.5, 4.5)),
        nose=(u(13, 23), u(6, 11)),
        mouth=(u(7, 13), u(10, 16), u(1.5, 3.5), u(2, 5), u(-2.5, 2.5)),
        lip=np.clip(_palette(rng, _SKIN, 8) * (0.75, 0.7, 1.05) + rng.normal(0, 10, 3), 0, 255),
        ear=u(7, 11),
        hair_style=style,
        hair=_palette(rng, _HAIR, 10),
        hairline=(u(34, 42) if style == "receding" else u(22, 32), u(9, 14) if style == "curly" else u(2, 9)),
        strands=rng.uniform(-1, 1, (int(rng.integers(6, 14)), 4)),
        beard=(beard, u(0.5, 0.95)),
        glasses=(float(rng.integers(2)), u(1.0, 2.2), u(0, 200)) if u() < 0.18 else None,
    )


def _draw_pose(params: IdentityParams, rng: np.random.Generator) -> _Pose:
    u = rng.uniform
    blink = u() < 0.06
    return _Pose(
        yaw=u(-1, 1),
        pitch=u(-1, 1),
        roll=u(-10, 10),
        scale=1 + u(-0.08, 0.08),
        shift=(u(-4, 4), u(-4, 4)),
        smile=u(-1.5, 3.5),
        mouth_open=u(1, 6) if u() < 0.3 else 0.0,
        eye_open=0.15 if blink else u(0.6, 1.25),
        brow_raise=u(-1.5, 2.5),
        gaze=(u(-1.5, 1.5), u(-0.7, 0.7)),
        glasses_on=params.glasses is not None and u() < 0.8,
    )


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float (N, 2) pixel coordinates -> int32 fixed point for cv2 (``shift=_SHIFT``)."""
    return np.round(np.asarray(points, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)


def _colour(bgr: np.ndarray | Sequence[float], factor: float = 1.0) -> Colour:
    b, g, r = (min(255.0, max(0.0, float(c) * factor)) for c in bgr)
    return b, g, r


def _ellipse(cx: float, cy: float, ax: float, ay: float, angle: float = 0, *, arc: Sequence[float] = (0, 2 * math.pi),
             n: int = 40) -> np.ndarray:  # fmt: skip
    """(n, 2) points of an ellipse arc over the parameter range ``arc``, rotated by ``angle`` degrees."""
    cos_t, sin_t = _unit_arc(*arc, n)
    x, y = ax * cos_t, ay * sin_t
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return np.stack([cx + x * cos - y * sin, cy + x * sin + y * cos], axis=1)


@functools.lru_cache(maxsize=256)
def _unit_arc(t0: float, t1: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(t0, t1, n)
    return np.cos(t), np.sin(t)


def _box(x0: float, y0: float, x1: float, y1: float, slant: float = 0) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1 + slant, y1], [x0 - slant, y1]])


def _fill(canvas: np.ndarray, points: np.ndarray, colour: Colour | float) -> None:
    cv2.fillPoly(canvas, [_fixed(points)], colour, _AA, _SHIFT)


def _line(canvas: np.ndarray, points: np.ndarray, colour: Colour, width: float, closed: bool = False) -> None:
    cv2.polylines(canvas, [_fixed(points)], closed, colour, max(1, round(width)), _AA, _SHIFT)


class _Painter:
    """Draws one sample of one identity, upright and centred, before the pose warp and the camera."""

    def __init__(self, params: IdentityParams, pose: _Pose, rng: np.random.Generator) -> None:
        self.p, self.pose, self.rng = params, pose, rng
        self.canvas = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)

    def at(self, x: float | np.ndarray, y: float | np.ndarray, depth: float = 0.5) -> np.ndarray:
        """(N, 2) positions after yaw and pitch: nearer features (larger depth) slide further."""
        dx, dy = self.pose.yaw * _YAW_PX * depth, self.pose.pitch * _PITCH_PX * depth
        return np.column_stack([np.asarray(x) + dx, np.asarray(y) + dy]).reshape(-1, 2)

    def paint(self) -> np.ndarray:
        _paint_background(self.canvas, self.rng)
        for part in (self.hair_back, self.head, self.skin, self.beard, self.eyes, self.nose, self.mouth,
                     self.hair_front, self.spectacles):  # fmt: skip
            part()
        return self.canvas

    def eyes(self) -> None:
        for side in (-1, 1):
            self.eye(side)
            self.brow(side)

    def outline(self, grow: float = 0.0) -> np.ndarray:
        (cx, cy, ax, ay), (power, taper) = self.p.face, self.p.jaw
        c, s = _unit_arc(0, 2 * math.pi, 72)
        x = np.where(s > 0, np.sign(c) * np.abs(c) ** (2 / power), c) * (1 - taper * np.clip(s, 0, None) ** 2)
        return self.at(cx + x * (ax + grow), cy + s * (ay + grow), 0.15)

    def head(self) -> None:
        p = self.p
        cx, cy, ax, ay = p.face
        _fill(self.canvas, _ellipse(cx, cy + ay + 30, ax * 1.9, 34), _colour(self.rng.uniform(20, 235, 3)))
        _fill(self.canvas, _box(cx - ax * 0.55, cy, cx + ax * 0.55, 130, ax * 0.05), _colour(p.skin, 0.78))
        if p.hair_style not in ("long", "curly"):
            for side in (-1, 1):
                x, y = self.at(cx + side * (ax - 1), p.eyes[1] + 8, 0.1)[0]
                _fill(self.canvas, _ellipse(x, y, p.ear * 0.45, p.ear), _colour(p.skin, 0.9))
        _fill(self.canvas, self.outline(), _colour(p.skin))

    def skin(self) -> None:
        """The texture field over the face, then freckles and moles."""
        mask = np.zeros(self.canvas.shape[:2], np.float32)
        _fill(mask, self.outline(), 1.0)
        gain = cv2.resize(self.p.texture, mask.shape[::-1], interpolation=cv2.INTER_CUBIC) * mask + 1
        self.canvas[:] = cv2.multiply(self.canvas.astype(np.float32), cv2.merge([gain] * 3)).clip(0, 255)
        for x, y, radius, factor in self.p.spots:
            centre = _fixed(self.at(x, y))[0]
            radius_fixed = int(radius * (1 << _SHIFT))
            cv2.circle(self.canvas, (int(centre[0]), int(centre[1])), radius_fixed, _colour(self.p.skin, factor), -1,
                       _AA, _SHIFT)  # fmt: skip

    def eye(self, side: int) -> None:
        p, pose = self.p, self.pose
        spacing, eye_y, half_w, half_h, tilt = p.eyes
        ex, ey = self.at(p.face[0] + side * spacing, eye_y, 0.45)[0]
        half_h *= pose.eye_open
        tilt *= -side
        _fill(self.canvas, _ellipse(ex, ey, half_w, half_h, tilt), _colour((200, 204, 208) + p.skin * 0.15))
        if pose.eye_open > 0.3:
            ix, iy, r = ex + pose.gaze[0], ey + pose.gaze[1], half_w * 0.55
            _fill(self.canvas, _ellipse(ix, iy, r, min(r, half_h)), _colour(p.iris))
            _fill(self.canvas, _ellipse(ix, iy, r * 0.45, min(r * 0.45, half_h)), (15, 15, 15))
            _fill(self.canvas, _ellipse(ix + 1, iy - 1, 0.7, 0.7), (240, 240, 240))
        lid = _ellipse(ex, ey, half_w * 1.05, half_h * 1.1, tilt, arc=(math.pi, 2 * math.pi), n=16)
        _line(self.canvas, lid, _colour(p.skin, 0.35), 1.1)
        lower = _ellipse(ex, ey, half_w, half_h, tilt, arc=(0.2, math.pi - 0.2), n=12)
        _line(self.canvas, lower, _colour(p.skin, 0.6), 1)

    def brow(self, side: int) -> None:
        p = self.p
        gap, length, angle, arch, thick = p.brow
        spacing, eye_y, half_w, half_h, _ = p.eyes
        t = np.linspace(0, 1, 7)
        x = p.face[0] + side * (spacing - half_w * 0.9 + t * length * math.cos(math.radians(angle)))
        y = eye_y - half_h - gap - self.pose.brow_raise - t * length * math.sin(math.radians(angle)) * 0.5
        colour = p.hair * 0.8 if p.hair.mean() < 150 else p.skin * 0.5 + p.hair * 0.3
        _line(self.canvas, self.at(x, y - arch * np.sin(t * math.pi), 0.45), _colour(colour), thick)

    def nose(self) -> None:
        p = self.p
        cx, eye_y, (length, half) = p.face[0], p.eyes[1], p.nose
        tip_y = eye_y + length
        s = 1 if self.pose.yaw <= 0 else -1  # the side turned away is in shadow
        shadow = np.array([[cx + s * 1.5, eye_y + 2], [cx + s * 4, eye_y + 2], [cx + s * half * 0.95, tip_y],
                           [cx + s * half * 0.2, tip_y + 1]])  # fmt: skip
        _fill(self.canvas, self.at(shadow[:, 0], shadow[:, 1], 0.8), _colour(p.skin, 0.86))
        tip = self.at(cx, tip_y - 1, 1.0)[0]
        _fill(self.canvas, _ellipse(tip[0], tip[1], half * 0.5, 3.0), _colour(p.skin, 1.06))
        for s in (-1, 1):
            wing = self.at(cx + s * half * 0.62, tip_y, 0.85)[0]
            arc = (0.6 * math.pi, 1.9 * math.pi) if s > 0 else (-0.9 * math.pi, 0.4 * math.pi)
            _line(self.canvas, _ellipse(wing[0], wing[1], half * 0.38, 2.8, arc=arc, n=10), _colour(p.skin, 0.68), 1)
            nostril = self.at(cx + s * half * 0.42, tip_y + 1.2, 0.9)[0]
            _fill(self.canvas, _ellipse(nostril[0], nostril[1], half * 0.26, 1.1, s * 15), _colour(p.skin, 0.4))

    def mouth(self) -> None:
        p, pose = self.p, self.pose
        gap, half, upper, lower, curve = p.mouth
        u = np.linspace(-1, 1, 17)
        bulge = np.sqrt(1 - u**2)
        line = p.eyes[1] + p.nose[0] + gap - (curve + pose.smile) * (u**2 - 0.3)
        opening = pose.mouth_open * bulge
        x = np.r_[u, u[::-1]] * half * (1 + 0.04 * pose.smile) + p.face[0]

        def band(top: np.ndarray, bottom: np.ndarray, colour: Colour) -> None:
            _fill(self.canvas, self.at(x, np.r_[top, bottom[::-1]], 0.7), colour)

        if pose.mouth_open:
            band(line, line + opening, (40, 30, 60))
            band(line, line + opening * 0.35, (220, 225, 230))
        band(line - upper * bulge * (1 - 0.25 * np.exp(-((u * 4) ** 2))), line, _colour(p.lip, 0.9))
        band(line + opening, line + opening + lower * bulge, _colour(p.lip))
        _line(self.canvas, self.at(x[:17], line + opening * 0.5, 0.7), _colour(p.lip, 0.45), 1)

    def beard(self) -> None:
        (style, density), p = self.p.beard, self.p
        if style == "none":
            return
        cx, mouth_y, half_w = p.face[0], p.eyes[1] + p.nose[0] + p.mouth[0], p.mouth[1]
        face = self.outline(-0.5)
        moustache = _ellipse(cx, mouth_y - p.mouth[2] - 2, half_w + 2, 3.0)
        shapes = {
            "moustache": [self.at(moustache[:, 0], moustache[:, 1], 0.7)],
            "goatee": [self.at(cx, mouth_y + p.mouth[3] + 7, 0.6) + _ellipse(0, 0, half_w * 0.5, 5.0)],
            "stubble": [face[face[:, 1] > mouth_y - 8]],
            "full": [face[face[:, 1] > p.eyes[1] + 12], self.at(moustache[:, 0], moustache[:, 1], 0.7)],
        }[style]
        mask = np.zeros(self.canvas.shape[:2], np.float32)
        for shape in shapes:
            _fill(mask, shape, density * (0.45 if style == "stubble" else 1.0))
        alpha = cv2.merge([mask] * 3)
        self.canvas[:] = self.canvas * (1 - alpha) + p.hair.astype(np.float32) * alpha

    def hair_back(self) -> None:
        p = self.p
        if p.hair_style in ("bald", "buzz"):
            return
        cx, cy, ax, ay = p.face
        volume = p.hairline[1]
        colour = _colour(p.hair, 0.85)
        if p.hair_style == "long":
            _fill(self.canvas, _box(cx - ax - volume, cy - 10, cx + ax + volume, 130, 6), colour)
        t = np.linspace(math.pi, 2 * math.pi, 40)
        radius = 1 + (0.06 * np.sin(t * 17) if p.hair_style == "curly" else 0)
        x, y = cx + (ax + volume) * np.cos(t) * radius, cy - 4 + (ay + volume) * np.sin(t) * radius
        _fill(self.canvas, self.at(np.r_[x, cx - ax - volume], np.r_[y, cy + 8], 0.1), colour)

    def hair_front(self) -> None:
        p = self.p
        if p.hair_style == "bald":
            return
        cx, cy, ax, ay = p.face
        xs = np.linspace(-1, 1, 21)
        height = p.hairline[0] * {"fringe": 0.55, "side_part": 0.85}.get(p.hair_style, 1.0)
        drop = {"receding": -8 * np.exp(-((xs * 2.5) ** 2)) + 6 * xs**2, "side_part": 8 * np.clip(xs, 0, None)}
        y = p.eyes[1] - height + drop.get(p.hair_style, 8 * xs**4) + self.rng.normal(0, 0.4, xs.size)
        y += 1.5 * (np.arange(xs.size) % 2) if p.hair_style == "fringe" else 0
        ends = np.arcsin(np.clip((y[[-1, 0]] - cy) / (ay + 2), -1, 0))  # where the hairline meets the skull
        t = np.linspace(2 * math.pi + ends[0], math.pi - ends[1], 24)
        x_all = np.r_[cx + xs * (ax + 2), cx + (ax + 2) * np.cos(t)]
        polygon = self.at(x_all, np.r_[y, cy + (ay + 2) * np.sin(t)], 0.2)
        _fill(self.canvas, polygon, _colour(p.hair * 0.55 + p.skin * 0.45 if p.hair_style == "buzz" else p.hair))
        if p.hair_style == "buzz":
            return
        for dx, dy, slant, tone in p.strands:
            sx, sy = cx + dx * ax * 0.8, p.eyes[1] - height - 8 + dy * 4
            strand = self.at([sx, sx + slant * 6], [sy, sy + 5 + abs(slant) * 3], 0.2)
            _line(self.canvas, strand, _colour(p.hair, 1 + 0.35 * tone), 1)

    def spectacles(self) -> None:
        p = self.p
        if not self.pose.glasses_on or p.glasses is None:
            return
        shape, thick, gray = p.glasses
        colour = (gray, gray, gray * 0.9)
        (lx, ly), (rx, ry) = (self.at(p.face[0] + s * p.eyes[0], p.eyes[1] + 1)[0] for s in (-1, 1))
        for x, y in ((lx, ly), (rx, ry)):
            rim = _ellipse(x, y, 10, 7.5) if shape == 0 else _box(x - 10.5, y - 6.5, x + 10.5, y + 7, -1)
            _line(self.canvas, rim, colour, thick, closed=True)
        for points in ([[lx + 10, ly - 2], [rx - 10, ry - 2]], [[lx - 10, ly - 2], [lx - 16, ly - 1]],
                       [[rx + 10, ry - 2], [rx + 16, ry - 1]]):  # fmt: skip
            _line(self.canvas, np.array(points), colour, thick)


def _paint_background(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """A vertical colour gradient and up to 4 random ellipses and boxes."""
    ends = rng.uniform(0, 255, (2, 1, 3)).astype(np.float32)
    canvas[:] = cv2.resize(ends, canvas.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(0, 5))):
        x, y, w, h = rng.uniform(0, IMAGE_SIZE, 2).tolist() + rng.uniform(6, 40, 2).tolist()
        colour = _colour(rng.uniform(0, 255, 3))
        shape = _ellipse(x, y, w / 2, h / 2, rng.uniform(0, 180)) if rng.uniform() < 0.5 else _box(x, y, x + w, y + h)
        _fill(canvas, shape, colour)


def _warp(canvas: np.ndarray, pose: _Pose, centre: tuple[float, float]) -> np.ndarray:
    """Roll, scale, shift and the yaw squeeze about the face centre."""
    angle = math.radians(pose.roll)
    cos, sin = math.cos(angle) * pose.scale, math.sin(angle) * pose.scale
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag([1 - 0.09 * abs(pose.yaw), 1.0])
    offset = np.add(centre, pose.shift) - linear @ np.asarray(centre)
    size = (IMAGE_SIZE, IMAGE_SIZE)
    matrix = np.column_stack([linear, offset])
    return cv2.warpAffine(canvas, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _occlude(image: np.ndarray, rng: np.random.Generator) -> None:
    """A hand (a skin-coloured ellipse) or an object (a box) over part of the lower face or the sides."""
    x, y, w, h = rng.uniform(10, 102), rng.uniform(55, 112), rng.uniform(10, 28), rng.uniform(8, 30)
    if rng.uniform() < 0.5:
        _fill(image, _ellipse(x, y, w, h, rng.uniform(0, 180)), _colour(_palette(rng, _SKIN, 8)))
    else:
        _fill(image, _box(x, y, x + w, y + 2 * h), _colour(rng.uniform(0, 255, 3)))


def _camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Side lighting, contrast, brightness, colour cast, gamma, low resolution, blur and noise (uint8 BGR)."""
    u = rng.uniform
    angle, strength, contrast = u(0, 2 * math.pi), u(0, 0.4), u(0.65, 1.3)
    light = 1 + strength * (_RAMP[None, :] * math.cos(angle) + _RAMP[:, None] * math.sin(angle))
    gain = light[..., None] * (rng.uniform(0.85, 1.15, 3).astype(np.float32) * contrast)
    pixels = image.astype(np.float32)
    bias = (1 - contrast) * float(pixels.mean()) + u(-35, 35)
    pixels = np.clip(pixels * gain + bias, 0, 255).astype(np.uint8)
    pixels = cv2.LUT(pixels, _gamma_table(round(u(0.75, 1.35), 2)))
    if u() < 0.15:
        small = int(u(40, 75))
        pixels = cv2.resize(cv2.resize(pixels, (small, small), interpolation=cv2.INTER_AREA), pixels.shape[:2])
    if u() < 0.4:
        pixels = cv2.GaussianBlur(pixels, (0, 0), u(0.5, 1.4))
    noise = rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(u(1.2, 9))
    return np.clip(pixels + noise + 0.5, 0, 255).astype(np.uint8)


@functools.cache
def _gamma_table(gamma: float) -> np.ndarray:
    return np.clip((np.arange(256) / 255) ** gamma * 255 + 0.5, 0, 255).astype(np.uint8)


def draw_identity(index: int, rng: np.random.Generator) -> IdentityParams:
    """The fixed parameters of identity ``index``, drawn from ``rng``."""
    return _draw_identity(index, rng)


def render(params: IdentityParams, rng: np.random.Generator) -> np.ndarray:
    """One image of ``params`` with a nuisance drawn from ``rng``: (112, 112, 3) uint8 BGR."""
    pose = _draw_pose(params, rng)
    image = _warp(_Painter(params, pose, rng).paint(), pose, params.face[:2])
    if rng.uniform() < 0.25:
        _occlude(image, rng)
    return _camera(image, rng)
