"""Bad input through the real `faceid` command: one line on stderr naming the problem, the right exit code, no
traceback, the good inputs still processed and no existing file changed.

Flag-value cases fail while parsing (no model is loaded); the few runs that load a detector share one prepared
model cache (``FACEID_HOME``) for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest


def _faceid(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("FACEID_DEBUG", "GLOG_minloglevel", "GLOG_v")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "faceid", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def _lines(text: str) -> list[str]:
    return text.splitlines()  # nothing filtered: every line the user would see counts


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time (ns)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def _one_error_line(result: subprocess.CompletedProcess, code: int, *names: str) -> str:
    """Exit ``code``, no traceback, exactly one stderr line, which names each of ``names``."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = _lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("faceid: error: "), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert result.returncode == code, (result.returncode, result.stderr)
    return lines[0]


# ------------------------------------------------------------------------------------------------ bad files
def _png_bomb(width: int = 14000, height: int = 14000) -> bytes:
    """A valid 8-bit grayscale PNG of ``width x height`` black pixels (~190 KB on disk, 588 MB decoded as BGR)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte + pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _truncated_video(path: Path, frame: np.ndarray) -> None:
    """An MJPG AVI of 10 frames cut in half: it opens, 5 frames read, then the data ends."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, frame.shape[1::-1])
    for shift in range(10):
        writer.write(np.roll(frame, 4 * shift, axis=1))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def face_jpeg(shared_data: Path) -> bytes:
    return (shared_data / "faces" / "obama_small.jpg").read_bytes()


