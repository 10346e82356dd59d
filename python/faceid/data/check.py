"""`faceid data check`: decode every image of a training set and report what is wrong."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceid.data.batch_reader import NativeBatchReader
from faceid.data.dataset import IMAGE_SIZE


@dataclass
class Problem:
    path: str
    kind: str  # "missing", "corrupt", "size" or "label"
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.kind}: {self.reason}"


@dataclass
class CheckReport:
    num_images: int = 0
    num_classes: int = 0
    label_min: int = 0
    label_max: int = -1
    class_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_lines(self) -> list[str]:
        counts = self.class_counts
        lines = [
            f"images: {self.num_images}",
            f"classes: {self.num_classes} (labels {self.label_min}..{self.label_max})",
        ]
        if counts.size:
            lines.append(
                f"images per class: min {counts.min()}, median {int(np.median(counts))}, max {counts.max()}, "
                f"classes with one image: {int((counts == 1).sum())}"
            )
        kinds = sorted({p.kind for p in self.problems})
        tally = ", ".join(f"{k} {sum(p.kind == k for p in self.problems)}" for k in kinds)
        lines.append(f"problems: {len(self.problems)}" + (f" ({tally})" if tally else ""))
        return lines


def label_problems(labels: np.ndarray, label_path: str | os.PathLike[str]) -> list[Problem]:
    """The label ids in ``0..max`` that no image uses, as one ``label`` problem (none when contiguous)."""
    present = np.zeros(int(labels.max()) + 1, dtype=bool)
    present[labels] = True
    missing = np.flatnonzero(~present)
    if missing.size == 0:
        return []
    shown = ", ".join(str(m) for m in missing[:10]) + (" ..." if missing.size > 10 else "")
    return [Problem(str(label_path), "label", f"labels are not contiguous: {missing.size} ids unused ({shown})")]


def _classify(path: str, reason: str) -> Problem:
    if not os.path.exists(path):
        return Problem(path, "missing", "file does not exist")
    if reason.startswith("image is "):
        return Problem(path, "size", reason)
    return Problem(path, "corrupt", reason)


def check_dataset(
    root: str | os.PathLike[str],
    label_file: str | os.PathLike[str] | None = None,
    *,
    num_threads: int = 2,
    batch_size: int = 256,
    progress: bool = True,
    on_problem: Callable[[Problem], None] | None = None,
) -> CheckReport:
    """Decode every listed image (expecting 112x112) and check the labels; every problem is collected (and passed to
    ``on_problem`` as it is found), never raised."""
    from faceid.data.label_file import read_label_file

    root = Path(root)
    label_path = Path(label_file) if label_file is not None else root / "label.txt"
    entries = read_label_file(label_path)
    report = CheckReport(num_images=len(entries))
    if not entries:
        report.problems.append(Problem(str(label_path), "label", "no samples listed"))
        if on_problem is not None:
            on_problem(report.problems[-1])
        return report
    labels = np.array([e.label for e in entries], dtype=np.int64)
    report.label_min, report.label_max = int(labels.min()), int(labels.max())
    report.class_counts = np.bincount(labels)
    report.num_classes = int((report.class_counts > 0).sum())
    report.problems.extend(label_problems(labels, label_path))
    for problem in report.problems:
        if on_problem is not None:
            on_problem(problem)

    reader = NativeBatchReader([root / e.path for e in entries], num_threads=num_threads)
    out = np.empty((batch_size, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    starts = range(0, len(entries), batch_size)
    with tqdm(total=len(entries), unit="img", desc="check", disable=not progress) as bar:
        for start in starts:
            indices = np.arange(start, min(start + batch_size, len(entries)))
            for failure in reader.submit(indices, np.zeros(len(indices), np.uint8), out[: len(indices)]).wait():
                report.problems.append(_classify(failure.path, failure.reason))
                if on_problem is not None:
                    on_problem(report.problems[-1])
            bar.update(len(indices))
    return report
