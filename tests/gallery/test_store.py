"""One suite for both gallery-store backends (SQLite file, PostgreSQL server): add/remove/list/search, duplicates,
wrong model, reopen, other writers, and enrolments that survive SIGKILL whole or not at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from faceid.errors import InputError
from faceid.gallery import UNKNOWN, GalleryIndex, open_gallery, open_store
from faceid.gallery.store import SCHEMA_VERSION

DIM = 16


def _open(url: str, **kwargs):
    return open_store(url, fingerprint="f" * 64, model="m", dim=DIM, **kwargs)


def _reference(rows: dict[int, tuple[str, np.ndarray]], query: np.ndarray, k: int, thresh: float) -> str:
    """Brute force: cosine against every face, top k, majority vote among those >= thresh."""
    q = query / np.linalg.norm(query)
    sims = sorted(((float(q @ (e / np.linalg.norm(e))), name) for name, e in rows.values()), key=lambda t: -t[0])[:k]
    votes: dict[str, list[float]] = {}
    for sim, name in sims:
        if sim >= thresh:
            votes.setdefault(name, []).append(sim)
    return max(votes, key=lambda n: (len(votes[n]), max(votes[n]))) if votes else UNKNOWN


def test_add_list_search_remove_and_reopen(store_url: str) -> None:
    rng = np.random.default_rng(0)
    centres = {name: rng.normal(size=DIM) for name in ("ann", "bob", "cy", "dee")}
    truth: dict[int, tuple[str, np.ndarray]] = {}
    with _open(store_url) as store:
        for name, centre in centres.items():
            faces = centre + 0.3 * rng.normal(size=(3, DIM))
            result = store.add(name, faces, digests=[f"{name}{i}" for i in range(3)], det_scores=[0.9] * 3)
            assert result.subject == name and len(result.added) == 3 and result.duplicates == ()
            truth.update({face: (name, row) for face, row in zip(result.added, faces, strict=False)})
        assert [(s.name, s.faces) for s in store.subjects()] == [("ann", 3), ("bob", 3), ("cy", 3), ("dee", 3)]
        queries = np.concatenate([np.stack(list(centres.values())), rng.normal(size=(6, DIM))])
        for k, thresh in ((1, 0.3), (5, 0.5), (5, 0.9)):
            got = [m.identity for m in store.search(queries, cdd_num=k, rec_thresh=thresh)]
            assert got == [_reference(truth, q, k, thresh) for q in queries]
        assert store.remove("bob") == 3
        truth = {face: row for face, row in truth.items() if row[0] != "bob"}
        with pytest.raises(InputError, match="no subject named 'bob'"):
            store.remove("bob")
        assert store.identities == ["ann", "cy", "dee"]
    with open_store(store_url, create=False) as again:  # reopen: the index is rebuilt from the store
        assert (again.model, again.dim, len(again)) == ("m", DIM, 9)
        got = [m.identity for m in again.search(queries, cdd_num=5, rec_thresh=0.5)]
        assert got == [_reference(truth, q, 5, 0.5) for q in queries]
        best = again.search(truth[min(truth)][1])[0]
        assert best.face_ids[0] == min(truth) and best.similarity == pytest.approx(1.0, abs=1e-5)
        exported = again.export_index()
    assert sorted(exported.labels) == sorted(name for name, _ in truth.values())


def test_same_image_twice_is_a_no_op_that_says_so(store_url: str) -> None:
    rng = np.random.default_rng(1)
    with _open(store_url) as store:
        first = store.add("ann", rng.normal(size=(2, DIM)), digests=["aa", "bb"])
        again = store.add("bob", rng.normal(size=(3, DIM)), digests=["bb", "cc", "cc"])
        assert len(first.added) == 2 and len(again.added) == 1
        assert again.duplicates == (("bb", "ann"), ("cc", "this enrolment"))
        assert [(s.name, s.faces) for s in store.subjects()] == [("ann", 2), ("bob", 1)]
        assert len(store) == 3


def test_a_store_of_another_model_is_refused(store_url: str) -> None:
    with _open(store_url) as store:
        store.add("ann", np.ones((1, DIM)))
    with pytest.raises(InputError, match="another model") as error:
        open_store(store_url, fingerprint="0" * 64, model="m", dim=DIM)  # same name, other weights
    assert str(store_url) in str(error.value)
    with pytest.raises(InputError, match="16-d embeddings, the model makes 8-d"):
        open_store(store_url, fingerprint="f" * 64, model="other name", dim=8)
    with open_store(store_url, fingerprint="f" * 64, model="a display name", dim=DIM) as same:
        assert len(same) == 1  # same fingerprint, other name: accepted


def test_other_writers_are_seen_within_a_second(store_url: str) -> None:
    rng = np.random.default_rng(2)
    with _open(store_url) as reader, _open(store_url) as writer:
        assert len(reader) == 0
        face = rng.normal(size=DIM)
        writer.add("ann", face)
        time.sleep(reader.poll_interval + 0.05)
        assert reader.search(face)[0].identity == "ann"
        writer.remove("ann")
        time.sleep(reader.poll_interval + 0.05)
        assert reader.search(face)[0].identity == UNKNOWN and len(reader) == 0


def test_concurrent_writers_lose_nothing(store_url: str) -> None:
    rng = np.random.default_rng(3)
    with _open(store_url):
        pass  # create the schema once
    faces = {f"p{w}_{i}": rng.normal(size=(2, DIM)) for w in range(3) for i in range(15)}
    errors: list[BaseException] = []

    def enrol(worker: int) -> None:
        try:
            with _open(store_url) as store:
                for i in range(15):
                    store.add(f"p{worker}_{i}", faces[f"p{worker}_{i}"])
                    if i % 5 == 4:
                        store.remove(f"p{worker}_{i - 1}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=enrol, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = sorted(name for name in faces if int(name.split("_")[1]) % 5 != 3)
    with _open(store_url) as store:
        assert [s.name for s in store.subjects()] == expected
        store.refresh(force=True)
        assert store.index.identities == expected and len(store) == 2 * len(expected)
        for name in expected:
            assert store.search(faces[name][0], cdd_num=1)[0].identity == name


def test_schema_version_is_recorded_and_a_newer_one_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "g.db"
    _open(str(path)).close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(InputError, match="schema version"):
        _open(str(path))


ENROL_LOOP = textwrap.dedent(
    """
    import sys, numpy as np
    from faceid.gallery import open_store
    store = open_store(sys.argv[1], fingerprint="f" * 64, model="m", dim=16)
    rng = np.random.default_rng(int(sys.argv[2]))
    print("ready", flush=True)
    for i in range(100000):
        name = f"s{sys.argv[2]}_{i}"
        store.add(name, rng.normal(size=(4, 16)), digests=[f"{name}/{j}" for j in range(4)])
        if i % 3 == 2:
            store.remove(f"s{sys.argv[2]}_{i - 1}")
    """
)


@pytest.mark.slow
def test_sigkill_mid_enrolment_leaves_each_enrolment_whole_or_absent(store_url: str) -> None:
    rng = np.random.default_rng(4)
    _open(store_url).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for attempt in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", ENROL_LOOP, store_url, str(attempt)], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.2, 0.8)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        with _open(store_url) as store:
            subjects = store.subjects()
            assert subjects, "the child enrolled nothing before it was killed"
            assert {s.faces for s in subjects} == {4}, [(s.name, s.faces) for s in subjects if s.faces != 4]
            assert len(store) == 4 * len(subjects)  # the search index, rebuilt from the store, agrees
            _, changes = store.changes_since(0)
            added = {face for _, op, face in changes if op == "add"}
            removed = {face for _, op, face in changes if op == "remove"}
            assert added - removed == set(int(i) for i in store.index.ids)


def test_open_gallery_tells_the_formats_apart_by_content(tmp_path: Path, shared_data: Path) -> None:
    index = GalleryIndex("m", DIM, fingerprint="f" * 64)
    index.add("ann", np.ones(DIM))
    index.save(tmp_path / "index.bin")  # an npz with a misleading suffix
    assert isinstance(open_gallery(tmp_path / "index.bin"), GalleryIndex)
    seed = open_gallery(shared_data / "faces" / "seed_index_friends_128d.bin")
    assert isinstance(seed, GalleryIndex) and len(seed) == 245
    with _open(str(tmp_path / "store.npz")) as store:  # an SQLite store, whatever its name
        store.add("ann", np.ones(DIM))
    with open_gallery(tmp_path / "store.npz", fingerprint="f" * 64) as found:
        assert found.identities == ["ann"]
    (tmp_path / "notes.txt").write_text("hello")
    for bad in (tmp_path / "notes.txt", tmp_path / "missing.npz"):
        with pytest.raises(InputError) as error:
            open_gallery(bad)
        assert str(bad) in str(error.value)
    with pytest.raises(InputError, match=r"not a gallery index \(expected a faceid .npz, an index.bin pickle"):
        open_gallery(tmp_path / "notes.txt")


def test_importing_the_gallery_package_stays_cheap() -> None:
    code = (
        "import sys, faceid.gallery, faceid.eval.open_set; "
        "print(sorted(m for m in ('faiss', 'psycopg', 'psycopg_pool', 'paddle', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
