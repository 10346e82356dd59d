"""`faceid bench ...`: the measurements behind the README's tables."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from faceid.cli.argtypes import network_name, non_negative_int, positive_int


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("bench", help="benchmarks (decode, embed, pipeline)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    decode = commands.add_parser("decode", help="decode throughput: cv2 vs numpy pipeline vs native")
    decode.add_argument("--json", default=None, help="also write the results here")
    decode.add_argument("--count", type=positive_int, default=2000, help="corpus size (images)")
    decode.add_argument("--source", default=None, help="folder of aligned faces (default <shared>/data)")
    decode.add_argument("--corpus_dir", default=None, help="where to write the corpus (default: a temp dir)")
    decode.add_argument("--repeats", type=positive_int, default=3, help="timed passes per decoder")
    decode.set_defaults(handler=_decode)
    embed = commands.add_parser("embed", help="embedding latency: Recognizer vs bare predictor vs ONNX Runtime")
    embed.add_argument("--network", type=network_name, default="MobileFaceNet_128", help="backbone to export and time")
    embed.add_argument("--repeats", type=positive_int, default=30, help="interleaved calls per path at batch 1")
    embed.add_argument("--json", default=None, help="also write the results here")
    embed.set_defaults(handler=_embed)
    pipeline = commands.add_parser("pipeline", help="detect/align/embed/search ms on a 6-face 1080p photo")
    pipeline.add_argument(
        "--shared", default=None, help="shared data folder (default <shared>/data, see FACEID_SHARED)"
    )
    pipeline.add_argument(
        "--model-source",
        "--model_source",
        dest="model_source",
        default=None,
        help="offline folder of pretrained files (default $FACEID_MODEL_SOURCE, then <shared>/models)",
    )
    pipeline.add_argument("--repeats", type=positive_int, default=5, help="timed runs (the median is shown)")
    pipeline.add_argument("--json", default=None, help="also write the results here")
    pipeline.set_defaults(handler=_pipeline)
    gallery = commands.add_parser("gallery", help="gallery enrolment rate, exact and ANN search on random vectors")
    gallery.add_argument("--size", type=positive_int, default=100_000, help="gallery faces")
    gallery.add_argument("--dim", type=positive_int, default=512, help="embedding dimension")
    gallery.add_argument("--queries", type=positive_int, default=1000, help="queries timed per search mode")
    gallery.add_argument("--store_faces", type=non_negative_int, default=100_000, help="subjects enrolled into the SQLite store")
    gallery.add_argument("--json", default=None, help="also write the results here")
    gallery.set_defaults(handler=_gallery)
    serve = commands.add_parser("serve", help="HTTP identify load vs in-process FaceAnalysis on the same photos")
    serve.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    serve.add_argument("--requests", type=int, default=2000, help="identify requests in total")
    serve.add_argument("--shared", default=None, help="shared data folder (default ../shared/data)")
    serve.add_argument("--model-source", "--model_source", dest="model_source", default=None)
    serve.add_argument("--json", default=None, help="also write the results here")
    serve.set_defaults(handler=_serve)


def _decode(args: argparse.Namespace) -> int:
    from faceid.bench.corpus import default_source, make_corpus
    from faceid.bench.decode import format_table, run_decode_benchmark

    source = args.source or default_source()
    with tempfile.TemporaryDirectory(prefix="faceid-corpus-") as tmp:
        paths = make_corpus(args.corpus_dir or tmp, args.count, source)
        result = run_decode_benchmark(paths, repeats=args.repeats)
    result["source"] = str(source) if source else "procedural"
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _embed(args: argparse.Namespace) -> int:
    from faceid.bench.embed import format_embed_table, run_embed_benchmark

    result = run_embed_benchmark(args.network, repeats=args.repeats)
    print(format_embed_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from faceid.bench.pipeline import format_pipeline_table, run_pipeline_benchmark
    from faceid.cli.paths import model_source
    from faceid.errors import FaceidError
    from faceid.paths import shared_candidates, shared_dir

    found = shared_dir()
    if args.shared is None and found is None:
        looked = ", ".join(str(p) for p in shared_candidates())
        raise FaceidError(f"shared data not found (looked in: {looked}); pass --shared or set FACEID_SHARED")
    shared = Path(args.shared) if args.shared else found / "data"
    source = model_source(args.model_source, fallback=shared.parent / "models")
    result = run_pipeline_benchmark(shared, source, repeats=args.repeats)
    print(format_pipeline_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _gallery(args: argparse.Namespace) -> int:
    from faceid.bench.gallery import format_gallery_table, run_gallery_benchmark

    result = run_gallery_benchmark(args.size, args.dim, args.queries, store_faces=args.store_faces)
    print(format_gallery_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from faceid.bench.serve import format_serve_table, run_serve_benchmark
    from faceid.cli.paths import model_source, shared_dir
    from faceid.errors import UsageError

    if args.clients < 1 or args.requests < args.clients:
        raise UsageError(f"need --clients >= 1 and --requests >= --clients, got {args.clients}, {args.requests}")
    shared = Path(args.shared) if args.shared else shared_dir() / "data"
    source = model_source(args.model_source, fallback=shared.parent / "models")
    result = run_serve_benchmark(shared, source, clients=args.clients, requests=args.requests)
    print(format_serve_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0
