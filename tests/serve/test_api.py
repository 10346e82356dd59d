"""The HTTP API in-process (TestClient): every endpoint on real photos, every error code, the server still
answering afterwards."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="faceid[serve] is not installed")


def upload(path: Path, field: str = "image") -> tuple[str, tuple[str, bytes, str]]:
    return field, (path.name, path.read_bytes(), "image/jpeg")


def _png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares width x height pixels (its data would inflate to ~30 GB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def _enrol(client, name: str, *paths: Path):
    return client.post(f"/v1/subjects/{name}/faces", files=[upload(p, "images") for p in paths])


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert response.headers["x-request-id"]
    return body["error"]["message"]


def _healthy(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "models": True, "store": True}


def test_detect_embed_verify_match_the_library(client, engine, gallery_dev: Path, shared_data: Path) -> None:
    import cv2

    from faceid.embeddings import l2_normalize
    from faceid.pipeline.align import alignment_matrix

    photo = gallery_dev / "query" / "kit_with_rose.jpg"
    faces = client.post("/v1/detect", files=[upload(photo)]).json()["faces"]
    reference = engine.detector.detect(cv2.imread(str(photo)))
    assert len(faces) == len(reference) == 2
    for got, want in zip(faces, reference, strict=False):
        np.testing.assert_allclose(got["box"], want.box, atol=0.01)
        np.testing.assert_allclose(got["landmarks"], want.keypoints, atol=0.01)
    embedded = client.post("/v1/embed", files=[upload(photo)]).json()
    assert embedded["model"] == "mobileface_v2" and len(embedded["faces"]) == 2
    image = cv2.imread(str(photo))
    for got, want in zip(embedded["faces"], reference, strict=False):
        direct = l2_normalize(engine.recognizer.embed_warped(image, alignment_matrix(want.keypoints)[None]))[0]
        assert float(np.dot(got["embedding"], direct)) > 0.9999
    same = client.post(
        "/v1/verify",
        files=[
            upload(shared_data / "faces/lfw_Rob_Lowe_0001.jpg", "image1"),
            upload(shared_data / "faces/lfw_Rob_Lowe_0002.jpg", "image2"),
        ],
    ).json()
    other = client.post(
        "/v1/verify",
        files=[
            upload(shared_data / "faces/lfw_Rob_Lowe_0001.jpg", "image1"),
            upload(shared_data / "faces/lfw_Nathalie_Baye_0002.jpg", "image2"),
        ],
    ).json()
    assert same["same"] is True and same["similarity"] >= same["threshold"] == 0.4
    assert other["same"] is False and other["similarity"] < 0.4


def test_enrol_identify_list_delete(client, gallery_dev: Path) -> None:
    train = gallery_dev / "train"
    for person in ("obama", "biden", "kit_harington", "rose_leslie"):
        photos = sorted((train / person).iterdir())
        if person == "rose_leslie":  # the JSON spelling: base64 images
            images = [base64.b64encode(p.read_bytes()).decode() for p in photos]
            response = client.post(f"/v1/subjects/{person}/faces", json={"images": images})
        else:
            response = _enrol(client, person, *photos)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["rejected"] == [] and len(body["added"]) == len(list((train / person).iterdir()))
        assert all(0 < a["quality"] <= 1 for a in body["added"])
    listed = client.get("/v1/subjects").json()["subjects"]
    assert [(s["name"], s["faces"]) for s in listed] == [
        ("biden", 2),
        ("kit_harington", 2),
        ("obama", 2),
        ("rose_leslie", 2),
    ]
    faces = client.post("/v1/identify", files=[upload(gallery_dev / "query/kit_with_rose.jpg")]).json()["faces"]
    assert sorted(f["identity"] for f in faces) == ["kit_harington", "rose_leslie"]
    for face in faces:
        assert face["candidates"][0]["name"] == face["identity"]
        assert face["similarity"] == face["candidates"][0]["similarity"] >= 0.4
    group = client.post("/v1/identify", files=[upload(gallery_dev / "query/obama_and_biden.jpg")]).json()["faces"]
    assert sorted(f["identity"] for f in group) == ["biden", "obama", "unknown"]
    # JSON base64 input gives the same answer as multipart; limit restricts the candidates.
    encoded = base64.b64encode((gallery_dev / "query/obama1.jpg").read_bytes()).decode()
    by_json = client.post("/v1/identify", json={"image": encoded, "limit": 1}).json()["faces"]
    assert [f["identity"] for f in by_json] == ["obama"] and len(by_json[0]["candidates"]) == 1
    detail = client.get("/v1/subjects/obama").json()
    assert detail["name"] == "obama" and len(detail["faces"]) == 2
    assert all(len(f["image_sha256"]) == 64 and f["det_score"] > 0.75 for f in detail["faces"])
    # Delete one face, then the whole subject: obama is no longer found.
    first = detail["faces"][0]["face_id"]
    assert client.delete(f"/v1/faces/{first}").json() == {"face_id": first, "subject": "obama"}
    assert len(client.get("/v1/subjects/obama").json()["faces"]) == 1
    assert client.delete("/v1/subjects/obama").json() == {"name": "obama", "removed_faces": 1}
    again = client.post("/v1/identify", files=[upload(gallery_dev / "query/obama1.jpg")]).json()["faces"]
    assert [f["identity"] for f in again] == ["unknown"]
    assert "obama" not in [s["name"] for s in client.get("/v1/subjects").json()["subjects"]]


def test_enrolment_rejections(client, gallery_dev: Path, shared_data: Path, tmp_path: Path) -> None:
    import cv2

    no_face = shared_data / "faces/no_face.png"
    _error(_enrol(client, "x", no_face), 422, "no_face")
    message = _error(_enrol(client, "x", gallery_dev / "query/kit_with_rose.jpg"), 422, "several_faces")
    assert "2 faces" in message
    blurred = tmp_path / "blurred.jpg"
    cv2.imwrite(str(blurred), cv2.GaussianBlur(cv2.imread(str(gallery_dev / "train/biden/biden.jpg")), (0, 0), 6))
    assert "blurred" in _error(_enrol(client, "x", blurred), 422, "low_quality")
    # A mixed request keeps the good photo and says why the others were refused.
    mixed = _enrol(client, "biden", gallery_dev / "train/biden/biden.jpg", no_face, blurred).json()
    assert len(mixed["added"]) == 1
    assert {(r["filename"], r["code"]) for r in mixed["rejected"]} == {
        ("no_face.png", "no_face"),
        ("blurred.jpg", "low_quality"),
    }
    # The same image again: a no-op that says so.
    assert "already enrolled as 'biden'" in _error(
        _enrol(client, "someone", gallery_dev / "train/biden/biden.jpg"), 409, "already_enrolled"
    )
    _error(
        client.post("/v1/subjects/unknown/faces", files=[upload(gallery_dev / "train/obama/obama.jpg", "images")]),
        422,
        "validation_error",
    )
    _healthy(client)


def test_bad_requests_get_their_code_and_the_server_keeps_serving(client, gallery_dev: Path) -> None:
    good = gallery_dev / "query/obama1.jpg"
    jpeg = good.read_bytes()
    cases = [
        (("image", ("x.jpg", b"this is text, not an image", "image/jpeg")), 400, "not_an_image"),
        (("image", ("x.jpg", b"", "image/jpeg")), 400, "not_an_image"),
        (("image", ("x.jpg", jpeg[: len(jpeg) // 2], "image/jpeg")), 400, "corrupt_image"),
        (("image", ("x.jpg", jpeg[:40], "image/jpeg")), 400, "corrupt_image"),
        (("image", ("bomb.png", _png_bomb(), "image/png")), 413, "too_large"),
        (("other", ("x.jpg", jpeg, "image/jpeg")), 400, "missing_field"),
    ]
    for part, status, code in cases:
        _error(client.post("/v1/detect", files=[part]), status, code)
        assert len(client.post("/v1/detect", files=[upload(good)]).json()["faces"]) == 1
    _error(
        client.post("/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"}), 415, "unsupported_media_type"
    )
    _error(
        client.post("/v1/detect", content=b"x=1", headers={"content-type": "text/plain"}), 415, "unsupported_media_type"
    )
    _error(
        client.post("/v1/detect", content=b"{not json", headers={"content-type": "application/json"}),
        400,
        "bad_request",
    )
    _error(client.post("/v1/detect", json={"image": "***"}), 400, "not_an_image")
    _error(client.post("/v1/detect", json={}), 400, "missing_field")
    _error(client.post("/v1/detect", data={"image": "text"}, files=[("x", ("y", b"z"))]), 400, "not_an_image")
    _error(client.post("/v1/verify", files=[upload(good, "image1")]), 400, "missing_field")
    _error(client.post("/v1/identify", files=[upload(good)], data={"limit": "0"}), 422, "validation_error")
    _error(client.post("/v1/identify", files=[upload(good)], data={"threshold": "abc"}), 422, "validation_error")
    _error(client.get("/v1/subjects/nobody"), 404, "unknown_subject")
    _error(client.delete("/v1/subjects/nobody"), 404, "unknown_subject")
    _error(client.delete("/v1/faces/12345"), 404, "unknown_face")
    _error(client.delete("/v1/faces/0"), 422, "validation_error")
    _error(client.get("/v1/nothing"), 404, "not_found")
    _error(client.put("/v1/detect"), 405, "method_not_allowed")
    _error(client.get(f"/v1/subjects/{'a' * 200}"), 422, "validation_error")
    _healthy(client)


def test_verify_without_a_face_and_too_many_faces(make_client, gallery_dev: Path, shared_data: Path) -> None:
    client = make_client(max_faces=1)
    message = _error(
        client.post(
            "/v1/verify",
            files=[
                upload(gallery_dev / "query/obama1.jpg", "image1"),
                upload(shared_data / "faces/no_face_landscape.jpg", "image2"),
            ],
        ),
        422,
        "no_face",
    )
    assert "no_face_landscape.jpg" in message
    _error(client.post("/v1/identify", files=[upload(gallery_dev / "query/kit_with_rose.jpg")]), 422, "too_many_faces")
    _healthy(client)


def test_size_limits(make_client, gallery_dev: Path) -> None:
    import cv2

    photo = gallery_dev / "query/obama1.jpg"
    small = make_client(max_upload_bytes=30_000, max_pixels=1_000_000, max_images=2)
    assert "bytes" in _error(small.post("/v1/detect", files=[upload(photo)]), 413, "too_large")
    image = cv2.imread(str(photo))
    height, width = image.shape[:2]
    assert width * height > 1_000_000
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 5])
    assert ok and len(encoded) < 30_000
    message = _error(
        small.post("/v1/detect", files=[("image", ("big.jpg", encoded.tobytes(), "image/jpeg"))]), 413, "too_large"
    )
    assert f"{width}x{height}" in message
    # A body larger than every allowed upload is refused from its Content-Length.
    huge = io.BytesIO(b"\xff\xd8\xff" + b"\0" * 400_000)
    _error(small.post("/v1/detect", files=[("image", ("huge.jpg", huge, "image/jpeg"))]), 413, "too_large")
    assert small.get("/healthz").status_code == 200


def test_api_key(make_client, gallery_dev: Path) -> None:
    client = make_client(api_key="s3cret")
    photo = gallery_dev / "query/obama1.jpg"
    _error(client.post("/v1/detect", files=[upload(photo)]), 401, "unauthorized")
    _error(client.get("/v1/subjects", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    assert client.get("/v1/subjects", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/v1/subjects", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/healthz").status_code == 200  # probes and the page need no key
    assert client.get("/").status_code == 200


def test_request_id_metrics_docs_and_page(client, gallery_dev: Path) -> None:
    response = client.get("/v1/subjects", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/v1/subjects", headers={"X-Request-ID": "bad id\twith tab"}).headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert _enrol(client, "obama", gallery_dev / "train/obama/obama.jpg").status_code == 200
    client.post("/v1/detect", files=[("image", ("x.jpg", b"nope", "image/jpeg"))])
    text = client.get("/metrics").text
    assert 'faceid_requests_total{method="GET",route="/v1/subjects",status="200"} 2.0' in text
    assert 'faceid_requests_total{method="POST",route="/v1/detect",status="400"} 1.0' in text
    assert 'faceid_request_seconds_count{route="/v1/subjects/{name}/faces"} 1.0' in text
    assert "faceid_faces_enrolled 1.0" in text
    schema = client.get("/openapi.json").json()
    for path in (
        "/v1/detect",
        "/v1/embed",
        "/v1/verify",
        "/v1/identify",
        "/v1/subjects/{name}/faces",
        "/v1/subjects",
        "/v1/subjects/{name}",
        "/v1/faces/{face_id}",
        "/healthz",
        "/metrics",
    ):
        assert path in schema["paths"], path
    assert "multipart/form-data" in schema["paths"]["/v1/identify"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200
    page = client.get("/").text
    assert "/v1/identify" in page and "<canvas" in page and "http" not in page.split("<script>")[1].split("fetch(")[0]


def _hundred_faces(shared_data: Path) -> bytes:
    """A 1500x1500 JPEG: a 10x10 grid of the LFW faces (the detector finds ~70 of the 100)."""
    import cv2

    faces = [cv2.imread(str(p))[50:200, 50:200] for p in sorted((shared_data / "faces").glob("lfw_*.jpg"))]
    grid = np.zeros((1500, 1500, 3), np.uint8)
    for i in range(100):
        row, col = divmod(i, 10)
        grid[row * 150 : row * 150 + 150, col * 150 : col * 150 + 150] = faces[i % len(faces)]
    ok, data = cv2.imencode(".jpg", grid)
    assert ok
    return data.tobytes()


def test_a_hundred_face_image(client, shared_data: Path, gallery_dev: Path) -> None:
    crowd = ("crowd.jpg", _hundred_faces(shared_data), "image/jpeg")
    message = _error(client.post("/v1/identify", files=[("image", crowd)]), 422, "too_many_faces")
    assert int(message.split(": ")[1].split(" ")[0]) > 50
    _error(client.post("/v1/subjects/crowd/faces", files=[("images", crowd)]), 422, "several_faces")
    assert len(client.post("/v1/detect", files=[upload(gallery_dev / "query/obama1.jpg")]).json()["faces"]) == 1
    _healthy(client)


def test_concurrent_requests_share_recogniser_calls(engine, gallery_dev: Path) -> None:
    """Eight threads embedding at once: fewer model calls than requests, and each gets its own embeddings
    (equal to embedding alone)."""
    import threading

    import cv2

    photos = [cv2.imread(str(p)) for p in sorted((gallery_dev / "query").glob("*.jpg"))]
    detected = [engine.detect(image) for image in photos]
    alone = [
        [f.embedding.copy() for f in engine.embed(image, faces)] for image, faces in zip(photos, detected, strict=False)
    ]
    calls_before = engine.batcher.calls
    results: dict[int, list[np.ndarray]] = {}
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        image, faces = photos[i % len(photos)], detected[i % len(photos)]
        copies = [type(f)(f.box, f.score, f.keypoints) for f in faces]
        barrier.wait()
        results[i] = [f.embedding for f in engine.embed(image, copies)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(8):
        for got, want in zip(results[i], alone[i % len(photos)], strict=False):
            assert float(got @ want) > 0.99999
    assert engine.batcher.calls - calls_before < 8


def test_a_bug_is_answered_500_in_the_envelope(client, engine, gallery_dev: Path, monkeypatch) -> None:
    def broken(image):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "detect", broken)
    response = client.post("/v1/detect", files=[upload(gallery_dev / "query/obama1.jpg")])
    message = _error(response, 500, "internal")
    assert response.headers["x-request-id"] in message and "boom" not in message
    monkeypatch.undo()
    assert len(client.post("/v1/detect", files=[upload(gallery_dev / "query/obama1.jpg")]).json()["faces"]) == 1
