"""The whole pipeline on ../shared/data/gallery_dev: every gallery person named, strangers unknown, no false faces.

Uses the offline pretrained models (BlazeFace short range + MobileFace V2 conversions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceid.cli.main import main
from faceid.data.images import load_bgr
from faceid.pipeline.analysis import FaceAnalysis
from faceid.pipeline.enrol import iter_gallery_images

EXPECTED = {
    "obama1.jpg": {"obama"},
    "obama_and_biden.jpg": {"obama", "biden"},
    "kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
    "alex_lacamoire1.jpg": {"alex_lacamoire"},
    "johnsnow_test1.jpg": {"kit_harington"},
}


@pytest.fixture(scope="module")
def app(shared_models: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEID_HOME", str(tmp_path_factory.mktemp("faceid_home")))  # conversions: a temp cache
        analysis = FaceAnalysis("blazeface_short", "mobileface_v2", model_source=shared_models, precision="fp32")
        analysis.index = analysis.build_index(iter_gallery_images(shared_data / "gallery_dev" / "train"))
        yield analysis


def test_every_gallery_person_is_named_and_strangers_are_unknown(app, shared_data: Path) -> None:
    assert app.index.identities == ["alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie"]
    for name, expected in EXPECTED.items():
        faces = app.get(load_bgr(shared_data / "gallery_dev" / "query" / name))
        named = {f.identity for f in faces if f.identity != "unknown"}
        assert named == expected, f"{name}: found {[(f.identity, round(f.sim, 3)) for f in faces]}"
        assert len([f for f in faces if f.identity in expected]) == len(expected), f"{name}: a person named twice"


def test_photos_without_faces_give_no_detections(app, shared_data: Path) -> None:
    for name in ("no_face.png", "no_face_landscape.jpg"):
        assert app.get(load_bgr(shared_data / "faces" / name)) == [], name


def test_build_index_and_predict_commands(
    shared_models: Path, shared_data: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    index = tmp_path / "index.npz"
    source = ["--model-source", str(shared_models)]
    assert (
        main(["build-index", "--img_dir", str(shared_data / "gallery_dev" / "train"), "--output", str(index), *source])
        == 0
    )
    query = shared_data / "gallery_dev" / "query" / "kit_with_rose.jpg"
    assert (
        main(
            [
                "predict",
                "--det",
                "--rec",
                "--index",
                str(index),
                "--input",
                str(query),
                "--output",
                str(tmp_path / "out"),
                *source,
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / "out" / "kit_with_rose.jpg.json").read_text())
    assert {f["identity"] for f in record["faces"]} >= {"kit_harington", "rose_leslie"}
    for face in record["faces"]:
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 < x2 and 0 <= y1 < y2 and 0 < face["score"] <= 1
    assert (tmp_path / "out" / "kit_with_rose.jpg.annotated.jpg").is_file()
    assert f"kit_with_rose.jpg: {len(record['faces'])} face(s)" in capsys.readouterr().out


def test_video_in_annotated_video_and_per_frame_json_out(app, shared_data: Path, tmp_path: Path) -> None:
    import cv2

    from faceid.pipeline.predict import predict_path

    frame = cv2.resize(load_bgr(shared_data / "gallery_dev" / "query" / "obama1.jpg"), (640, 480))
    source = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for shift in range(3):
        writer.write(np.roll(frame, 8 * shift, axis=1))
    writer.release()
    faces = predict_path(app, source, tmp_path / "out", progress=False)["clip.avi"]
    assert [f.identity for f in faces] == ["obama"]
    record = json.loads((tmp_path / "out" / "clip.avi.json").read_text())
    assert [len(r["faces"]) for r in record["frames"]] == [1, 1, 1]
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip.avi.annotated.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()


def test_onet_landmarks_for_alignment_still_name_everyone(
    shared_models: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path))
    app = FaceAnalysis("blazeface_short", "mobileface_v2", model_source=shared_models, landmarks="mtcnn_onet")
    app.index = app.build_index(iter_gallery_images(shared_data / "gallery_dev" / "train"))
    for name, expected in EXPECTED.items():
        faces = app.get(load_bgr(shared_data / "gallery_dev" / "query" / name))
        assert all(f.kps.shape == (5, 2) for f in faces)
        assert {f.identity for f in faces if f.identity != "unknown"} == expected, name


def test_bf16_queries_against_the_fp32_gallery_name_the_same_people(
    app, shared_models: Path, shared_data: Path, cpu_has_bf16: bool
) -> None:
    if not cpu_has_bf16:
        pytest.skip("this CPU has no bf16 instructions (avx512_bf16 / amx_bf16)")
    bf16 = FaceAnalysis("blazeface_short", "mobileface_v2", model_source=shared_models, precision="bf16")
    assert bf16.recognizer.precision == "bf16"
    bf16.index = app.index  # built in fp32
    for name in EXPECTED:
        image = load_bgr(shared_data / "gallery_dev" / "query" / name)
        ours, reference = bf16.get(image), app.get(image)
        assert [f.identity for f in ours] == [f.identity for f in reference], name
        for a, b in zip(ours, reference, strict=True):
            assert float(a.normed_embedding @ b.normed_embedding) >= 0.99


def test_folder_enrolment_stores_the_services_quality_score(app, shared_data: Path) -> None:
    """`faceid gallery add`/`build-index` record the same quality as `POST /v1/subjects/{name}/faces`: the score of
    faceid.pipeline.quality.assess on the largest face's box, keypoints and aligned crop."""
    from faceid.pipeline.align import align
    from faceid.pipeline.enrol import embed_photos
    from faceid.pipeline.quality import assess

    photo = shared_data / "gallery_dev" / "query" / "obama_and_biden.jpg"
    enrolled = embed_photos(app, [("someone", photo)]).faces[0]
    image = load_bgr(photo)
    largest = max(app.detect(image), key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
    expected = assess(largest.bbox, largest.kps, align(image, largest.kps)).score
    assert 0.0 < enrolled.quality <= 1.0 and enrolled.quality == pytest.approx(expected)


def test_folder_enrolment_refuses_a_damaged_jpeg_and_hashes_the_bytes_it_embedded(
    app, shared_data: Path, tmp_path: Path
) -> None:
    """A JPEG whose entropy data is destroyed (OpenCV would decode garbage with a warning) is a failure naming the
    problem, not an enrolled face; a good photo's digest is the SHA-256 of its file."""
    import hashlib

    from faceid.pipeline.enrol import embed_photos

    photo = shared_data / "gallery_dev" / "query" / "obama1.jpg"
    damaged = bytearray(photo.read_bytes())
    damaged[len(damaged) // 2 : len(damaged) // 2 + 200] = b"\xff\x00" * 100
    (tmp_path / "damaged.jpg").write_bytes(bytes(damaged))
    report = embed_photos(app, [("obama", tmp_path / "damaged.jpg"), ("obama", photo)])
    assert [(path.name, "corrupt JPEG" in problem) for path, problem in report.failures] == [("damaged.jpg", True)]
    assert [face.digest for face in report.faces] == [hashlib.sha256(photo.read_bytes()).hexdigest()]
