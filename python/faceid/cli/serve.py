"""`faceid serve`: the HTTP face recognition service (uvicorn)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os

from faceid.cli.argtypes import det_models
from faceid.cli.paths import add_model_source_flag
from faceid.errors import UsageError

logger = logging.getLogger(__name__)


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("serve", help="HTTP API + web page over a gallery store (pip install 'faceid[serve]')")
    parser.add_argument("--gallery", required=True, help="gallery store: path (SQLite) or postgresql:// URL")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (non-loopback needs an API key)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    parser.add_argument(
        "--api-key",
        "--api_key",
        dest="api_key",
        default=None,
        help="key required on /v1 (X-API-Key header; default $FACEID_API_KEY)",
    )
    parser.add_argument(
        "--det",
        choices=det_models[:2],
        default="blazeface_short",
        help="detector (the BlazeFace models give landmarks)",
    )
    parser.add_argument(
        "--rec", default=None, help="recognizer: pretrained name or export folder (default: FaceAnalysis's)"
    )
    parser.add_argument(
        "--rec_thresh", type=float, default=None, help="cosine threshold for a match (default: the recognizer's)"
    )
    parser.add_argument("--det_thresh", type=float, default=0.75, help="minimum detector score")
    add_model_source_flag(parser)
    parser.add_argument("--threads", type=int, default=2, help="math threads of the recogniser")
    parser.add_argument("--detect_workers", type=int, default=4, help="threads running the detector")
    parser.add_argument("--batch_window_ms", type=float, default=3.0, help="dynamic batching window")
    parser.add_argument("--max_upload_mb", type=float, default=10.0, help="largest accepted image upload")
    parser.add_argument("--max_pixels", type=int, default=40_000_000, help="largest decoded image (pixels)")
    parser.set_defaults(handler=_serve)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from faceid.serve import ServeConfig, create_app
    except ImportError as error:
        raise UsageError(f"faceid serve needs pip install 'faceid[serve]' ({error})") from None
    from faceid.cli.paths import model_source
    from faceid.pipeline.analysis import DEFAULT_REC, default_rec_thresh

    key = args.api_key or os.environ.get("FACEID_API_KEY") or None
    if not _is_loopback(args.host) and not key:
        raise UsageError(f"refusing to serve on {args.host} without an API key: give --api-key or $FACEID_API_KEY")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0-65535, got {args.port}")
    if args.detect_workers < 1 or args.threads < 1 or args.batch_window_ms < 0 or args.max_upload_mb <= 0:
        raise UsageError("--detect_workers and --threads must be >= 1, --batch_window_ms >= 0, --max_upload_mb > 0")
    config = ServeConfig(
        gallery=args.gallery,
        det=args.det,
        rec=args.rec or DEFAULT_REC,
        model_source=model_source(args.model_source),
        rec_thresh=default_rec_thresh(args.rec or DEFAULT_REC) if args.rec_thresh is None else args.rec_thresh,
        det_thresh=args.det_thresh,
        api_key=key,
        threads=args.threads,
        detect_workers=args.detect_workers,
        batch_window_ms=args.batch_window_ms,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=args.max_pixels,
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="info", access_log=False)
    return 0
