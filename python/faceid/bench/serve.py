"""``faceid bench serve``: a bounded loopback load on ``faceid serve`` against in-process ``FaceAnalysis`` on the
same photos, in one run.

A server is started as a subprocess on 127.0.0.1 (free port, temporary SQLite gallery enrolled from
``gallery_dev/train``). ``clients`` threads send ``requests`` identify calls in total (multipart, the
``gallery_dev/query`` photos in turn) and record each latency. In the same run the photos go through an
in-process ``FaceAnalysis`` (decode + detect + align + embed + search, the same gallery), with one caller and with
``clients`` threads, ``requests`` each. The three alternate in up to four rounds, so that the load of a shared
machine affects them alike. The server's RSS is read from ``/proc`` after the warm-up and after each round.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_serve_table", "run_serve_benchmark"]

logger = logging.getLogger(__name__)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(gallery: Path, model_source: str | None, log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    env = dict(os.environ)
    if model_source:
        env["FACEID_MODEL_SOURCE"] = model_source
    command = [sys.executable, "-m", "faceid", "serve", "--gallery", str(gallery), "--port", str(port)]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"faceid serve exited: {log.read_text()[-1500:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("faceid serve did not become ready in 180 s")


def _summary(latencies: list[float], errors: int, wall: float) -> dict[str, Any]:
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": wall,
        "requests_per_s": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "latencies_s": latencies,
    }


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for part in parts for x in part["latencies_s"]]
    return _summary(latencies, sum(p["errors"] for p in parts), sum(p["seconds"] for p in parts))


def _http_load(url: str, photos: list[tuple[str, bytes]], clients: int, requests: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = [0]
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=120) as session:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                name, data = photos[i % len(photos)]
                start = time.perf_counter()
                response = session.post(f"{url}/v1/identify", files={"image": (name, data, "image/jpeg")})
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    errors[0] += response.status_code != 200

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return _summary(latencies, errors[0], wall)


def _inprocess(app: Any, photos: list[tuple[str, bytes]], clients: int, requests: int) -> dict[str, Any]:
    from faceid.data.images import decode_bgr

    def one(i: int) -> float:
        name, data = photos[i % len(photos)]
        start = time.perf_counter()
        app.get(decode_bgr(data, name))
        return time.perf_counter() - start

    start = time.perf_counter()
    if clients == 1:
        latencies = [one(i) for i in range(requests)]
    else:
        with ThreadPoolExecutor(clients) as pool:
            latencies = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    return _summary(latencies, 0, wall)


def _enrol(url: str, train: Path) -> None:
    import httpx

    for person in sorted(p for p in train.iterdir() if p.is_dir()):
        files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted(person.iterdir())]
        response = httpx.post(f"{url}/v1/subjects/{person.name}/faces", files=files, timeout=120)
        response.raise_for_status()


def _interleaved(
    url: str, app: Any, photos: list[tuple[str, bytes]], *, clients: int, requests: int, pid: int, rss: list[float]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """HTTP, in-process 1 caller and in-process ``clients`` threads in alternating rounds (so that a change in
    the machine's load hits all three alike); the server's RSS appended to ``rss`` after each round."""
    rounds = max(1, min(4, requests // clients))
    parts: list[list[dict[str, Any]]] = [[], [], []]
    for r in range(rounds):
        count = requests // rounds + (1 if r < requests % rounds else 0)
        parts[0].append(_http_load(url, photos, clients, count))
        rss.append(_rss_mb(pid))
        parts[1].append(_inprocess(app, photos, 1, count))
        parts[2].append(_inprocess(app, photos, clients, count))
    http, sequential, threaded = (_merge(p) for p in parts)
    return http, sequential, threaded


def run_serve_benchmark(
    shared_data: Path, model_source: str | None, *, clients: int = 8, requests: int = 2000
) -> dict[str, Any]:
    """Requests/s and latency percentiles over HTTP vs in-process on the ``gallery_dev`` queries (see module)."""
    import httpx

    from faceid.pipeline.analysis import FaceAnalysis

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    if clients < 1 or requests < clients:
        raise ValueError(f"need clients >= 1 and requests >= clients, got {clients}, {requests}")
    gallery_dev = shared_data / "gallery_dev"
    photos = [(p.name, p.read_bytes()) for p in sorted((gallery_dev / "query").glob("*.jpg"))]
    with tempfile.TemporaryDirectory(prefix="faceid-bench-serve-") as tmp:
        process, url = _start_server(Path(tmp) / "gallery.db", model_source, Path(tmp) / "server.log")
        try:
            _enrol(url, gallery_dev / "train")
            from faceid.gallery import open_store

            with open_store(Path(tmp) / "gallery.db", create=False, ann="off") as store:
                store.export_index().save(Path(tmp) / "index.npz")
            app = FaceAnalysis(model_source=model_source, index=str(Path(tmp) / "index.npz"))
            _http_load(url, photos, clients, max(2 * clients, 4 * len(photos)))  # warm-up: predictors, shapes
            _inprocess(app, photos, clients, max(clients, 2 * len(photos)))
            rss = [_rss_mb(process.pid)]
            http, sequential, threaded = _interleaved(
                url, app, photos, clients=clients, requests=requests, pid=process.pid, rss=rss
            )
            metrics = httpx.get(f"{url}/metrics").text
        finally:
            process.terminate()
            process.wait(timeout=30)
    batches = _metric(metrics, "faceid_recognizer_batches")
    faces = _metric(metrics, "faceid_recognizer_faces")
    best = max(sequential["requests_per_s"], threaded["requests_per_s"])
    rows = [
        {"path": f"HTTP identify, {clients} clients", **http},
        {"path": "in-process FaceAnalysis, 1 caller", **sequential},
        {"path": f"in-process FaceAnalysis, {clients} threads", **threaded},
    ]
    return {
        "rows": rows,
        "ratios": {"http_vs_inprocess": http["requests_per_s"] / best},
        "p99_ms": http["p99_ms"],
        "errors": http["errors"],
        "rss_mb": {"before": rss[0], "after": rss[-1], "after_each_round": rss[1:]},
        "faces_per_recognizer_call": faces / batches if batches else float("nan"),
        "clients": clients,
        "requests": requests,
        "photos": [name for name, _ in photos],
        "cpus": os.cpu_count(),
    }


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def format_serve_table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['requests']} identify requests on {len(result['photos'])} gallery_dev photos, {result['cpus']} CPUs",
        "",
        "| path | requests/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['path']} | {row['requests_per_s']:.1f} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['errors']} |"
        )
    lines += [
        "",
        f"HTTP vs in-process (best of the two): {result['ratios']['http_vs_inprocess']:.2f}x; "
        "server RSS MB after warm-up / each round: "
        + " / ".join(f"{x:.0f}" for x in [result["rss_mb"]["before"], *result["rss_mb"]["after_each_round"]])
        + "; "
        f"{result['faces_per_recognizer_call']:.2f} faces per recogniser call",
    ]
    return "\n".join(lines)
