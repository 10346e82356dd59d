"""`faceid bench ...`: the measurements behind the README's tables."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("bench", help="benchmarks (decode, embed, detect, pipeline)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    decode = commands.add_parser("decode", help="decode throughput: cv2 vs numpy pipeline vs native")
    decode.add_argument("--json", default=None, help="also write the results here")
    decode.add_argument("--count", type=int, default=2000, help="corpus size (images)")
    decode.add_argument("--source", default=None, help="folder of aligned faces (default ../shared/data)")
    decode.add_argument("--corpus_dir", default=None, help="where to write the corpus (default: a temp dir)")
    decode.add_argument("--repeats", type=int, default=3)
    decode.set_defaults(handler=_decode)
    embed = commands.add_parser("embed", help="embedding latency: Recognizer vs bare predictor vs ONNX Runtime")
    embed.add_argument("--network", default="MobileFaceNet_128")
    embed.add_argument(
        "--model",
        default=None,
        help="a published model instead of --network: mobileface_v1.0_infer, at Arcface-Paddle's benchmark "
        "configuration (batch 1, oneDNN, 10 threads) beside faceid's paths",
    )
    embed.add_argument("--repeats", type=int, default=None, help="timed calls per path (default 30; --model 500)")
    embed.add_argument("--threads", type=int, default=2, help="with --model: faceid's threads (default 2)")
    embed.add_argument("--model-source", "--model_source", dest="model_source", default=None)
    embed.add_argument("--json", default=None, help="also write the results here")
    embed.set_defaults(handler=_embed)
    detect = commands.add_parser("detect", help="detector latency at the reference's configuration (FPN-SSH)")
    detect.add_argument("--det_model", default="blazeface_fpn_ssh", help="blazeface_fpn_ssh (the wheel's detector)")
    detect.add_argument("--image", default=None, help="BGR photo (default ../shared/data/.../obama_and_biden.jpg)")
    detect.add_argument("--repeats", type=int, default=100, help="timed calls per path")
    detect.add_argument("--threads", type=int, default=2, help="faceid's threads (the reference's: 5)")
    detect.add_argument("--model-source", "--model_source", dest="model_source", default=None)
    detect.add_argument("--json", default=None, help="also write the results here")
    detect.set_defaults(handler=_detect)
    compare = commands.add_parser("compare", help="recognisers and detectors side by side on ../shared (defaults)")
    compare.add_argument("--shared", default=None, help="shared data folder (default ../shared/data)")
    compare.add_argument("--model-source", "--model_source", dest="model_source", default=None)
    compare.add_argument("--json", default=None, help="also write the results here")
    compare.set_defaults(handler=_compare)
    pipeline = commands.add_parser("pipeline", help="detect/align/embed/search ms on a 6-face 1080p photo")
    pipeline.add_argument("--shared", default=None, help="shared data folder (default ../shared/data)")
    pipeline.add_argument("--model-source", "--model_source", dest="model_source", default=None)
    pipeline.add_argument("--repeats", type=int, default=5)
    pipeline.add_argument("--json", default=None, help="also write the results here")
    pipeline.set_defaults(handler=_pipeline)


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

    if args.model is not None:
        return _reference_embed(args)
    result = run_embed_benchmark(args.network, repeats=args.repeats or 30)
    print(format_embed_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _reference_embed(args: argparse.Namespace) -> int:
    from faceid.bench.reference import EMBED_MODEL, format_reference_table, run_reference_embed
    from faceid.cli.paths import model_source
    from faceid.errors import UsageError

    if args.model != EMBED_MODEL:
        raise UsageError(f"--model: the reference benchmark runs {EMBED_MODEL}, not {args.model!r}")
    result = run_reference_embed(model_source(args.model_source), threads=args.threads, repeats=args.repeats or 500)
    print(format_reference_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _detect(args: argparse.Namespace) -> int:
    from faceid.bench.reference import format_reference_table, run_reference_detect
    from faceid.cli.paths import model_source, shared_dir
    from faceid.data.images import load_bgr
    from faceid.errors import UsageError
    from faceid.zoo import get_record

    try:
        record = get_record(args.det_model)
    except ValueError as error:
        raise UsageError(f"--det_model: {error}") from None
    if record.name != "blazeface_fpn_ssh_1000e_v1.0_infer":
        raise UsageError(f"--det_model: bench detect runs blazeface_fpn_ssh, not {args.det_model!r}")
    image = Path(args.image or shared_dir() / "data" / "gallery_dev" / "query" / "obama_and_biden.jpg")
    result = run_reference_detect(
        load_bgr(image), model_source(args.model_source), threads=args.threads, repeats=args.repeats
    )
    result["image"] = str(image)
    print(format_reference_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from faceid.bench.pipeline import format_pipeline_table, run_pipeline_benchmark
    from faceid.cli.paths import model_source, shared_dir

    shared = Path(args.shared) if args.shared else shared_dir() / "data"
    source = model_source(args.model_source, fallback=shared.parent / "models")
    result = run_pipeline_benchmark(shared, source, repeats=args.repeats)
    print(format_pipeline_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from faceid.bench.compare import format_comparison, run_comparison
    from faceid.cli.paths import model_source, shared_dir

    shared = Path(args.shared) if args.shared else shared_dir() / "data"
    result = run_comparison(shared, model_source(args.model_source, fallback=shared.parent / "models"))
    print(format_comparison(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0
