"""`faceid build-index`, `faceid predict` and `faceid demo`: the detect + recognise pipeline from the shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faceid.cli.paths import model_source, shared_dir


def _model_flags(parser: argparse.ArgumentParser) -> None:
    from faceid.pipeline.analysis import DEFAULT_DET, DEFAULT_REC

    parser.add_argument(
        "--det_model",
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
    parser.add_argument(
        "--model-source",
        "--model_source",
        dest="model_source",
        default=None,
        help="offline folder of pretrained files (default $FACEID_MODEL_SOURCE, then ../shared/models)",
    )
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
        "--det_thresh", type=float, default=None, help="detector score threshold (default: 0.75 BlazeFace, 0.8 FPN-SSH)"
    )
    parser.add_argument(
        "--landmarks",
        choices=["detector", "mtcnn_onet"],
        default="detector",
        help="points used for alignment: the detector's keypoints or MTCNN ONet's 5 points",
    )
    parser.add_argument("--cpu_threads", type=int, default=2)
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        default="fp32",
        help="recognizer precision: bf16 on CPUs with bf16 (checked against fp32 first), fp16 on GPU",
    )
    parser.add_argument("--use_gpu", action="store_true")
    parser.add_argument("--enable_mkldnn", default="true", help="accepted for the reference wheel; oneDNN is on")


def register(groups: argparse._SubParsersAction) -> None:
    build = groups.add_parser("build-index", help="build a gallery index from <person>/<images> or a label file")
    build.add_argument("--img_dir", required=True)
    build.add_argument("--label", default=None, help="optional path<TAB>name file (paths relative to --img_dir)")
    build.add_argument("--output", required=True, help="index file (.npz)")
    build.add_argument("--aligned", action="store_true", help="gallery photos are aligned 112x112 crops")
    _model_flags(build)
    build.set_defaults(handler=_build_index)

    predict = groups.add_parser("predict", help="detect and recognise faces in images, folders or videos")
    predict.add_argument("--det", action="store_true", help="detect faces")
    predict.add_argument("--rec", action="store_true", help="recognise faces (needs --index)")
    predict.add_argument("--index", default=None, help="gallery index from build-index")
    predict.add_argument("--input", required=True, help="image, folder or video")
    predict.add_argument("--output", required=True, help="folder for annotated copies and JSON")
    predict.add_argument("--rec_thresh", type=float, default=None, help="cosine threshold (default: the recognizer's)")
    predict.add_argument("--cdd_num", type=int, default=5, help="candidates voted on per face")
    predict.add_argument("--max_batch_size", type=int, default=32, help="faces per recognizer call")
    _model_flags(predict)
    predict.set_defaults(handler=_predict)

    demo = groups.add_parser("demo", help="gallery_dev: build a gallery, annotate the queries (the main job)")
    demo.add_argument("--gallery", default=None, help="<person>/<images> folder (default ../shared/data/...)")
    demo.add_argument("--query", default=None, help="query photos (default ../shared/data/gallery_dev/query)")
    demo.add_argument("--output", default="faceid_demo_output")
    _model_flags(demo)
    demo.set_defaults(handler=_demo)


def _app(args: argparse.Namespace, *, det: bool, rec: bool, index=None):
    from faceid.pipeline.analysis import FaceAnalysis

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
    from faceid.pipeline.analysis import iter_gallery_images

    app = _app(args, det=not args.aligned, rec=True)
    index = app.build_index(iter_gallery_images(args.img_dir, args.label))
    index.save(args.output)
    print(f"index: {args.output} ({len(index)} embeddings of {len(index.identities)} identities, {index.model})")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from faceid.pipeline.predict import predict_path

    det, rec = args.det or not args.rec, args.rec or not args.det
    if rec and not args.index:
        print("faceid predict: recognition needs --index (or pass --det alone)", file=sys.stderr)
        return 2
    app = _app(args, det=det, rec=rec, index=args.index if rec else None)
    for name, faces in predict_path(app, args.input, args.output).items():
        found = ", ".join(f"{f.identity or 'face'} ({f.sim if f.sim is not None else f.det_score:.2f})" for f in faces)
        print(f"{name}: {len(faces)} face(s){': ' + found if faces else ''}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from faceid.pipeline.analysis import iter_gallery_images
    from faceid.pipeline.predict import predict_path

    gallery = Path(args.gallery or shared_dir() / "data" / "gallery_dev" / "train")
    query = Path(args.query or shared_dir() / "data" / "gallery_dev" / "query")
    for path, what in ((gallery, "--gallery"), (query, "--query")):
        if not path.exists():
            print(
                f"faceid demo: {path} not found; pass {what} (the defaults need ../shared beside the repo)",
                file=sys.stderr,
            )
            return 2
    app = _app(args, det=True, rec=True)
    app.index = app.build_index(iter_gallery_images(gallery))
    print(f"gallery: {len(app.index.identities)} people ({', '.join(app.index.identities)}) from {gallery}")
    for name, faces in predict_path(app, query, args.output).items():
        people = ", ".join(f"{f.identity} at {[round(float(v)) for v in f.bbox]} ({f.sim:.2f})" for f in faces)
        print(f"{name}: {people or 'no faces'}")
    print(f"annotated images and JSON: {Path(args.output).resolve()}")
    return 0
