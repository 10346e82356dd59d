"""label.txt reading, writing and class statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceid.data.label_file import LabelEntry, read_label_file, summarize_labels, write_label_file


def test_round_trip(tmp_path: Path) -> None:
    entries = [LabelEntry("images/a.jpg", 0), LabelEntry("images/b b.jpg", 2), LabelEntry("imgs/é.png", 2)]
    path = tmp_path / "label.txt"
    write_label_file(path, entries)
    assert path.read_bytes() == "images/a.jpg\t0\nimages/b b.jpg\t2\nimgs/é.png\t2\n".encode()
    assert read_label_file(path) == entries


def test_tolerant_reading(tmp_path: Path) -> None:
    path = tmp_path / "label.txt"
    path.write_bytes(b"a.jpg\t1\r\n\r\n\nb.jpg\t 2 \r\n   \nc.jpg\t3")  # CRLF, blanks, no final newline
    assert read_label_file(path) == [("a.jpg", 1), ("b.jpg", 2), ("c.jpg", 3)]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"a.jpg\t0\nb.jpg 1\n", 2, "missing tab"),
        (b"a.jpg\tx\n", 1, "label 'x' is not an integer"),
        (b"a.jpg\t1.0\n", 1, "label '1.0' is not an integer"),
        (b"\n\na.jpg\t-3\n", 3, "negative label -3"),
        (b"a.jpg\t\n", 1, "label '' is not an integer"),
        (b"\t4\n", 1, "empty image path"),
        (b"a\tb\t4\n", 1, "expected .path<TAB>label., found more than one tab"),
        (b"a.jpg\t99999999999\n", 1, "label 99999999999 does not fit in int32"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, content: bytes, line: int, message: str) -> None:
    path = tmp_path / "label.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^{path}:{line}: {message}"):
        read_label_file(path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "label.txt"
    path.write_bytes(b"a.jpg\t0\n\xff.jpg\t1\n")
    with pytest.raises(ValueError, match=rf"^{path}: not valid UTF-8 at byte 8"):
        read_label_file(path)


def test_write_validates(tmp_path: Path) -> None:
    path = tmp_path / "label.txt"
    with pytest.raises(ValueError, match="entry 1: image path 'a\\\\tb' is empty or has a tab"):
        write_label_file(path, [("ok", 0), ("a\tb", 1)])
    with pytest.raises(ValueError, match="entry 0: label must be a non-negative int, got -1"):
        write_label_file(path, [("ok", -1)])
    assert not path.exists()


def test_summary() -> None:
    summary = summarize_labels([("a", 0), ("b", 3), ("c", 3), ("d", 5)])
    assert summary.num_images == 4 and summary.num_classes == 6
    np.testing.assert_array_equal(summary.counts, [1, 0, 0, 2, 0, 1])
    np.testing.assert_array_equal(summary.missing, [1, 2, 4])
    assert (summary.min_label, summary.max_label) == (0, 5)
    assert not summary.is_contiguous
    with pytest.raises(ValueError, match="no entries"):
        summarize_labels([])


def test_shared_small_dataset(small_dataset: Path) -> None:
    entries = read_label_file(small_dataset / "label.txt")
    assert len(entries) == 10
    assert [e.label for e in entries] == list(range(10))
    assert all((small_dataset / e.path).is_file() for e in entries)
    summary = summarize_labels(entries)
    assert summary.is_contiguous and summary.num_classes == 10
