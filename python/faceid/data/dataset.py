"""Training sets: an MS1M-style folder with label.txt, or synthetic random faces for benchmarks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SIZE = 112


@dataclass(frozen=True)
class FaceDataset:
    """Images (files or kv .bin) and integer labels, as listed by ``<root>/label.txt``."""

    root: Path
    paths: tuple[str, ...]
    labels: np.ndarray
    num_classes: int
    synthetic: bool = False

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike[str],
        label_file: str | os.PathLike[str] | None = None,
        num_classes: int | None = None,
    ) -> FaceDataset:
        """Read ``label_file`` (default ``<root>/label.txt``); paths in it are relative to ``root``.

        ``num_classes`` defaults to max label + 1; labels must lie in ``[0, num_classes)``.
        """
        from faceid.data.label_file import read_label_file

        root = Path(root)
        label_path = Path(label_file) if label_file is not None else root / "label.txt"
        entries = read_label_file(label_path)
        if not entries:
            raise ValueError(f"{label_path}: no samples listed")
        labels = np.fromiter((e.label for e in entries), dtype=np.int64, count=len(entries))
        found = int(labels.max()) + 1
        if num_classes is None:
            num_classes = found
        elif found > num_classes:
            raise ValueError(f"{label_path}: label {found - 1} is out of range for num_classes={num_classes}")
        paths = tuple(str(root / e.path) for e in entries)
        return cls(root=root, paths=paths, labels=labels, num_classes=num_classes)

    @classmethod
    def synthetic_set(cls, num_samples: int, num_classes: int, seed: int = 0) -> FaceDataset:
        """Random labels; the loader makes a fresh random image for every sample (throughput tests)."""
        if num_samples <= 0 or num_classes <= 0:
            raise ValueError(f"synthetic set needs positive sizes, got {num_samples} samples, {num_classes} classes")
        labels = np.random.default_rng(seed).integers(0, num_classes, size=num_samples, dtype=np.int64)
        return cls(root=Path("<synthetic>"), paths=(), labels=labels, num_classes=num_classes, synthetic=True)

    def __len__(self) -> int:
        return len(self.labels)
