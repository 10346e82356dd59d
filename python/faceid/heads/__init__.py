"""Classification heads for training: combined margins and the model-parallel PartialFC classifier."""

from faceid.heads.collectives import World, world
from faceid.heads.margins import MARGIN_PRESETS, MarginSpec, apply_margin, margin_spec
from faceid.heads.partial_fc import PartialFC, class_shards, init_centres

__all__ = [
    "MARGIN_PRESETS",
    "MarginSpec",
    "PartialFC",
    "World",
    "apply_margin",
    "class_shards",
    "init_centres",
    "margin_spec",
    "world",
]
