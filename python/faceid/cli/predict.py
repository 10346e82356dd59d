"""`faceid build-index`, `faceid predict` and `faceid demo`: the detect + recognise pipeline from the shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faceid.cli.argtypes import cosine, det_models, positive_int, probability
from faceid.cli.paths import add_model_source_flag, model_source
from faceid.errors import FaceidError, UsageError


def _model_flags(parser: argparse.ArgumentParser) -> None:
    from faceid.zoo.defaults import DEFAULT_DET, DEFAULT_REC

    parser.add_argument(
        "--det_model",
        choices=det_models,
        default=DEFAULT_DET,
        help="detector: blazeface_short (tiles for small faces), blazeface_full (one 192x192 pass, no tiling) or "
        "blazeface_fpn_ssh (the reference wheel's, 640x640; aligned on MTCNN ONet's points)",
    )
    parser.add_argument(
        "--rec_model",
        default=DEFAULT_REC,
        help="recognizer: pretrained name (mobileface_v1.0_infer, mobileface_v2), export folder or reference-style "
        "folder (inference.pdmodel + inference.pdiparams)",
    )
    add_model_source_flag(parser)
    for flag, what in (("--rec_mean", "mean"), ("--rec_std", "std")):
        parser.add_argument(
            flag,
            type=float,
            nargs=3,
            default=None,
            metavar=("R", "G", "B"),
            help=f"input {what} (pixel units) of a reference-style --rec_model folder no zoo record describes "
            "(default: Arcface-Paddle's 127.5)",
        )
    parser.add_argument(
        "--det_thresh",
        type=probability,
        default=None,
        help="detector score threshold (default: 0.75 BlazeFace, 0.8 FPN-SSH)",
    )
    parser.add_argument(
        "--landmarks",
        choices=["detector", "mtcnn_onet"],
        default="detector",
        help="points used for alignment: the detector's keypoints or MTCNN ONet's 5 points",
    )
    parser.add_argument("--cpu_threads", type=positive_int, default=2, help="CPU threads per predictor (>= 1)")
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="recognizer precision: auto = bf16 on CPUs with fast bf16 where it agrees with fp32 at load, else "
        "fp32; bf16 (checked against fp32 first); fp16 on GPU only",
    )
    parser.add_argument("--use_gpu", action="store_true", help="recognizer on the GPU (Paddle GPU build)")
    parser.add_argument("--enable_mkldnn", default="true", help="accepted for the reference wheel; oneDNN is on")


def register(groups: argparse._SubParsersAction) -> None:
    build = groups.add_parser("build-index", help="build a gallery index from <person>/<images> or a label file")
    build.add_argument("--img_dir", required=True, help="gallery folder: one sub-folder of photos per person")
    build.add_argument("--label", default=None, help="optional path<TAB>name file (paths relative to --img_dir)")
    build.add_argument("--output", required=True, help="index file (.npz)")
    build.add_argument("--aligned", action="store_true", help="gallery photos are aligned 112x112 crops")
    build.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    build.add_argument("--strict", action="store_true", help="skip photos with several faces (default: the largest)")
    _model_flags(build)
    build.set_defaults(handler=_build_index)

    predict = groups.add_parser("predict", help="detect and recognise faces in images, folders or videos")
    predict.add_argument("--det", action="store_true", help="detect faces")
    predict.add_argument("--rec", action="store_true", help="recognise faces (needs --index)")
    predict.add_argument(
        "--index", default=None, help="gallery: an npz from build-index, a reference index.bin or a gallery store"
    )
    predict.add_argument("--input", required=True, help="image, folder or video")
    predict.add_argument(
        "--output", required=True, help="folder for <input name>.json and <input name>.annotated.<ext> (not in --input)"
    )
    predict.add_argument("--rec_thresh", type=cosine, default=None, help="cosine threshold (default: the recognizer's)")
    predict.add_argument("--cdd_num", type=positive_int, default=5, help="candidates voted on per face (>= 1)")
    predict.add_argument("--max_batch_size", type=positive_int, default=32, help="faces per recognizer call (>= 1)")
    predict.add_argument(
        "--fail-fast", "--fail_fast", dest="fail_fast", action="store_true", help="stop at the first bad input"
    )
    _model_flags(predict)
    predict.set_defaults(handler=_predict)

    demo = groups.add_parser("demo", help="gallery_dev: build a gallery, annotate the queries (the main job)")
    demo.add_argument(
        "--gallery", default=None, help="<person>/<images> folder (default <shared>/data/gallery_dev/train)"
    )
    demo.add_argument("--query", default=None, help="query photos (default <shared>/data/gallery_dev/query)")
    demo.add_argument("--output", default="faceid_demo_output", help="folder for the annotated images and JSON")
    _model_flags(demo)
    demo.set_defaults(handler=_demo, fail_fast=False)


def _check_device(args: argparse.Namespace) -> None:
    """``--use_gpu`` needs a usable GPU, ``--precision fp16`` needs ``--use_gpu``; checked before any model loads."""
    if args.precision == "fp16" and not args.use_gpu:
        raise UsageError("--precision fp16 runs on a GPU only; add --use_gpu or use fp32/bf16")
    if args.use_gpu:
        import paddle

        if not paddle.device.is_compiled_with_cuda():
            raise UsageError("--use_gpu: this Paddle is the CPU build (see the README's 'Paddle CPU or GPU')")
        if paddle.device.cuda.device_count() < 1:
            raise UsageError("--use_gpu: no CUDA device is visible")


def _app(args: argparse.Namespace, *, det: bool, rec: bool, index=None):
    from faceid.pipeline.analysis import FaceAnalysis

    _check_device(args)
    return FaceAnalysis(
        args.det_model if det else None,
        args.rec_model if rec else None,
        index=index,
        model_source=model_source(args.model_source),
        det_thresh=args.det_thresh,
        rec_thresh=getattr(args, "rec_thresh", None),
        cdd_num=getattr(args, "cdd_num", 5),
        threads=args.cpu_threads,
        precision=args.precision,
        device="gpu" if args.use_gpu else "cpu",
        max_batch_size=getattr(args, "max_batch_size", 32),
        landmarks=None if args.landmarks == "detector" else args.landmarks,
        rec_preprocess={k: v for k, v in (("mean", args.rec_mean), ("std", args.rec_std)) if v} or None,
    )


def _build_index(args: argparse.Namespace) -> int:
    from faceid.errors import InputError
    from faceid.pipeline.enrol import check_found, embed_photos, gallery_entries, index_from_report

    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise InputError("index file exists; pass --overwrite to replace it", output)
    entries = gallery_entries(args.img_dir, args.label)
    app = _app(args, det=not args.aligned, rec=True)
    report = embed_photos(app, entries, strict=args.strict)
    check_found(report, args.label or args.img_dir)
    rec = app.recognizer
    index = index_from_report(report, app.rec_name, rec.embedding_size, fingerprint=rec.fingerprint)
    index.save(output)
    print(f"index: {output} ({len(index)} embeddings of {len(index.identities)} identities, {index.model})")
    for path, problem in report.failures:
        print(f"{path}: {problem}", file=sys.stderr)
    return 1 if report.failures else 0


def _annotate(app, source: Path, output: Path, args: argparse.Namespace, describe) -> int:
    """Run every input, printing ``name: result`` on stdout, or ``path: problem`` on stderr as each failure happens and
    a summary line naming them all at the end (one input: just ``faceid: error: problem (path)``); 1 if any failed."""
    from faceid.pipeline.predict import iter_predictions

    failed, done = [], 0
    single = not source.is_dir()
    for result in iter_predictions(app, source, output, progress=sys.stderr.isatty(), fail_fast=args.fail_fast):
        done += 1
        if result.problem is None:
            print(f"{result.path.name}: {describe(result.faces)}", flush=True)
            continue
        failed.append(result)
        if single:
            print(f"faceid: error: {result.problem} ({result.path})", file=sys.stderr)
        else:
            print(f"{result.path}: {result.problem}", file=sys.stderr, flush=True)
    if failed and not single:
        names = ", ".join(r.path.name for r in failed)
        print(f"faceid: error: {len(failed)} of {done} inputs failed: {names}", file=sys.stderr)
    return 1 if failed else 0


def _predict(args: argparse.Namespace) -> int:
    from faceid.pipeline.predict import check_output_folder

    det, rec = args.det or not args.rec, args.rec or not args.det
    if rec and not args.index:
        raise UsageError("recognition needs --index (or pass --det alone)")
    check_output_folder(args.input, args.output)  # before any model loads
    if not Path(args.input).exists():
        raise FaceidError("input not found", args.input)
    app = _app(args, det=det, rec=rec, index=args.index if rec else None)
    if rec:
        from faceid.gallery import gallery_kind

        found = f"{len(app.index)} faces of {len(app.index.identities)} identities"
        print(f"gallery: {args.index} ({gallery_kind(args.index)}: {found})")

    def describe(faces) -> str:
        found = ", ".join(f"{f.identity or 'face'} ({f.sim if f.sim is not None else f.det_score:.2f})" for f in faces)
        return f"{len(faces)} face(s){': ' + found if faces else ''}"

    return _annotate(app, Path(args.input), Path(args.output), args, describe)


def _demo_folders(args: argparse.Namespace) -> tuple[Path, Path]:
    """The gallery and query folders: the flags, else ``<shared>/data/gallery_dev``; an error that names every
    folder looked in when a default is missing."""
    from faceid.paths import shared_candidates, shared_dir

    shared = shared_dir()
    if (args.gallery is None or args.query is None) and shared is None:
        looked = ", ".join(str(p) for p in shared_candidates())
        raise FaceidError(
            f"the demo data was not found (looked for the shared folder in: {looked}); "
            "set FACEID_SHARED=/path/to/shared or pass --gallery, --query and --model-source"
        )
    gallery = Path(args.gallery) if args.gallery else shared / "data" / "gallery_dev" / "train"
    query = Path(args.query) if args.query else shared / "data" / "gallery_dev" / "query"
    for path, flag in ((gallery, "--gallery"), (query, "--query")):
        if not path.is_dir():
            raise FaceidError(f"{flag} folder not found; pass {flag} or set FACEID_SHARED", path)
    return gallery, query


def _demo(args: argparse.Namespace) -> int:
    from faceid.pipeline.enrol import iter_gallery_images
    from faceid.pipeline.predict import check_output_folder

    gallery, query = _demo_folders(args)
    check_output_folder(query, args.output)
    app = _app(args, det=True, rec=True)
    app.index = app.build_index(iter_gallery_images(gallery))
    print(f"gallery: {len(app.index.identities)} people ({', '.join(app.index.identities)}) from {gallery}")

    def describe(faces) -> str:
        people = ", ".join(f"{f.identity} at {[round(float(v)) for v in f.bbox]} ({f.sim:.2f})" for f in faces)
        return people or "no faces"

    code = _annotate(app, query, Path(args.output), args, describe)
    print(f"annotated images and JSON: {Path(args.output).resolve()}")
    return code
