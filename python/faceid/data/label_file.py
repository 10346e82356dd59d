"""``label.txt``: one ``relative/path<TAB>integer_label`` line per training image."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from faceid.io.atomic import atomic_write_bytes

__all__ = ["LabelEntry", "LabelSummary", "read_label_file", "summarize_labels", "write_label_file"]

_INTEGER = re.compile(r"[+-]?[0-9]+")
_MAX_LABEL = 2**31 - 1


class LabelEntry(NamedTuple):
    """One line of a label file: the image path (relative to the dataset root) and its class id."""

    path: str
    label: int


@dataclass(frozen=True, eq=False)
class LabelSummary:
    """Class statistics of a label file; ``counts[c]`` images have label ``c``."""

    num_images: int
    num_classes: int  # max label + 1
    counts: np.ndarray
    missing: np.ndarray  # label ids in 0..max with no image
    min_label: int
    max_label: int

    @property
    def is_contiguous(self) -> bool:
        """True when every label in ``0 .. max_label`` has at least one image."""
        return self.missing.size == 0


def read_label_file(path: str | os.PathLike[str]) -> list[LabelEntry]:
    """Parse a label file. Blank lines are skipped, ``\\r`` is stripped, the last newline is optional.

    Errors are ``ValueError("<path>:<line>: ...")``.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not valid UTF-8 at byte {exc.start}") from None
    entries = []
    for lineno, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.rstrip("\r")
        if line.strip():
            entries.append(_parse_line(line, f"{path}:{lineno}"))
    return entries


def _parse_line(line: str, where: str) -> LabelEntry:
    if "\t" not in line:
        raise ValueError(f"{where}: missing tab between path and label in {line[:80]!r}")
    image_path, _, label_text = line.rpartition("\t")
    if not image_path.strip():
        raise ValueError(f"{where}: empty image path")
    if "\t" in image_path:
        raise ValueError(f"{where}: expected 'path<TAB>label', found more than one tab")
    label_text = label_text.strip()
    if not _INTEGER.fullmatch(label_text):
        raise ValueError(f"{where}: label {label_text[:40]!r} is not an integer")
    label = int(label_text) if len(label_text.lstrip("+-")) <= 10 else None
    if label is not None and label < 0:
        raise ValueError(f"{where}: negative label {label}")
    if label is None or label > _MAX_LABEL:
        raise ValueError(f"{where}: label {label_text[:40]} does not fit in int32")
    return LabelEntry(image_path, label)


def write_label_file(path: str | os.PathLike[str], entries: Iterable[tuple[str, int]]) -> None:
    """Write ``path<TAB>label`` lines atomically (UTF-8, ``\\n`` line ends)."""
    lines = []
    for index, (image_path, label) in enumerate(entries):
        if not image_path or any(c in image_path for c in "\t\n\r"):
            raise ValueError(f"{path}: entry {index}: image path {image_path!r} is empty or has a tab/newline")
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
            raise ValueError(f"{path}: entry {index}: label must be a non-negative int, got {label!r}")
        lines.append(f"{image_path}\t{int(label)}\n")
    atomic_write_bytes(path, "".join(lines).encode("utf-8"))


def summarize_labels(entries: Iterable[tuple[str, int]]) -> LabelSummary:
    """Count images per class and find label ids without images (a contiguity check)."""
    labels = np.fromiter((label for _, label in entries), dtype=np.int64)
    if labels.size == 0:
        raise ValueError("summarize_labels: no entries")
    if labels.min() < 0:
        raise ValueError(f"summarize_labels: negative label {labels.min()}")
    counts = np.bincount(labels)
    return LabelSummary(
        num_images=int(labels.size),
        num_classes=int(counts.size),
        counts=counts,
        missing=np.flatnonzero(counts == 0),
        min_label=int(labels.min()),
        max_label=int(labels.max()),
    )
