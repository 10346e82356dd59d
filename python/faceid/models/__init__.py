"""Face-recognition backbones, created by name through one registry.

>>> from faceid.models import create_model, list_models
>>> net = create_model("iresnet50", embedding_size=512)  # or an alias such as "FresResNet50"

Every backbone takes aligned faces as (N, 3, 112, 112) float32 RGB in [-1, 1] and returns the raw
(not L2-normalised) embedding (N, embedding_size). Importing this package imports Paddle and
registers the models; nothing else happens at import.
"""

from __future__ import annotations

from faceid.models import iresnet, mobilefacenet  # noqa: F401 (imported so that the models register)
from faceid.models.registry import ModelSpec, create_model, is_model, list_models, model_spec, register_model

__all__ = ["ModelSpec", "create_model", "is_model", "list_models", "model_spec", "register_model"]
