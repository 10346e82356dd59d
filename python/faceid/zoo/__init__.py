"""Pretrained models: the registry (``faceid.zoo.registry``) and the weight converters."""

from faceid.zoo.convert import export_dir
from faceid.zoo.registry import ModelRecord, SourceFile, cache_dir, get_record, list_records, register, source_file

__all__ = [
    "ModelRecord",
    "SourceFile",
    "cache_dir",
    "export_dir",
    "get_record",
    "list_records",
    "register",
    "source_file",
]
