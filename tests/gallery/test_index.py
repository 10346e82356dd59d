"""Gallery index: search against a brute-force reference, safe files, Arcface-Paddle's (the wheel's) index.bin."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from faceid.gallery import UNKNOWN, GalleryIndex
from faceid.io.safe_pickle import UnsafePickleError


def _gallery(rng: np.random.Generator, dim: int = 16) -> tuple[GalleryIndex, dict[str, np.ndarray]]:
    centres = {name: rng.normal(size=dim) for name in ("ann", "bob", "cy")}
    index = GalleryIndex("m", dim)
    for name, centre in centres.items():
        index.add(name, centre + 0.1 * rng.normal(size=(3, dim)))
    return index, centres


def _reference(index: GalleryIndex, query: np.ndarray, k: int, thresh: float) -> str:
    q = query / np.linalg.norm(query)
    sims = [(float(q @ e), name) for e, name in zip(index.embeddings, index.labels, strict=False)]
    top = sorted(sims, key=lambda t: -t[0])[:k]
    votes: dict[str, list[float]] = {}
    for sim, name in top:
        if sim >= thresh:
            votes.setdefault(name, []).append(sim)
    if not votes:
        return UNKNOWN
    return max(votes, key=lambda n: (len(votes[n]), max(votes[n])))


def test_search_matches_a_brute_force_vote_and_says_unknown_for_strangers() -> None:
    rng = np.random.default_rng(0)
    index, centres = _gallery(rng)
    queries = np.stack([centres["bob"], centres["ann"] + 0.3 * rng.normal(size=16), rng.normal(size=16)])
    for k in (1, 3, 5):
        for thresh in (0.3, 0.6, 0.95):
            got = [m.identity for m in index.search(queries, cdd_num=k, rec_thresh=thresh)]
            assert got == [_reference(index, q, k, thresh) for q in queries]
    match = index.search(centres["bob"])[0]
    assert match.identity == "bob" and match.similarity > 0.9 and len(match.candidates) == 5
    single = GalleryIndex("m", 16)
    single.add("bob", centres["bob"])
    opposite = single.search(-centres["bob"])[0]  # |cos| = 1 but cos = -1: a stranger, not bob
    assert opposite.identity == UNKNOWN and opposite.similarity == pytest.approx(-1.0)


def test_save_load_round_trip_is_atomic_and_refuses_other_models(tmp_path: Path) -> None:
    index, _ = _gallery(np.random.default_rng(1))
    path = index.save(tmp_path / "index.npz")
    again = GalleryIndex.load(path, model="m")
    assert again.labels == index.labels and np.array_equal(again.embeddings, index.embeddings)
    assert [p.name for p in tmp_path.iterdir()] == ["index.npz"]
    with pytest.raises(ValueError, match="built with m, not other"):
        GalleryIndex.load(path, model="other")
    with pytest.raises(ValueError, match="refusing to add x ones"):
        again.add("dan", np.ones(16), model="x")
    with pytest.raises(ValueError, match="holds 16-d embeddings, got 8-d"):
        again.add("dan", np.ones(8))
    assert again.remove("bob") == 3 and again.identities == ["ann", "cy"]
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a faceid gallery index"):
        GalleryIndex.load(tmp_path / "bad.npz")


def test_the_arcface_paddle_wheel_index_imports_without_unpickling_code(
    shared_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="faceid.gallery.index"):
        index = GalleryIndex.from_arcface_paddle_index(shared_data / "faces" / "seed_index_friends_128d.bin")
    # the import says the wheel built it from BGR images, and how to rebuild it
    assert "seed_index_friends_128d.bin: the reference wheel built this index from BGR images" in caplog.text
    assert "faceid build-index --img_dir GALLERY" in caplog.text
    assert (len(index), index.dim) == (245, 128)
    assert "Chandler" in index.identities
    np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, rtol=1e-5)
    # each stored feature's nearest entry is itself
    matches = index.search(index.embeddings, cdd_num=1)
    assert all(m.identity == name and m.similarity > 0.999 for m, name in zip(matches, index.labels, strict=False))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.bin").write_bytes(pickle.dumps({"label": ["a"], "feature": [Evil()]}))
    with pytest.raises(UnsafePickleError):
        GalleryIndex.from_arcface_paddle_index(tmp_path / "evil.bin")
