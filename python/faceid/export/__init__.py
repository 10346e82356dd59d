"""Export trained backbones for Paddle Inference and ONNX."""

from faceid.export.exporter import (
    ExportResult,
    export_model,
    load_checkpoint_backbone,
    read_export_meta,
    verify_export_files,
)

__all__ = ["ExportResult", "export_model", "load_checkpoint_backbone", "read_export_meta", "verify_export_files"]
