"""Pretrained models by name: convert on first use, then serve the cached export folder.

:func:`export_dir` is what ``faceid.Recognizer("mobileface_v2")`` (and ``faceid eval --model``) end up calling:
the export lives in ``faceid.zoo.cache_dir() / name`` (``$FACEID_HOME/models``) and is written by the model's
converter from the verified source files (``$FACEID_MODEL_SOURCE`` or ``source``) the first time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from faceid.zoo.mobileface import MOBILEFACE_V2, convert_mobileface_v2
from faceid.zoo.registry import cache_dir

__all__ = ["CONVERTERS", "export_dir"]

logger = logging.getLogger(__name__)

Converter = Callable[..., Path]
"""``converter(source=..., output=...) -> export folder``."""

CONVERTERS: dict[str, Converter] = {MOBILEFACE_V2.name: convert_mobileface_v2}


def export_dir(name: str, source: str | os.PathLike[str] | None = None) -> Path:
    """The export folder of the pretrained model ``name``, converting it into the cache on first use.

    ``source``: the model source folder (default ``$FACEID_MODEL_SOURCE``), read only when converting.
    ``ValueError`` for a name without a converter.
    """
    if name not in CONVERTERS:
        raise ValueError(f"no pretrained export named {name!r}; available: {', '.join(sorted(CONVERTERS))}")
    target = cache_dir() / name
    if (target / "faceid.json").is_file():
        return target
    logger.info("converting pretrained model %s into %s (first use)", name, target)
    return CONVERTERS[name](source=source, output=target)
