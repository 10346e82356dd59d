"""`faceid data check|convert|from-rec` through the command-line entry point."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid.cli.main import main
from faceid.data.recordio import IRHeader, RecordIOWriter, pack_record


@pytest.fixture()
def dataset(tmp_path: Path, small_dataset: Path) -> Path:
    root = tmp_path / "ds"
    shutil.copytree(small_dataset, root)
    return root


def test_check_passes_a_clean_set(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", str(dataset), "--no_progress"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "images: 10" in captured.err and "classes: 10 (labels 0..9)" in captured.err


def test_check_names_every_bad_file(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = sorted((dataset / "images").glob("*.jpg"))
    images[0].write_bytes(images[0].read_bytes()[:300])
    images[1].unlink()
    big = cv2.resize(cv2.imread(str(images[2])), (120, 120))
    cv2.imwrite(str(images[2]), big)
    with (dataset / "label.txt").open("a") as handle:
        handle.write("\nimages/00000001.jpg\t12")  # labels 10 and 11 unused
    assert main(["data", "check", str(dataset), "--no_progress"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"{images[0]}: corrupt:") for line in lines)
    assert f"{images[1]}: missing: file does not exist" in lines
    assert any(line.startswith(f"{images[2]}: size: image is 120x120, expected 112x112") for line in lines)
    assert any("labels are not contiguous: 2 ids unused (10, 11)" in line for line in lines)


def test_convert_round_trip_keeps_bytes_and_labels(dataset: Path, tmp_path: Path) -> None:
    bins, back = tmp_path / "bins", tmp_path / "back"
    label = dataset / "label.txt"
    out_label = tmp_path / "label_bin.txt"
    assert (
        main(
            [
                "data",
                "convert",
                "--image_path",
                str(dataset / "images"),
                "--bin_path",
                str(bins),
                "--mode",
                "image2bin",
                "--label_file",
                str(label),
                "--output_label_file",
                str(out_label),
            ]
        )
        == 0
    )
    assert len(list(bins.glob("*.bin"))) == 10
    # Paths are relative to the new label file's folder and point at the converted files.
    expected = label.read_text().replace("images/", "bins/").replace(".jpg", ".bin")
    assert out_label.read_text().split() == expected.split()
    assert main(["data", "convert", "--image_path", str(back), "--bin_path", str(bins), "--mode", "bin2image"]) == 0
    for original in (dataset / "images").glob("*.jpg"):
        assert (back / original.name).read_bytes() == original.read_bytes()


def test_from_rec_writes_images_and_labels(
    tmp_path: Path, small_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jpgs = sorted((small_dataset / "images").glob("*.jpg"))[:3]
    root = tmp_path / "rec"
    root.mkdir()
    with RecordIOWriter(root / "train.rec", root / "train.idx") as writer:
        writer.write(0, pack_record(IRHeader(2, (4.0, 6.0)), b""))  # images 1..3, identities 4..5
        for key, (jpg, label) in enumerate(zip(jpgs, [0, 1, 1], strict=False), start=1):
            writer.write(key, pack_record(IRHeader(2, (float(label), 0.0)), jpg.read_bytes()))
        for key in (4, 5):
            writer.write(key, pack_record(IRHeader(2, (1.0, 2.0)), b""))
    out = tmp_path / "out"
    assert main(["data", "from-rec", "--root_dir", str(root), "--output_dir", str(out)]) == 0
    assert "num_image: 3" in capsys.readouterr().out
    lines = (out / "label.txt").read_text().split("\n")
    assert [line.split("\t")[1] for line in lines if line] == ["0", "1", "1"]
    for line, jpg in zip(lines, jpgs, strict=False):
        assert (out / line.split("\t")[0]).read_bytes() == jpg.read_bytes()
    assert main(["data", "check", str(out), "--no_progress"]) == 0
    assert np.array_equal(cv2.imread(str(out / lines[0].split("\t")[0])), cv2.imread(str(jpgs[0])))