def _bad_files(folder: Path, face_jpeg: bytes) -> dict[str, str]:
    """Writes the bad inputs into ``folder``; returns ``{file name: words its error line must hold}``."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    damaged = bytearray(face_jpeg)
    middle = len(damaged) // 2
    damaged[middle : middle + 200] = b"\xff\x00" * 100  # entropy data destroyed, markers intact
    (folder / "corrupt.jpg").write_bytes(bytes(damaged))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a photo\n")
    (folder / "bomb.png").write_bytes(_png_bomb())
    frame = cv2.resize(cv2.imdecode(np.frombuffer(face_jpeg, np.uint8), cv2.IMREAD_COLOR), (160, 120))
    _truncated_video(folder / "truncated.avi", frame)
    return {
        "corrupt.jpg": "corrupt JPEG",
        "empty.jpg": "empty file",
        "text.jpg": "not a JPEG, PNG or BMP",
        "bomb.png": "14000x14000",
        "truncated.avi": "video ends at frame 5 of 10",
    }


@pytest.fixture(scope="module")
def model_env(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """FACEID_HOME with the detector converted once for the module, and the offline model source."""
    env = {"FACEID_HOME": str(tmp_path_factory.mktemp("faceid_home")), "FACEID_MODEL_SOURCE": str(shared_models)}
    result = _faceid("models", "get", "blazeface_short", env=env)
    assert result.returncode == 0, result.stderr
    return env


# ------------------------------------------------------------------------------------------------ flag values
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["predict", "--det", "--cdd_num", "0"], "--cdd_num"),
        (["predict", "--det", "--det_thresh", "5"], "--det_thresh"),
        (["predict", "--det", "--max_batch_size", "0"], "--max_batch_size"),
        (["predict", "--det", "--cpu_threads", "-1"], "--cpu_threads"),
        (["predict", "--det", "--rec_thresh", "nan"], "--rec_thresh"),
        (["predict", "--det", "--det_model", "yolo"], "--det_model"),
        (["build-index", "--img_dir", "g", "--output", "i.npz", "--det_thresh", "-0.1"], "--det_thresh"),
        (["bench", "decode", "--count", "0"], "--count"),
        (["export", "--network", "resnet9000", "--checkpoint", "c", "--output", "e"], "--network"),
        (["eval", "--network", "resnet9000", "--checkpoint", "c", "--data_dir", "d"], "--network"),
        (["eval", "--model", "m", "--data_dir", "d", "--batch_size", "0"], "--batch_size"),
        (["train", "--loss", "TripletLoss"], "--loss"),
        (["train", "--network", "resnet9000"], "--network"),
        (["data", "check", "d", "--num_workers", "0"], "--num_workers"),
        (["data", "synth", "--output", "s", "--identities", "0"], "--identities"),
    ],
)
def test_bad_flag_values_fail_while_parsing(args: list[str], flag: str, tmp_path: Path) -> None:
    if args[0] == "predict":
        args = [*args, "--input", "in.jpg", "--output", "out"]
    result = _faceid(*args, cwd=tmp_path)
    line = _one_error_line(result, 2, flag)
    assert "expected" in line or "choose from" in line or "invalid choice" in line, line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unknown_names_list_only_valid_choices(tmp_path: Path) -> None:
    line = _one_error_line(_faceid("train", "--loss", "Triplet", cwd=tmp_path), 2, "--loss")
    assert "ArcFace" in line and "CosFace" in line and "SphereFace" in line and "Softmax" in line
    line = _one_error_line(_faceid("bench", "embed", "--network", "nope", cwd=tmp_path), 2, "--network")
    assert "MobileFaceNet_128" in line and "iresnet50" in line


def test_device_flags_that_cannot_work_here_fail_before_loading(tmp_path: Path, face_jpeg: bytes) -> None:
    import paddle

    photo = tmp_path / "in" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes(face_jpeg)
    base = ["predict", "--det", "--input", str(photo), "--output", str(tmp_path / "out")]
    _one_error_line(_faceid(*base, "--precision", "fp16", cwd=tmp_path), 2, "--precision fp16")
    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        pytest.skip("a GPU is usable here: --use_gpu is valid")
    _one_error_line(_faceid(*base, "--use_gpu", cwd=tmp_path), 2, "--use_gpu")
    assert not (tmp_path / "out").exists()


def test_every_help_entry_has_a_description() -> None:
    import argparse

    from faceid.cli.main import build_parser

    def walk(parser: argparse.ArgumentParser, name: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for sub, subparser in action.choices.items():
                    assert helps.get(sub), f"{name} {sub}: no description"
                    yield from walk(subparser, f"{name} {sub}")
            elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                yield name, action

    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}" for name, a in walk(build_parser(), "faceid") if not a.help
    ]
    assert missing == []


# ------------------------------------------------------------------------------------------------ predict
def test_output_inside_the_input_is_refused_before_anything(tmp_path: Path, face_jpeg: bytes) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(face_jpeg)
    before = _snapshot(photos)
    for output in (photos, photos / "annotated"):
        result = _faceid("predict", "--det", "--input", str(photos), "--output", str(output))
        _one_error_line(result, 2, str(output), "inside --input")
        assert _snapshot(photos) == before


def test_missing_input_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jpg"
    result = _faceid("predict", "--det", "--input", str(missing), "--output", str(tmp_path / "out"))
    _one_error_line(result, 1, str(missing), "not found")


def test_debug_flag_and_variable_show_the_traceback(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.jpg")
    args = ["predict", "--det", "--input", missing, "--output", str(tmp_path / "out")]
    for result in (_faceid("--debug", *args), _faceid(*args, env={"FACEID_DEBUG": "1"})):
        assert result.returncode == 1 and "Traceback" in result.stderr and "input not found" in result.stderr


@pytest.mark.slow
def test_a_folder_of_good_and_bad_files_goes_on_and_names_each(
    tmp_path: Path, face_jpeg: bytes, model_env: dict[str, str]
) -> None:
    import cv2

    photos = tmp_path / "photos"
    expected = _bad_files(photos, face_jpeg)
    (photos / "x.jpg").write_bytes(face_jpeg)  # two inputs with one stem: x.jpg and x.png
    cv2.imwrite(str(photos / "x.png"), cv2.imdecode(np.frombuffer(face_jpeg, np.uint8), cv2.IMREAD_COLOR))
    before = _snapshot(photos)
    out = tmp_path / "out"
    result = _faceid("predict", "--det", "--input", str(photos), "--output", str(out), env=model_env)

    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = _lines(result.stderr)
    assert len(lines) == len(expected) + 1, result.stderr  # one per bad file, then the summary
    for name, words in expected.items():
        naming = [line for line in lines if str(photos / name) in line]
        assert len(naming) == 1 and words in naming[0], (name, lines)
    assert lines[-1].startswith(f"faceid: error: {len(expected)} of {len(expected) + 2} inputs failed: ")
    assert all(name in lines[-1] for name in expected)
    # both x.jpg and x.png processed into their own files; the input folder is untouched
    for name, annotated in (("x.jpg", "x.jpg.annotated.jpg"), ("x.png", "x.png.annotated.png")):
        faces = json.loads((out / f"{name}.json").read_text())["faces"]
        assert len(faces) == 1 and faces[0]["score"] >= 0.75, name
        assert cv2.imread(str(out / annotated)) is not None
        assert f"{name}: 1 face(s)" in result.stdout
    assert _snapshot(photos) == before
    # the truncated video kept the frames it had
    frames = json.loads((out / "truncated.avi.json").read_text())["frames"]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3, 4]
    assert not (out / "x.json").exists() and not (out / "x.jpg").exists()


def test_fail_fast_stops_at_the_first_bad_file(tmp_path: Path, face_jpeg: bytes, model_env: dict[str, str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a_text.jpg").write_text("not a photo")
    (photos / "b_good.jpg").write_bytes(face_jpeg)
    out = tmp_path / "out"
    result = _faceid("predict", "--det", "--fail-fast", "--input", str(photos), "--output", str(out), env=model_env)
    _one_error_line(result, 1, str(photos / "a_text.jpg"), "not a JPEG")
    assert not (out / "b_good.jpg.json").exists()


def test_a_single_bad_photo_is_one_line(tmp_path: Path, model_env: dict[str, str]) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_text("<html>not a photo</html>")
    result = _faceid("predict", "--det", "--input", str(photo), "--output", str(tmp_path / "out"), env=model_env)
    _one_error_line(result, 1, str(photo), "not a JPEG, PNG or BMP image")


# ------------------------------------------------------------------------------------------------ eval, data check
@pytest.mark.slow
def test_eval_goes_on_past_a_bad_set(tmp_path: Path, exported_model, shared_data: Path) -> None:
    export_dir, _ = exported_model
    data = tmp_path / "sets"
    data.mkdir()
    shutil.copy(shared_data / "verification" / "small_lfw.bin", data / "lfw.bin")
    (data / "cfp_fp.bin").write_bytes(b"\x80\x04not a pickle")
    result = _faceid(
        "eval", "--model", str(export_dir), "--data_dir", str(data), "--val_targets", "cfp_fp,lfw,agedb_30"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = _lines(result.stderr)
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith(f"{data / 'cfp_fp.bin'}: ") and lines[1].startswith(f"{data / 'agedb_30.bin'}: ")
    assert lines[2] == f"faceid: error: 2 of 3 set(s) failed: {data / 'cfp_fp.bin'}, {data / 'agedb_30.bin'}"
    assert "[lfw][1]Accuracy-Flip" in result.stdout  # the good set after the bad one was scored


def test_data_check_reports_every_bad_image(tmp_path: Path, face_jpeg: bytes) -> None:
    import cv2

    root = tmp_path / "train"
    (root / "images").mkdir(parents=True)
    face = cv2.resize(cv2.imdecode(np.frombuffer(face_jpeg, np.uint8), cv2.IMREAD_COLOR), (112, 112))
    cv2.imwrite(str(root / "images" / "good.jpg"), face)
    (root / "images" / "empty.jpg").write_bytes(b"")
    (root / "images" / "text.jpg").write_text("hello")
    (root / "label.txt").write_text("images/empty.jpg\t0\nimages/good.jpg\t0\nimages/text.jpg\t1\n")
    before = _snapshot(root)
    result = _faceid("data", "check", str(root))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    problems = _lines(result.stdout)
    assert len(problems) == 2 and {p.split(": ")[0] for p in problems} == {
        str(root / "images" / "empty.jpg"),
        str(root / "images" / "text.jpg"),
    }
    assert "problems: 2" in result.stderr
    assert _snapshot(root) == before
    # each problem is handed over as it is found (what the command prints), the same as the final report
    from faceid.data.check import check_dataset

    seen = []
    report = check_dataset(root, progress=False, on_problem=seen.append)
    assert seen == report.problems and [p.line() for p in seen] == problems


# ------------------------------------------------------------------------------------------------ demo data lookup
def test_demo_without_shared_data_says_where_it_looked(tmp_path: Path) -> None:
    empty = tmp_path / "no_shared_here"
    result = _faceid("demo", env={"FACEID_SHARED": str(empty)}, cwd=tmp_path)
    _one_error_line(result, 1, str(empty), "FACEID_SHARED", "--gallery")
    assert not (tmp_path / "faceid_demo_output").exists()


def test_shared_folder_is_found_from_the_installed_checkout_not_the_working_folder(tmp_path: Path) -> None:
    import faceid

    repo = Path(__file__).resolve().parents[2]
    if repo not in Path(faceid.__file__).resolve().parents:
        pytest.skip("faceid is not installed editable from this checkout")
    code = "from faceid.paths import shared_candidates; print(shared_candidates()[0])"
    environ = {k: v for k, v in os.environ.items() if k != "FACEID_SHARED"}
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, cwd=tmp_path, check=False
    )
    assert found.returncode == 0 and Path(found.stdout.strip()) == repo.parent / "shared"


@pytest.mark.slow
def test_quiet_by_default_and_verbose_on_request(tmp_path: Path, face_jpeg: bytes, model_env: dict[str, str]) -> None:
    photo = tmp_path / "in" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes(face_jpeg)
    args = ["predict", "--det", "--input", str(photo), "--output", str(tmp_path / "out")]
    result = _faceid(*args, env=model_env)
    assert result.returncode == 0 and result.stderr == "", result.stderr  # no glog, ccache or FFmpeg lines
    assert result.stdout.startswith("a.jpg: 1 face(s)")
    verbose = _faceid("-v", *args, env=model_env)  # Paddle's own start-up lines are shown again
    assert verbose.returncode == 0 and ("ccache" in verbose.stderr or "Executor" in verbose.stderr), verbose.stderr
