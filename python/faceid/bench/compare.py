"""Which recogniser and detector to default to, measured on what ``../shared`` holds (``faceid bench compare``).

Recognisers (MobileFace V2, Arcface-Paddle's MobileFaceNet ``mobileface_v1.0_infer``), each on:

* ``small_lfw.bin``: its 10 same-person pairs against the 170 different-person pairs across them (README of the
  data: pairs 0..9 show 6 people);
* a pair set of raw photos, detected (BlazeFace short range) and aligned end to end: the gallery_dev photos of one
  person plus the single-face LFW / portrait photos, every pair of faces with a known name;
* gallery_dev: the gallery built from ``train/``, then each query face's similarity to its own person and the
  margin to the best other person.

Detectors (BlazeFace short range with tiling, full range, BlazeFace-FPN-SSH as the wheel runs it): faces found
on every shared photo against the number it shows, and ms per photo. The README's table comes from here.
"""

from __future__ import annotations

import time
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_comparison", "run_comparison"]

RECOGNISERS = ("mobileface_v2", "mobileface_v1.0_infer")
DETECTORS = ("blazeface_short", "blazeface_full", "blazeface_fpn_ssh")
SMALL_LFW_PEOPLE = [0, 1, 1, 2, 3, 3, 4, 4, 4, 5]  # ../shared/data/README.md: the person of each pair
# photos showing exactly one known person (../shared/data/README.md)
NAMED_PHOTOS = {
    "faces/lfw_Rob_Lowe_0001.jpg": "rob_lowe",
    "faces/lfw_Rob_Lowe_0002.jpg": "rob_lowe",
    "faces/lfw_Nathalie_Baye_0002.jpg": "nathalie_baye",
    "faces/obama_small.jpg": "obama",
    "faces/astronaut.png": "eileen_collins",
    "gallery_dev/query/obama1.jpg": "obama",
    "gallery_dev/query/alex_lacamoire1.jpg": "alex_lacamoire",
    "gallery_dev/query/johnsnow_test1.jpg": "kit_harington",
}
# faces each photo shows (obama_and_biden: Obama, Biden and a girl; a fourth face is cut off by the edge)
FACE_COUNTS = {
    "faces/astronaut.png": 1, "faces/lfw_Nathalie_Baye_0002.jpg": 1, "faces/lfw_Rob_Lowe_0001.jpg": 1,
    "faces/lfw_Rob_Lowe_0002.jpg": 1, "faces/obama_small.jpg": 1, "faces/two_people.jpg": 2,
    "faces/no_face.png": 0, "faces/no_face_landscape.jpg": 0, "gallery_dev/query/obama1.jpg": 1,
    "gallery_dev/query/alex_lacamoire1.jpg": 1, "gallery_dev/query/johnsnow_test1.jpg": 1,
    "gallery_dev/query/kit_with_rose.jpg": 2, "gallery_dev/query/obama_and_biden.jpg": 3,
}  # fmt: skip


def _auc(same: np.ndarray, different: np.ndarray) -> float:
    """ROC AUC: the chance that a same-person pair scores above a different-person pair (ties count half)."""
    above = (same[:, None] > different[None, :]).mean() + 0.5 * (same[:, None] == different[None, :]).mean()
    return float(above)


def _pair_stats(embeddings: np.ndarray, names: list) -> dict[str, float]:
    same, different = [], []
    for i, j in combinations(range(len(names)), 2):
        (same if names[i] == names[j] else different).append(float(embeddings[i] @ embeddings[j]))
    same_a, diff_a = np.array(same), np.array(different)
    return {
        "pairs": f"{len(same)}+{len(different)}",
        "auc": _auc(same_a, diff_a),
        "min_same": float(same_a.min()),
        "max_different": float(diff_a.max()),
        "gap": float(same_a.min() - diff_a.max()),
    }


