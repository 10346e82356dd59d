"""``Recognizer``: embeddings of aligned 112x112 faces from an exported model.

The hot loop is C++ when the native route is usable (preprocessing written straight into the predictor's
input, the GIL released, one predictor clone per concurrent caller); otherwise the Python predictor runs the
same model, fed by the native preprocessing kernel. Both give the same numbers (tested); ``backend`` says
which one is active and ``backend_reason`` why.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from faceid.embeddings import l2_normalize
from faceid.export.exporter import read_export_meta, verify_export_files
from faceid.export.onednn_bf16 import BF16_PREFIX
from faceid.infer.cpu import cpu_has_bf16
from faceid.infer.paddle_predictor import PaddlePredictor, check_device, find_program
from faceid.ops.image import hwc_to_chw, warp_faces

__all__ = ["Recognizer"]

logger = logging.getLogger(__name__)


def _resolve_model_dir(model: str | os.PathLike[str], source: str | os.PathLike[str] | None = None) -> Path:
    """An export folder (or a reference-style folder: ``inference.pdmodel`` + ``inference.pdiparams``) as it is, or a
    pretrained model's name (an Arcface-Paddle one too) converted into the cache on first use."""
    path = Path(model)
    if path.is_dir():
        return path
    from faceid.zoo import export_dir, export_names

    exports = export_names()
    if str(model) in exports:
        return export_dir(str(model), source=source)  # its errors (missing source, bad hash) as they are
    raise FileNotFoundError(
        f"{model}: not an export folder (run `faceid export`) and not a pretrained model "
        f"(available: {', '.join(exports)})"
    )


def _model_meta(model_dir: Path, preprocess: dict[str, Any] | None = None) -> dict[str, Any]:
    """``faceid.json`` of an export, or for a reference-style folder (``inference.pdmodel`` + ``inference.pdiparams``
    as Arcface-Paddle publishes them) the same description built from its zoo record or, for weights no record
    knows, Arcface-Paddle's preprocessing (:func:`faceid.zoo.arcface_paddle.reference_meta`); ``preprocess``
    (``{"mean": ..., "std": ...}``, pixel units, RGB order) overrides a reference-style folder's."""
    if (model_dir / "faceid.json").is_file() or not (model_dir / "inference.pdiparams").is_file():
        if preprocess:
            raise ValueError(f"{model_dir}: a faceid export states its own preprocessing; mean/std apply only to "
                             "a reference-style folder (inference.pdmodel + inference.pdiparams)")  # fmt: skip
        return read_export_meta(model_dir)
    from faceid.zoo.arcface_paddle import reference_meta

    return reference_meta(model_dir, **(preprocess or {}))


_PRECISIONS = ("fp32", "bf16", "auto", "fp16")


def _check_color(color: str) -> None:
    if color not in ("bgr", "rgb"):
        raise ValueError(f"color must be 'bgr' or 'rgb', got {color!r}")


