"""Combined angular margins: the target logit becomes ``s * (cos(m1 * theta + m2) - m3)``.

ArcFace (1, 0.5, 0, 64), CosFace (1, 0, 0.35, 64) and SphereFace (1.35, 0, 0, 64) are presets of one
formula. Non-target logits are ``s * cos(theta)``.

Two implementations, equal in value and gradient wherever ``m1 * theta + m2 <= pi``:

- ``"ops"`` (every device): Paddle ops, with ``cos(theta)`` clipped to ``[-1 + eps, 1 - eps]`` so that
  ``acos`` and its derivative stay finite (the gradient is 0 within 1e-6 of a perfect fit). Past
  ``theta* = (pi - m2) / m1`` the margin function stops decreasing; there the target logit continues as
  ``cos(theta) - cos(theta*) - 1 - m3`` (monotone and continuous at ``theta*``), the role insightface's
  ``cos(theta) - m*sin(m)`` fallback plays.
- ``"fused"``: Paddle's ``margin_cross_entropy`` (GPU only), which has no such fallback. It also runs the
  model-parallel softmax itself, so :class:`faceid.heads.PartialFC` chooses it only on GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import paddle

__all__ = ["MARGIN_PRESETS", "MarginSpec", "apply_margin", "margin_spec"]

_COS_EPS = 1e-6


@dataclass(frozen=True)
class MarginSpec:
    """The combined-margin parameters ``(m1, m2, m3)`` and the scale ``s``."""

    m1: float = 1.0
    m2: float = 0.5
    m3: float = 0.0
    s: float = 64.0

    def __post_init__(self) -> None:
        if not (self.m1 > 0 and self.s > 0 and 0 <= self.m2 < math.pi and self.m3 >= 0):
            raise ValueError(f"invalid margin: need m1 > 0, 0 <= m2 < pi, m3 >= 0, s > 0; got {self}")

    @property
    def is_plain(self) -> bool:
        """True when the margin leaves the target logit unchanged (a plain scaled softmax)."""
        return self.m1 == 1.0 and self.m2 == 0.0 and self.m3 == 0.0

    @property
    def theta_max(self) -> float:
        """Where ``m1 * theta + m2`` reaches pi (may lie beyond pi: then no fallback region)."""
        return (math.pi - self.m2) / self.m1


MARGIN_PRESETS: dict[str, MarginSpec] = {
    "ArcFace": MarginSpec(1.0, 0.5, 0.0, 64.0),
    "CosFace": MarginSpec(1.0, 0.0, 0.35, 64.0),
    "SphereFace": MarginSpec(1.35, 0.0, 0.0, 64.0),
    "Softmax": MarginSpec(1.0, 0.0, 0.0, 64.0),
}


def margin_spec(loss: str | MarginSpec | tuple[float, float, float, float]) -> MarginSpec:
    """A preset name (``ArcFace``, ``CosFace``, ``SphereFace``, ``Softmax``), a spec, or ``(m1, m2, m3, s)``."""
    if isinstance(loss, MarginSpec):
        return loss
    if isinstance(loss, str):
        if loss not in MARGIN_PRESETS:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(MARGIN_PRESETS)} or m1,m2,m3,s")
        return MARGIN_PRESETS[loss]
    values = tuple(float(v) for v in loss)
    if len(values) != 4:
        raise ValueError(f"a margin needs four numbers (m1, m2, m3, s), got {len(values)}")
    return MarginSpec(*values)


def _target_value(cos_t: paddle.Tensor, spec: MarginSpec) -> paddle.Tensor:
    if spec.m1 == 1.0 and spec.m2 == 0.0:
        return cos_t - spec.m3
    clipped = paddle.clip(cos_t, -1.0 + _COS_EPS, 1.0 - _COS_EPS)
    theta = paddle.acos(clipped)
    value = paddle.cos(spec.m1 * theta + spec.m2) - spec.m3
    if spec.theta_max >= math.pi:
        return value
    cos_star = math.cos(spec.theta_max)
    linear = cos_t - (cos_star + 1.0 + spec.m3)
    return paddle.where(theta <= spec.theta_max, value, linear)


def apply_margin(cosine: paddle.Tensor, labels: paddle.Tensor, spec: MarginSpec) -> paddle.Tensor:
    """Scaled logits ``s * cos`` with the margin applied at ``(i, labels[i])``.

    cosine: (N, K) float; labels: (N,) int64 column of the target, or -1 when the target is not among the
    K columns (model-parallel shards). Returns a new (N, K) tensor; gradients flow through both parts.
    """
    if cosine.ndim != 2 or labels.ndim != 1 or labels.shape[0] != cosine.shape[0]:
        raise ValueError(f"expected cosine (N, K) and labels (N,), got {list(cosine.shape)} and {list(labels.shape)}")
    if spec.is_plain:
        return cosine * spec.s
    has_target = labels >= 0
    safe = paddle.where(has_target, labels, paddle.zeros_like(labels))
    onehot = paddle.nn.functional.one_hot(safe, cosine.shape[1]).astype(cosine.dtype)
    onehot = onehot * has_target.astype(cosine.dtype).unsqueeze(1)
    target_cos = (cosine * onehot).sum(axis=1, keepdim=True)
    delta = _target_value(target_cos, spec) - target_cos
    return (cosine + onehot * delta) * spec.s
