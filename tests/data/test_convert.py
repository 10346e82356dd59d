"""Lossless converters: images <-> kv .bin, label files, and a RecordIO dataset -> image folder."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest

from faceid.data.convert import bin_to_image, image_to_bin, rec_to_images, rewrite_label_file
from faceid.data.kvbin import read_kv_file, write_kv_file
from faceid.data.label_file import read_label_file
from faceid.data.recordio import MAGIC, IRHeader, RecordIOWriter, pack_record


def test_image_bin_image_is_byte_identical(tmp_path: Path, small_dataset: Path) -> None:
    originals = sorted((small_dataset / "images").glob("*.jpg"))
    bins = image_to_bin(small_dataset / "images", tmp_path / "bins")
    assert [p.name for p in bins] == [p.stem + ".bin" for p in originals]
    for original, bin_path in zip(originals, bins, strict=False):
        assert read_kv_file(bin_path) == (original.name, original.read_bytes())
        # Independent check of the file layout: key length, key, value length, pickle of the bytes.
        raw = bin_path.read_bytes()
        (key_len,) = struct.unpack_from("<I", raw)
        assert raw[4 : 4 + key_len] == original.name.encode()
        assert pickle.loads(raw[8 + key_len :]) == original.read_bytes()
    images = bin_to_image(tmp_path / "bins", tmp_path / "back")
    assert [p.name for p in images] == [p.name for p in originals]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(originals, images, strict=False))


def test_mixed_suffixes_keep_their_names(tmp_path: Path, shared_data: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    jpeg = (shared_data / "faces" / "obama_small.jpg").read_bytes()
    png = (shared_data / "faces" / "tom_hanks_aligned_112.png").read_bytes()
    (src / "one.jpeg").write_bytes(jpeg)
    (src / "Two.PNG").write_bytes(png)
    (src / "notes.txt").write_text("ignored")
    (src / "nested").mkdir()
    (src / "nested" / "deep.jpg").write_bytes(jpeg)  # not recursive
    bins = image_to_bin(src, tmp_path / "bins")
    assert sorted(p.name for p in bins) == ["Two.bin", "one.bin"]
    images = bin_to_image(tmp_path / "bins", tmp_path / "out")
    assert sorted(p.name for p in images) == ["Two.PNG", "one.jpeg"]
    assert (tmp_path / "out" / "one.jpeg").read_bytes() == jpeg
    assert (tmp_path / "out" / "Two.PNG").read_bytes() == png


def test_suffix_follows_the_bytes(tmp_path: Path, shared_data: Path) -> None:
    png = (shared_data / "faces" / "tom_hanks_aligned_112.png").read_bytes()
    write_kv_file(tmp_path / "bins" / "x.bin", "x.jpg", png)  # key claims JPEG, bytes are PNG
    write_kv_file(tmp_path / "bins" / "y.bin", "y", b"BM" + bytes(60))
    assert sorted(p.name for p in bin_to_image(tmp_path / "bins", tmp_path / "out")) == ["x.png", "y.bmp"]


def test_conversion_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=rf"no image files \(jpg/jpeg/png/bmp\) found in {empty}"):
        image_to_bin(empty, tmp_path / "bins")
    with pytest.raises(FileNotFoundError, match=r"no \.bin files found"):
        bin_to_image(empty, tmp_path / "out")
    write_kv_file(tmp_path / "bins" / "gif.bin", "gif.jpg", b"GIF89a....")
    with pytest.raises(ValueError, match=r"gif\.bin: not a JPEG, PNG or BMP image \(starts with 474946"):
        bin_to_image(tmp_path / "bins", tmp_path / "out")
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "a.jpg").write_bytes(b"\xff\xd8\xff")
    (clash / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="would convert to the same output name"):
        image_to_bin(clash, tmp_path / "bins2")
    (empty / "fake.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"fake\.jpg: not a JPEG, PNG or BMP"):
        image_to_bin(empty, tmp_path / "bins3")


def test_rewrite_label_file(tmp_path: Path, small_dataset: Path) -> None:
    entries = rewrite_label_file(small_dataset / "label.txt", tmp_path / "label.txt", ".bin")
    assert entries[0] == ("images/00000001.bin", 0)
    assert read_label_file(tmp_path / "label.txt") == entries
    src = tmp_path / "odd.txt"
    src.write_text("a/b.c/noext\t1\n.hidden\t2\nx.tar.gz\t3\n")
    assert [e.path for e in rewrite_label_file(src, tmp_path / "o.txt", ".jpg")] == [
        "a/b.c/noext.jpg",
        ".hidden.jpg",
        "x.tar.jpg",
    ]
    with pytest.raises(ValueError, match="suffix must look like"):
        rewrite_label_file(src, tmp_path / "o.txt", "bin")


def _write_rec(root: Path, small_dataset: Path) -> list[tuple[int, int, bytes]]:
    """An insightface-style train.rec: header record, 10 images (3 classes), identity records."""
    images = [p.read_bytes() for p in sorted((small_dataset / "images").glob("*.jpg"))]
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2, 1]
    expected = [(key, label, image) for key, (label, image) in enumerate(zip(labels, images, strict=False), start=1)]
    with RecordIOWriter(root / "train.rec", root / "train.idx") as writer:
        writer.write(0, pack_record(IRHeader(2, (11.0, 14.0)), b""))
        for key, label, image in expected:
            writer.write(key, pack_record(IRHeader(0, float(label), key), image))
        for key in (11, 12, 13):
            writer.write(key, pack_record(IRHeader(2, (1.0, 4.0)), struct.pack("<I", MAGIC)))
    return expected


@pytest.mark.parametrize("fmt", ["jpg", "bin"])
def test_rec_to_images(tmp_path: Path, small_dataset: Path, shared_data: Path, fmt: str) -> None:
    root, out = tmp_path / "rec", tmp_path / "out"
    root.mkdir()
    expected = _write_rec(root, small_dataset)
    lfw = (shared_data / "verification" / "small_lfw.bin").read_bytes()
    (root / "lfw.bin").write_bytes(lfw)
    result = rec_to_images(root, out, fmt=fmt, progress=fmt == "bin")
    assert result == {"num_image": 10, "num_classes": 3}
    assert (out / "README.md").read_text() == "num_image: 10\nnum_classes: 3\n"
    assert (out / "lfw.bin").read_bytes() == lfw
    assert not (out / "cfp_fp.bin").exists()
    entries = read_label_file(out / "label.txt")
    assert entries == [(f"images/{key:08d}.{fmt}", label) for key, label, _ in expected]
    for (key, _, image), entry in zip(expected, entries, strict=False):
        if fmt == "jpg":
            assert (out / entry.path).read_bytes() == image
        else:
            assert read_kv_file(out / entry.path) == (f"{key:08d}.jpg", image)


def test_rec_to_images_needs_both_files(tmp_path: Path) -> None:
    (tmp_path / "train.rec").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"train\.idx not found"):
        rec_to_images(tmp_path, tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="fmt must be 'jpg' or 'bin'"):
        rec_to_images(tmp_path, tmp_path / "out", fmt="png")