class Recognizer:
    """Embeddings from an export folder written by ``faceid export`` (or a pretrained model's name).

    ``device``: ``cpu``, ``gpu`` or ``gpu:<id>`` (a GPU that Paddle cannot use is an error, never a silent
    fallback to the CPU); the model files are checked against the SHA-256s in ``faceid.json`` (once per file
    version: the verdict is cached by path, size and mtime); ``threads``: CPU math threads per predictor; ``precision``:
    ``fp32``, ``bf16`` (CPU, oneDNN; kept only where it agrees with fp32 at load), ``auto`` (bf16 on a CPU with
    bf16 instructions where it agrees, else fp32) or ``fp16`` (GPU); ``backend``: ``auto`` (native when usable),
    ``native`` (error when not usable) or ``python``; ``model_source``: offline folder of pretrained source
    files (default ``$FACEID_MODEL_SOURCE``) when ``model`` is a pretrained model's name; ``preprocess``:
    ``{"mean": (r, g, b), "std": (r, g, b)}`` for a reference-style folder whose weights no zoo record describes.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        device: str = "cpu",
        threads: int = 1,
        precision: str = "fp32",
        batch_size: int = 32,
        backend: str = "auto",
        model_source: str | os.PathLike[str] | None = None,
        preprocess: dict[str, Any] | None = None,
    ) -> None:
        if backend not in ("auto", "native", "python"):
            raise ValueError(f"backend must be auto, native or python, got {backend!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(_PRECISIONS)}, got {precision!r}")
        device = check_device(device)
        self.model_dir = _resolve_model_dir(model, model_source)
        self.meta: dict[str, Any] = _model_meta(self.model_dir, preprocess)
        self.mean = tuple(self.meta["input"]["mean"])
        self.std = tuple(self.meta["input"]["std"])
        self.batch_size = batch_size
        self.program, self.params = find_program(self.model_dir, prefer="pdmodel" if device == "cpu" else "json")
        verify_export_files(self.model_dir, self.program, self.params)
        self.precision = "fp32" if precision in ("bf16", "auto") else precision
        self._python = PaddlePredictor(
            self.program, self.params, device=device, threads=threads, precision=self.precision
        )
        size = self.meta["embedding_size"]  # None for a reference-style folder no record describes: ask the model
        self.embedding_size = int(size or self._python.run(np.zeros((1, 3, 112, 112), np.float32)).shape[1])
        if precision == "bf16" or (precision == "auto" and device == "cpu" and cpu_has_bf16()):
            self._try_bf16(device, threads, quiet=precision == "auto")
        self._native = None
        self.backend, self.backend_reason = "python", f"backend={backend!r}"
        if backend != "python":
            self._try_native(device, threads, self.precision, required=backend == "native")

    @property
    def fingerprint(self) -> str:
        """SHA-256 naming this model's weights (:func:`faceid.export.fingerprint.model_fingerprint`)."""
        if getattr(self, "_fingerprint", None) is None:
            from faceid.export.fingerprint import model_fingerprint

            self._fingerprint = model_fingerprint(self.model_dir)
        return self._fingerprint

    def _try_bf16(self, device: str, threads: int, minimum: float = 0.99, *, quiet: bool = False) -> None:
        """Switch to bf16 only if it keeps cosine >= ``minimum`` to the fp32 predictor on a probe batch (``quiet``:
        say so at info level, not as a warning, when it does not)."""
        faces = np.random.default_rng(0).integers(0, 256, size=(8, 112, 112, 3), dtype=np.uint8)
        batch = hwc_to_chw(faces, mean=self.mean, std=self.std)
        reference = self._python.run(batch)
        worst = []
        for program, params in self._bf16_candidates():
            candidate = PaddlePredictor(program, params, device=device, threads=threads, precision="bf16")
            output = candidate.run(batch)
            norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(output, axis=1)
            cosine = float(((reference * output).sum(1) / np.maximum(norms, 1e-12)).min())
            if cosine >= minimum:
                self.program, self.params, self._python, self.precision = program, params, candidate, "bf16"
                logger.info("bf16 with %s (min cosine %.4f to fp32)", program, cosine)
                return
            worst.append(f"{program.name}: {cosine:.3f}")
        message = "bf16 disagrees with fp32 (min cosine %s < %.2f) on this CPU/Paddle; using fp32"
        (logger.info if quiet else logger.warning)(message, ", ".join(worst) or "no bf16 program", minimum)

    def _bf16_candidates(self) -> list[tuple[Path, Path]]:
        """Programs that may run in bf16, hash-checked: bf16 through oneDNN needs a PIR program (the legacy one
        fails on mixed-dtype adds in Paddle 3.3.1): the export's PReLU-packed variant first
        (:mod:`faceid.export.onednn_bf16`, what Paddle 3.3.1's bf16 PReLU kernel reads correctly), then the plain
        one. A reference-style folder of a published MobileFaceNet (legacy program only) gets the same weights in
        faceid's graph (:func:`faceid.zoo.arcface_paddle.faceid_graph_of`, exported once into the cache); the
        fingerprint stays that of ``model_dir``."""
        folders = [self.model_dir]
        if not (self.model_dir / "faceid.json").is_file():
            from faceid.zoo.arcface_paddle import faceid_graph_of

            graph = faceid_graph_of(self.model_dir)
            folders += [graph] if graph is not None else []
        candidates = []
        for folder in folders:
            pairs = [
                (folder / f"{BF16_PREFIX}.json", folder / f"{BF16_PREFIX}.pdiparams"),
                find_program(folder, prefer="json"),
            ]
            pairs = [
                (program, params)
                for program, params in pairs
                if program.suffix == ".json" and program.is_file() and params.is_file()
            ]
            if pairs:
                verify_export_files(folder, *(path for pair in pairs for path in pair))
            candidates += pairs
        return candidates

    def _try_native(self, device: str, threads: int, precision: str, *, required: bool) -> None:
        if device != "cpu":
            reason = "the native loop runs on CPU only"
        else:
            try:
                from faceid.infer import native
            except ImportError as error:  # an installation without the native loop
                native, reason = None, f"native loop not available ({error})"
            if native is not None:
                self._native = native.load_native_predictor(
                    self.program, self.params, threads=threads, precision=precision, reference=self._python
                )
                reason = "" if self._native is not None else native.native_status()[1] or "its self-test failed"
        if self._native is not None:
            self.backend, self.backend_reason = "native", "native loop active (self-test passed)"
            return
        if required:
            raise RuntimeError(f"native backend unavailable: {reason}")
        self.backend_reason = f"python predictor ({reason})"
        logger.info("Recognizer uses the Python predictor: %s", reason)

    def _checked(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (112, 112, 3):
            got = f"{images.dtype} {images.shape}"
            raise ValueError(f"expected uint8 faces (N, 112, 112, 3) or (112, 112, 3), got {got}")
        return np.ascontiguousarray(images)

    def embed(self, faces: np.ndarray, *, color: str = "bgr", batch_size: int | None = None) -> np.ndarray:
        """Raw embeddings (N, D) float32 of aligned uint8 faces (N, 112, 112, 3) in ``color`` order (bgr/rgb)."""
        _check_color(color)
        faces = self._checked(faces)
        size = batch_size or self.batch_size
        if self._native is not None:
            return self._native.embed(faces, src_is_bgr=color == "bgr", mean=self.mean, std=self.std, batch_size=size)
        out = np.empty((len(faces), self.embedding_size), dtype=np.float32)
        for start in range(0, len(faces), size):
            chunk = faces[start : start + size]
            batch = hwc_to_chw(chunk, mean=self.mean, std=self.std, src_is_bgr=color == "bgr")
            out[start : start + len(chunk)] = self._python.run(batch)
        return out

    def embed_warped(
        self, image: np.ndarray, matrices: np.ndarray, *, color: str = "bgr", batch_size: int | None = None
    ) -> np.ndarray:
        """Raw embeddings (N, D) of the faces that the (N, 2, 3) affine maps cut out of one uint8 (H, W, 3)
        image (see :func:`faceid.pipeline.align.alignment_matrix`): warp and normalisation run as one native
        pass straight into the model's float input, with no uint8 crop in between."""
        matrices = np.asarray(matrices, dtype=np.float64).reshape(-1, 2, 3)
        size = batch_size or self.batch_size
        out = np.empty((len(matrices), self.embedding_size), dtype=np.float32)
        for start in range(0, len(matrices), size):
            chunk = matrices[start : start + size]
            out[start : start + len(chunk)] = self.run_batch(self.warped_batch(image, chunk, color=color))
        return out

    def warped_batch(self, image: np.ndarray, matrices: np.ndarray, *, color: str = "bgr") -> np.ndarray:
        """The model's normalised float32 (N, 3, 112, 112) input for the faces that the (N, 2, 3) affine maps cut
        out of one uint8 (H, W, 3) image: warp and normalisation in one native pass (for :meth:`run_batch`)."""
        _check_color(color)
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
        matrices = np.asarray(matrices, dtype=np.float64).reshape(-1, 2, 3)
        return warp_faces(image, matrices, 112, mean=self.mean, std=self.std, src_is_bgr=color == "bgr")

    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        """Raw embeddings of an already normalised (N, 3, 112, 112) float32 RGB batch, in one model run."""
        batch = np.asarray(batch)
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1:] != (3, 112, 112):
            raise ValueError(f"expected a float32 (N, 3, 112, 112) batch, got {batch.dtype} {batch.shape}")
        if len(batch) == 0:
            return np.empty((0, self.embedding_size), dtype=np.float32)
        run = self._native.run_raw if self._native is not None else self._python.run
        return run(np.ascontiguousarray(batch))

    def embed_normalized(self, faces: np.ndarray, **kwargs: Any) -> np.ndarray:
        """:meth:`embed`, each row scaled to unit L2 norm (cosine similarity = dot product)."""
        return l2_normalize(self.embed(faces, **kwargs))
