"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Requests by route/method/status, latency histograms by route, faces enrolled, recogniser batches."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "faceid_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "faceid_request_seconds", "request latency", ["route"], buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.faces = Gauge("faceid_faces_enrolled", "faces in the gallery", registry=self.registry)
        self.batches = Gauge("faceid_recognizer_batches", "recogniser calls made", registry=self.registry)
        self.batched_faces = Gauge("faceid_recognizer_faces", "faces embedded", registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def bind(self, faces: Callable[[], float], batches: Callable[[], float], batched: Callable[[], float]) -> None:
        self.faces.set_function(faces)
        self.batches.set_function(batches)
        self.batched_faces.set_function(batched)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
