"""A tiny training folder: small_dataset's 10 faces three times over (30 images, 10 classes) + lfw.bin."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def train_dir(tmp_path: Path, small_dataset: Path, shared_data: Path) -> Path:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    lines = []
    for label, source in enumerate(sorted((small_dataset / "images").glob("*.jpg"))):
        for copy in range(3):
            name = f"images/{source.stem}_{copy}.jpg"
            shutil.copy(source, root / name)
            lines.append(f"{name}\t{label}")
    (root / "label.txt").write_text("\n".join(lines) + "\n")
    shutil.copy(shared_data / "verification" / "small_lfw.bin", root / "lfw.bin")
    return root