def _small_lfw(recognizer, shared: Path) -> dict[str, float]:
    import cv2

    from faceid.data.verification_set import load_verification_set

    images = load_verification_set(shared / "verification" / "small_lfw.bin").images
    faces = np.stack([cv2.imdecode(np.frombuffer(bytes(b), np.uint8), cv2.IMREAD_COLOR) for b in images])
    return _pair_stats(recognizer.embed_normalized(faces), [SMALL_LFW_PEOPLE[i // 2] for i in range(20)])


def _photo_pairs(app, shared: Path) -> dict[str, float]:
    from faceid.data.images import load_bgr

    entries = [(name, shared / photo) for photo, name in NAMED_PHOTOS.items()]
    train = shared / "gallery_dev" / "train"
    entries += [(p.parent.name, p) for p in sorted(train.glob("*/*")) if p.suffix.lower() in (".jpg", ".jpeg")]
    embeddings, names = [], []
    for name, path in entries:
        faces = app.get(load_bgr(path))
        if faces:
            largest = max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))
            embeddings.append(largest.normed_embedding)
            names.append(name)
    return {**_pair_stats(np.stack(embeddings), names), "faces": len(names), "photos": len(entries)}


def _gallery_margins(app, shared: Path) -> dict[str, Any]:
    """Each gallery person's query faces: similarity to their own entries and margin to the best other person."""
    from faceid.data.images import load_bgr
    from faceid.pipeline.analysis import iter_gallery_images

    index = app.index = app.build_index(iter_gallery_images(shared / "gallery_dev" / "train"))
    own, margins, named = [], [], 0
    truth = {"obama1.jpg": ["obama"], "alex_lacamoire1.jpg": ["alex_lacamoire"], "johnsnow_test1.jpg":
             ["kit_harington"], "kit_with_rose.jpg": ["kit_harington", "rose_leslie"], "obama_and_biden.jpg":
             ["obama", "biden"]}  # fmt: skip
    for photo, people in truth.items():
        faces = app.get(load_bgr(shared / "gallery_dev" / "query" / photo))
        sims = np.stack([f.normed_embedding for f in faces]) @ index.embeddings.T
        for person in people:
            mine = np.array([label == person for label in index.labels])
            face = int(np.argmax(sims[:, mine].max(1)))  # the face that is this person
            best_own, best_other = sims[face, mine].max(), sims[face, ~mine].max()
            own.append(float(best_own))
            margins.append(float(best_own - best_other))
            named += int(faces[face].identity == person)
    return {"named": f"{named}/{len(own)}", "min_own": min(own), "min_margin": min(margins)}


def _recogniser_rows(shared: Path, source: str | None) -> list[dict[str, Any]]:
    from faceid.pipeline.analysis import FaceAnalysis
    from faceid.pipeline.recognizer import Recognizer

    rows = []
    for rec in RECOGNISERS:
        app = FaceAnalysis("blazeface_short", rec, model_source=source)
        recognizer = Recognizer(rec, model_source=source, threads=2)
        rows.append(
            {
                "recogniser": rec,
                "small_lfw": _small_lfw(recognizer, shared),
                "photo_pairs": _photo_pairs(app, shared),
                "gallery_dev": _gallery_margins(app, shared),
            }
        )
    return rows


def _detector_rows(shared: Path, source: str | None) -> list[dict[str, Any]]:
    from faceid.data.images import load_bgr
    from faceid.pipeline.analysis import _detector

    photos = dict(FACE_COUNTS)
    photos.update({str(p.relative_to(shared)): 1 for p in sorted((shared / "gallery_dev" / "train").glob("*/*"))})
    images = {photo: load_bgr(shared / photo) for photo in photos}
    rows = []
    for det in DETECTORS:
        detector = _detector(det, source, None, 2)
        found, missed, extra, seconds = 0, [], 0, []
        for photo, count in photos.items():
            detector.detect(images[photo])  # warm
            started = time.perf_counter()
            faces = len(detector.detect(images[photo]))
            seconds.append(time.perf_counter() - started)
            found += min(faces, count)
            extra += max(faces - count, 0)
            if faces < count:
                missed.append(Path(photo).name)
        expected = sum(photos.values())
        rows.append(
            {"detector": det, "found": f"{found}/{expected}", "extra": extra, "missed": missed,
             "ms_per_photo": 1000 * float(np.mean(seconds))}
        )  # fmt: skip
    return rows


def run_comparison(shared: Path, source: str | None) -> dict[str, Any]:
    """Recogniser and detector rows (see the module docstring); ``shared``: ``../shared/data``."""
    return {"recognisers": _recogniser_rows(shared, source), "detectors": _detector_rows(shared, source)}


def format_comparison(result: dict[str, Any]) -> str:
    lines = [
        "| recogniser | small_lfw AUC / min same / max diff | photo pairs AUC / min same / max diff "
        "| gallery_dev named / min own / min margin |",
        "|---|---|---|---|",
    ]
    for row in result["recognisers"]:
        lfw, pairs, gal = row["small_lfw"], row["photo_pairs"], row["gallery_dev"]
        lines.append(
            f"| {row['recogniser']} | {lfw['auc']:.3f} / {lfw['min_same']:.3f} / {lfw['max_different']:.3f} "
            f"| {pairs['auc']:.3f} / {pairs['min_same']:.3f} / {pairs['max_different']:.3f} ({pairs['pairs']} pairs) "
            f"| {gal['named']} / {gal['min_own']:.3f} / {gal['min_margin']:.3f} |"
        )
    lines += ["", "| detector | faces found | extra | missed | ms/photo |", "|---|---|---:|---|---:|"]
    for row in result["detectors"]:
        missed = ", ".join(row["missed"]) or "-"
        lines.append(f"| {row['detector']} | {row['found']} | {row['extra']} | {missed} | {row['ms_per_photo']:.0f} |")
    return "\n".join(lines)
