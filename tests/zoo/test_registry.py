"""The pretrained-model registry: every model known after ``import faceid.zoo``, every record complete."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from faceid.zoo import convert, get_record, list_records
from faceid.zoo.registry import resolve
from faceid.zoo.tflite import read_tflite

# The models faceid offers (README "Pretrained models"); a new record must be added here on purpose.
EXPECTED = {
    "arcface_iresnet50_v1.0_infer",
    "blazeface_fpn_ssh_1000e_v1.0_infer",
    "blazeface_full",
    "blazeface_short",
    "mobileface_v1.0_infer",
    "mobileface_v2",
    "mtcnn_onet",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_model_is_known_after_importing_the_package_alone(name: str) -> None:
    code = (
        "import sys, faceid.zoo\n"
        f"record = faceid.zoo.get_record({name!r})\n"
        "heavy = sorted({'paddle', 'cv2'} & set(sys.modules))\n"
        "print(record.name, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [name, "[]"], "the registry import must not pull in Paddle or OpenCV"


def test_the_registry_holds_exactly_the_offered_models() -> None:
    assert {record.name for record in list_records()} == EXPECTED
    with pytest.raises(ValueError, match=r"unknown pretrained model 'nope'; known: arcface_iresnet50"):
        get_record("nope")


@pytest.mark.parametrize("record", list_records(), ids=lambda r: r.name)
def test_every_record_is_complete(record) -> None:
    assert record.task in ("detection", "recognition", "landmarks")
    assert record.files and record.licence and record.architecture
    for entry in record.files:
        assert entry.path and "/" in entry.path and not Path(entry.path).is_absolute()
        assert entry.url.startswith("https://"), entry
        if entry.sha256 is None:
            assert "SHA-256 unknown" in record.caution, f"{record.name}: no hash and no reason given"
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry
    assert callable(resolve(record.converter)), record.converter
    assert callable(resolve(record.loader)), record.loader
    assert record.loads in ("layer", "export", "predictor")
    assert len(record.mean) == len(record.std) == 3 and record.color in ("RGB", "BGR")


# Arcface-Paddle's tarballs ship no licence file; their records are checked in tests/zoo/test_arcface_paddle.py.
_WITH_LICENCE_FILE = [r for r in list_records() if r.files[0].sha256 and "archive" not in r.extra]


@pytest.mark.parametrize("record", _WITH_LICENCE_FILE, ids=lambda r: r.name)
def test_the_licence_is_the_one_shipped_with_the_weights(record, shared_models: Path) -> None:
    folder = shared_models / Path(record.files[0].path).parent
    licences = [path for path in folder.iterdir() if path.name.upper().startswith("LICENSE")]
    assert len(licences) == 1, f"{folder}: {licences}"
    first = licences[0].read_text().split("\n", 1)[0].strip()
    expected = {"MIT License": "MIT", "Apache License": "Apache-2.0"}[first]
    assert record.licence.startswith(expected), record.licence


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../inference.pdmodel": b"x", "inference.pdiparams": b"y"}, "refusing member '../inference.pdmodel'"),
        ({"m/inference.pdmodel": b"x"}, "missing inference.pdiparams"),
    ],
)
def test_a_bad_tarball_is_refused_and_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, members: dict[str, bytes], message: str
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    (tmp_path / "seed").mkdir()
    _tarball(tmp_path / "seed" / "arcface_iresnet50_v1.0_infer.tar", members)
    with pytest.raises(ValueError, match=re.escape(message)):
        convert("arcface_iresnet50_v1.0_infer", source=tmp_path)
    assert not (tmp_path / "home" / "models" / "arcface_iresnet50_v1.0_infer").exists()
    assert not list((tmp_path / "home" / "models").glob(".*"))  # no staging folder left behind


@pytest.mark.parametrize("name", ["blazeface_short", "blazeface_full"])
def test_blazeface_record_agrees_with_the_real_file(name: str, shared_model_file, shared_sha256sums) -> None:
    """The record's hash is the file's real SHA-256 (and ../shared/SHA256SUMS's); its input size and anchor layout
    are what the graph itself declares."""
    from faceid.ops.detect import ssd_anchors

    record = get_record(name)
    path = shared_model_file(record.files[0].path)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.files[0].sha256 == actual
    if shared_sha256sums:
        assert shared_sha256sums[f"./models/{record.files[0].path}"] == actual
    model = read_tflite(path)
    assert model.tensors[model.inputs[0]].shape == (1, *record.input_size, 3)  # NHWC
    anchors = ssd_anchors(record.input_size[0], tuple(record.extra["strides"]), record.extra["anchors_per_layer"])
    outputs = sorted(model.tensors[i].shape for i in model.outputs)
    assert (
        outputs
        == [(1, len(anchors), 1), (1, len(anchors), 16)]
        == [(1, record.extra["num_anchors"], k) for k in (1, 16)]
    )
