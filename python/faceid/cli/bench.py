"""`faceid bench ...`: the measurements behind the README's tables."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from faceid.cli.argtypes import network_name, non_negative_int, positive_int
from faceid.cli.paths import add_model_source_flag


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("bench", help="benchmarks (decode, embed, detect, compare, pipeline, gallery, serve)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _register_decode(commands)
    _register_embed(commands)
    _register_detect(commands)
    _register_compare(commands)
    _register_pipeline(commands)
    _register_gallery(commands)
    _register_serve(commands)


def _register_decode(commands: argparse._SubParsersAction) -> None:
    decode = commands.add_parser("decode", help="decode throughput: cv2 vs numpy pipeline vs native")
    decode.add_argument("--json", default=None, help="also write the results here")
    decode.add_argument("--count", type=positive_int, default=2000, help="corpus size (images)")
    decode.add_argument("--source", default=None, help="folder of aligned faces (default <shared>/data)")
    decode.add_argument("--corpus_dir", default=None, help="where to write the corpus (default: a temp dir)")
    decode.add_argument("--repeats", type=positive_int, default=3, help="timed passes per decoder")
    decode.set_defaults(handler=_decode)


def _register_embed(commands: argparse._SubParsersAction) -> None:
    embed = commands.add_parser("embed", help="embedding latency: Recognizer vs bare predictor vs ONNX Runtime")
    # default=None: argparse would run network_name (which imports Paddle) on a string default at every parse
    embed.add_argument(
        "--network", type=network_name, default=None, help="backbone to export and time (default MobileFaceNet_128)"
    )
    embed.add_argument(
        "--model",
        default=None,
        help="a published model instead of --network: mobileface_v1.0_infer, at Arcface-Paddle's benchmark "
        "configuration (batch 1, oneDNN, 10 threads) beside faceid's paths",
    )
    embed.add_argument(
        "--repeats", type=positive_int, default=None, help="timed calls per path (default 30; --model 500)"
    )
    embed.add_argument("--threads", type=positive_int, default=2, help="with --model: faceid's threads (default 2)")
    add_model_source_flag(embed)
    embed.add_argument("--json", default=None, help="also write the results here")
    embed.set_defaults(handler=_embed)


def _register_detect(commands: argparse._SubParsersAction) -> None:
    detect = commands.add_parser("detect", help="detector latency at the reference's configuration (FPN-SSH)")
    detect.add_argument("--det_model", default="blazeface_fpn_ssh", help="blazeface_fpn_ssh (the wheel's detector)")
    detect.add_argument("--image", default=None, help="BGR photo (default ../shared/data/.../obama_and_biden.jpg)")
    detect.add_argument("--repeats", type=positive_int, default=100, help="timed calls per path")
    detect.add_argument("--threads", type=positive_int, default=2, help="faceid's threads (the reference's: 5)")
    add_model_source_flag(detect)
    detect.add_argument("--json", default=None, help="also write the results here")
    detect.set_defaults(handler=_detect)


def _register_compare(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser("compare", help="recognisers and detectors side by side on ../shared (defaults)")
    compare.add_argument("--shared", default=None, help="shared data folder (default ../shared/data)")
    add_model_source_flag(compare)
    compare.add_argument("--json", default=None, help="also write the results here")
    compare.set_defaults(handler=_compare)


def _register_pipeline(commands: argparse._SubParsersAction) -> None:
    pipeline = commands.add_parser(
        "pipeline", help="detect/align/embed/search ms on a 6-face 1080p photo: faceid vs LiteRT + ONNX Runtime"
    )
    pipeline.add_argument(
        "--shared", default=None, help="shared data folder (default <shared>/data, see FACEID_SHARED)"
    )
    add_model_source_flag(pipeline)
    pipeline.add_argument("--repeats", type=positive_int, default=5, help="timed runs (the median is shown)")
    pipeline.add_argument("--threads", type=positive_int, default=2, help="threads of each side (default 2)")
    pipeline.add_argument("--json", default=None, help="also write the results here")
    pipeline.set_defaults(handler=_pipeline)


def _register_gallery(commands: argparse._SubParsersAction) -> None:
    gallery = commands.add_parser("gallery", help="gallery enrolment rate, exact and ANN search on random vectors")
    gallery.add_argument("--size", type=positive_int, default=100_000, help="gallery faces")
    gallery.add_argument("--dim", type=positive_int, default=512, help="embedding dimension")
    gallery.add_argument("--queries", type=positive_int, default=1000, help="queries timed per search mode")
    gallery.add_argument(
        "--store_faces", type=non_negative_int, default=100_000, help="subjects enrolled into the SQLite store"
    )
    gallery.add_argument("--json", default=None, help="also write the results here")
    gallery.set_defaults(handler=_gallery)


def _register_serve(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="HTTP identify load vs in-process FaceAnalysis on the same photos")
    serve.add_argument("--clients", type=positive_int, default=8, help="concurrent HTTP clients")
    serve.add_argument("--requests", type=positive_int, default=2000, help="identify requests in total")
    serve.add_argument("--shared", default=None, help="shared data folder (default ../shared/data)")
    add_model_source_flag(serve)
    serve.add_argument("--json", default=None, help="also write the results here")
    serve.set_defaults(handler=_serve)


def _write_json(path: str | None, result: dict) -> int:
    """``--json``: the results as JSON (written atomically)."""
    if path:
        from faceid.io.atomic import atomic_write_bytes

        atomic_write_bytes(Path(path), (json.dumps(result, indent=2) + "\n").encode())
    return 0


def _decode(args: argparse.Namespace) -> int:
    from faceid.bench.corpus import default_source, make_corpus
    from faceid.bench.decode import format_table, run_decode_benchmark

    source = args.source or default_source()
    with tempfile.TemporaryDirectory(prefix="faceid-corpus-") as tmp:
        paths = make_corpus(args.corpus_dir or tmp, args.count, source)
        result = run_decode_benchmark(paths, repeats=args.repeats)
    result["source"] = str(source) if source else "procedural"
    print(format_table(result))
    return _write_json(args.json, result)


def _embed(args: argparse.Namespace) -> int:
    from faceid.bench.embed import format_embed_table, run_embed_benchmark

    if args.model is not None:
        return _reference_embed(args)
    result = run_embed_benchmark(args.network or "MobileFaceNet_128", repeats=args.repeats or 30)
    print(format_embed_table(result))
    return _write_json(args.json, result)


def _reference_embed(args: argparse.Namespace) -> int:
    from faceid.bench.reference import EMBED_MODEL, format_reference_table, run_reference_embed
    from faceid.cli.paths import model_source
    from faceid.errors import UsageError

    if args.model != EMBED_MODEL:
        raise UsageError(f"--model: the reference benchmark runs {EMBED_MODEL}, not {args.model!r}")
    result = run_reference_embed(model_source(args.model_source), threads=args.threads, repeats=args.repeats or 500)
    print(format_reference_table(result))
    return _write_json(args.json, result)


def _detect(args: argparse.Namespace) -> int:
    from faceid.bench.reference import format_reference_table, run_reference_detect
    from faceid.cli.paths import model_source, shared_data
    from faceid.data.images import load_bgr
    from faceid.errors import UsageError
    from faceid.zoo import get_record

    try:
        record = get_record(args.det_model)
    except ValueError as error:
        raise UsageError(f"--det_model: {error}") from None
    if record.name != "blazeface_fpn_ssh_1000e_v1.0_infer":
        raise UsageError(f"--det_model: bench detect runs blazeface_fpn_ssh, not {args.det_model!r}")
    image = Path(args.image or shared_data(None) / "gallery_dev" / "query" / "obama_and_biden.jpg")
    result = run_reference_detect(
        load_bgr(image), model_source(args.model_source), threads=args.threads, repeats=args.repeats
    )
    result["image"] = str(image)
    print(format_reference_table(result))
    return _write_json(args.json, result)


def _pipeline(args: argparse.Namespace) -> int:
    from faceid.bench.peer import require_peer_runtimes
    from faceid.bench.pipeline import format_pipeline_table, run_pipeline_benchmark
    from faceid.cli.paths import model_source, shared_data

    require_peer_runtimes()  # before anything slow: one line naming the extra
    shared = shared_data(args.shared)
    source = model_source(args.model_source, fallback=shared.parent / "models")
    result = run_pipeline_benchmark(shared, source, repeats=args.repeats, threads=args.threads)
    print(format_pipeline_table(result))
    return _write_json(args.json, result)


def _gallery(args: argparse.Namespace) -> int:
    from faceid.bench.gallery import format_gallery_table, run_gallery_benchmark

    result = run_gallery_benchmark(args.size, args.dim, args.queries, store_faces=args.store_faces)
    print(format_gallery_table(result))
    return _write_json(args.json, result)


def _serve(args: argparse.Namespace) -> int:
    from faceid.bench.serve import format_serve_table, run_serve_benchmark
    from faceid.cli.paths import model_source, shared_data
    from faceid.errors import UsageError

    if args.requests < args.clients:
        raise UsageError(f"need --requests >= --clients, got {args.requests} < {args.clients}")
    shared = shared_data(args.shared)
    source = model_source(args.model_source, fallback=shared.parent / "models")
    result = run_serve_benchmark(shared, source, clients=args.clients, requests=args.requests)
    print(format_serve_table(result))
    return _write_json(args.json, result)


def _compare(args: argparse.Namespace) -> int:
    from faceid.bench.compare import format_comparison, run_comparison
    from faceid.cli.paths import model_source, shared_data

    shared = shared_data(args.shared)
    result = run_comparison(shared, model_source(args.model_source, fallback=shared.parent / "models"))
    print(format_comparison(result))
    return _write_json(args.json, result)
