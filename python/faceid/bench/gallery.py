"""`faceid bench gallery`: enrolment rate, exact and approximate search on a synthetic gallery, in one run.

The gallery is random unit vectors in groups of ``PER_PERSON`` planted near-duplicates (one person's faces around a
random centre); each query is a fresh sample near one person's centre, so its true top-5 is that person's faces.
Rows: faces/s into an SQLite store (one subject per transaction) and into the in-memory index; exact search
ms/query at batch 1 and 64 on the path the index takes (``float32``: BLAS; ``bf16 + fp32 re-score``: the bf16 copy
on a CPU with AVX512_BF16, beside the float32 BLAS path for comparison), and with float16 storage; the bandwidth
floor (one float32 matrix-vector product over the whole gallery: the time to read its bytes once); the ANN build
time, ms/query at batch 1 and recall@5 against exact; bytes per face.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceid.gallery import GalleryIndex, open_store

__all__ = ["format_gallery_table", "run_gallery_benchmark"]

logger = logging.getLogger(__name__)

PER_PERSON = 5
CHUNK_PEOPLE = 20_000


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return x


def _people(rng: np.random.Generator, count: int, dim: int, noise: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    centres = _unit(rng.standard_normal((count, dim), dtype=np.float32))
    spread = np.float32(noise / np.sqrt(dim))  # a float64 scalar would make the faces float64
    faces = np.repeat(centres, PER_PERSON, axis=0) + spread * rng.standard_normal((count * PER_PERSON, dim), np.float32)
    return centres, _unit(faces)


def _fill_index(
    size: int, dim: int, seed: int, queries: int, dtype: str = "float32"
) -> tuple[GalleryIndex, Any, float]:
    """The index (added one person at a time), query vectors, and the seconds spent in ``add``."""
    rng = np.random.default_rng(seed)
    index, spent, picked = GalleryIndex("bench", dim, dtype=dtype), 0.0, []
    people = size // PER_PERSON
    for start in range(0, people, CHUNK_PEOPLE):
        count = min(CHUNK_PEOPLE, people - start)
        centres, faces = _people(rng, count, dim)
        started = time.perf_counter()
        for p in range(count):
            index.add(f"p{start + p}", faces[p * PER_PERSON : (p + 1) * PER_PERSON], normalized=True)
        spent += time.perf_counter() - started
        picked.append(centres[: max(1, queries * count // people + 1)])
    spread = np.float32(0.35 / np.sqrt(dim))
    centres = np.concatenate(picked)[:queries]
    return index, _unit(centres + spread * rng.standard_normal(centres.shape, dtype=np.float32)), spent


def _store_rate(dim: int, faces: int, seed: int) -> tuple[float, int]:
    """Faces/s enrolled into an SQLite store, one subject (of one face) per transaction."""
    rng = np.random.default_rng(seed)
    vectors = _unit(rng.standard_normal((faces, dim), dtype=np.float32))
    with tempfile.TemporaryDirectory(prefix="faceid-bench-gallery-") as tmp:
        store = open_store(Path(tmp) / "g.db", fingerprint="bench", model="bench", dim=dim, ann="off")
        started = time.perf_counter()
        for i in range(faces):
            store.add(f"s{i}", vectors[i])
        elapsed = time.perf_counter() - started
        store.close()
    return faces / elapsed, faces


def _ms_per_query(
    index: GalleryIndex, queries: np.ndarray, batch: int, *, exact: bool, repeats: int, path: str | None = None
) -> float:
    """Median ms/query of ``index.top_k`` (``path``: force the exact search's path, see ``Rows.top_k``)."""
    times = []
    for r in range(repeats):
        chunk = queries[(r * batch) % len(queries) :][:batch]
        started = time.perf_counter()
        if path is None:
            index.top_k(chunk, 5, exact=exact)
        else:
            index._rows.top_k(chunk, 5, path=path)
        times.append((time.perf_counter() - started) * 1000 / len(chunk))
    return float(np.median(times))


PATH_NAMES = {"fp32": "float32", "bf16": "bf16 + fp32 re-score"}


def _exact_ms(index: GalleryIndex, queries: np.ndarray, repeats: int) -> dict[tuple[str, int], float]:
    """ms/query of exact search at batch 1 and 64 per path: float32 BLAS, and the bf16 path where the index
    takes it (the two side by side in one run)."""
    paths = ["fp32", "bf16"] if index._rows.uses_bf16 else ["fp32"]
    if index._rows.uses_bf16:
        index._rows.panels  # noqa: B018 - makes the bf16 copy (once, ~2 s at 1M rows) outside the timing
    counts = {1: repeats, 64: max(3, min(10, len(queries) // 64))}
    return {
        (path, batch): _ms_per_query(index, queries, batch, exact=True, repeats=count, path=path)
        for path in paths
        for batch, count in counts.items()
    }


def _bandwidth_floor_ms(index: GalleryIndex, query: np.ndarray, repeats: int = 5) -> float:
    rows, query = index.embeddings, np.asarray(query, dtype=np.float32)  # float64 would copy the gallery first
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        rows @ query
        times.append((time.perf_counter() - started) * 1000)
    return float(min(times))


def _ann_rows(index: GalleryIndex, queries: np.ndarray, repeats: int) -> dict[str, Any]:
    from faceid.gallery.ann import AnnIndex, choose_kind

    kind = choose_kind(len(index))
    started = time.perf_counter()
    ann = AnnIndex.build(index.embeddings, index.ids, kind=kind)
    build_s = time.perf_counter() - started
    exact = np.concatenate([index.top_k(queries[i : i + 64], 5, exact=True)[1] for i in range(0, len(queries), 64)])
    index.ann = ann
    ms = _ms_per_query(index, queries, 1, exact=False, repeats=repeats)
    found = np.concatenate([index.top_k(queries[i : i + 64], 5)[1] for i in range(0, len(queries), 64)])
    recall = float(np.mean([len(set(a) & set(e)) / 5 for a, e in zip(found, exact, strict=False)]))
    inner = ann.index
    code = getattr(inner, "code_size", None)
    per_face = (code + 8) if code is not None else index.dim * 4 + 32 * 2 * 4 + 8  # IVF codes + id; HNSW links
    index.ann = None
    return {"kind": kind, "build_s": build_s, "ms": ms, "recall": recall, "bytes_per_face": per_face}


def run_gallery_benchmark(
    size: int = 100_000,
    dim: int = 512,
    queries: int = 1000,
    *,
    store_faces: int = 100_000,
    seed: int = 0,
    float16: bool = True,
    ann: bool = True,
) -> dict[str, Any]:
    """All rows in one run; see the module docstring. Returns the ``--json`` document."""
    repeats = max(5, min(50, queries))
    index, qs, add_s = _fill_index(size, dim, seed, queries)
    store_rate, stored = _store_rate(dim, min(store_faces, size), seed + 1)
    rows = [
        {
            "what": f"enrol into SQLite store ({stored} subjects, one per transaction)",
            "value": store_rate,
            "unit": "faces/s",
        },
        {
            "what": f"enrol into the index ({len(index)} faces, one person per add)",
            "value": len(index) / add_s,
            "unit": "faces/s",
        },
    ]
    floor = _bandwidth_floor_ms(index, qs[0])
    exact = _exact_ms(index, qs, repeats)
    used = "bf16" if ("bf16", 1) in exact else "fp32"  # the path index.top_k takes
    rows.append({"what": "bandwidth floor (one float32 matrix-vector product)", "value": floor, "unit": "ms"})
    rows += [
        {"what": f"exact search ({PATH_NAMES[path]}), batch {batch}", "value": ms, "unit": "ms/query"}
        for (path, batch), ms in exact.items()
    ]
    copy = " (+ bf16 copy)" if used == "bf16" else ""
    rows.append({"what": f"memory, float32 index{copy}", "value": index.nbytes / len(index), "unit": "bytes/face"})
    b1 = exact[used, 1]
    ratios = {"exact_b1_vs_bandwidth_floor": b1 / floor}
    if used == "bf16":
        ratios["exact_bf16_vs_fp32_b1"] = b1 / exact["fp32", 1]
        ratios["exact_bf16_vs_fp32_b64"] = exact["bf16", 64] / exact["fp32", 64]
    result: dict[str, Any] = {"size": len(index), "dim": dim, "queries": len(qs), "rows": rows, "ratios": ratios}
    if ann:
        from faceid.gallery.ann import faiss_available

        if faiss_available():
            found = _ann_rows(index, qs, repeats)
            rows += [
                {"what": f"ANN build ({found['kind']})", "value": found["build_s"], "unit": "s"},
                {
                    "what": f"ANN search ({found['kind']}, exact re-score), batch 1",
                    "value": found["ms"],
                    "unit": "ms/query",
                },
                {
                    "what": "ANN memory (codes + ids, beside the exact rows)",
                    "value": found["bytes_per_face"],
                    "unit": "bytes/face",
                },
            ]
            ratios["ann_vs_exact_b1"] = found["ms"] / b1
            result["ann_recall_at_5"] = found["recall"]
        else:
            logger.warning("faiss not installed: no ANN rows")
    if float16:
        half = index.embeddings.astype(np.float16)
        del index
        index16 = GalleryIndex("bench", dim, dtype="float16")
        index16._rows.append(half, np.arange(len(half)), 0)
        del half
        rows.append(
            {
                "what": "exact search, float16 storage, batch 1",
                "value": _ms_per_query(index16, qs, 1, exact=True, repeats=repeats),
                "unit": "ms/query",
            }
        )
        rows.append(
            {
                "what": "exact search, float16 storage, batch 64",
                "value": _ms_per_query(index16, qs, 64, exact=True, repeats=max(3, min(10, queries // 64))),
                "unit": "ms/query",
            }
        )
    result["add_faces_per_s"] = store_rate
    return result


def format_gallery_table(result: dict[str, Any]) -> str:
    lines = [
        f"gallery: {result['size']:,} faces x {result['dim']}, {result['queries']} queries",
        "",
        "| measurement | value | unit |",
        "| --- | ---: | --- |",
    ]
    for row in result["rows"]:
        value = row["value"]
        shown = f"{value:,.0f}" if value >= 1000 else f"{value:.3g}" if value < 10 else f"{value:.1f}"
        lines.append(f"| {row['what']} | {shown} | {row['unit']} |")
    lines.append("")
    lines += [f"- {key}: {value:.2f}" for key, value in result["ratios"].items()]
    if "ann_recall_at_5" in result:
        lines.append(f"- ANN recall@5 vs exact: {result['ann_recall_at_5']:.3f}")
    return "\n".join(lines)
