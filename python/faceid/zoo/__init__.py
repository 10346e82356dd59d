"""Pretrained models: one registry (``faceid.zoo.registry``) whose records say how each model is fetched,
verified, converted and loaded, and the converters (``blazeface``, ``mobileface``, ``mtcnn``, ``arcface_paddle``).

Every model is known once ``faceid.zoo`` is imported; converters load (with Paddle) only when one is used.
"""

from faceid.zoo.registry import (
    ModelRecord,
    SourceFile,
    cache_dir,
    convert,
    export_dir,
    export_names,
    get_record,
    list_records,
    load,
    source_file,
)

__all__ = [
    "ModelRecord",
    "SourceFile",
    "cache_dir",
    "convert",
    "export_dir",
    "export_names",
    "get_record",
    "list_records",
    "load",
    "source_file",
]
