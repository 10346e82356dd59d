"""`faceid export` and `faceid eval`: export a trained backbone; score models on verification sets."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from faceid.cli.argtypes import det_models, network_name, positive_int
from faceid.cli.paths import add_model_source_flag
from faceid.errors import FaceidError, UsageError


def register(groups: argparse._SubParsersAction) -> None:
    export = groups.add_parser("export", help="export a checkpoint for Paddle Inference (+ ONNX)")
    export.add_argument("--network", type=network_name, required=True, help="model name, e.g. MobileFaceNet_128")
    export.add_argument("--checkpoint", required=True, help="checkpoint folder or training --output folder")
    export.add_argument("--output", "--output_path", required=True, help="export folder")
    export.add_argument("--embedding_size", type=positive_int, default=None, help="default: from the checkpoint")
    export.add_argument("--onnx", action="store_true", help="also write inference.onnx (needs paddle2onnx)")
    export.set_defaults(handler=_export)

    evaluate = groups.add_parser("eval", help="verification accuracy on lfw/cfp_fp/agedb_30-style .bin sets")
    evaluate.add_argument("--model", default=None, help="export folder (or pretrained model name)")
    evaluate.add_argument(
        "--network", type=network_name, default=None, help="with --checkpoint: evaluate a training checkpoint"
    )
    evaluate.add_argument(
        "--checkpoint", "--checkpoint_dir", dest="checkpoint", default=None, help="training checkpoint (with --network)"
    )
    evaluate.add_argument("--data_dir", default=None, help="folder holding <target>.bin")
    evaluate.add_argument(
        "--val_targets", default="lfw,cfp_fp,agedb_30", help="comma-separated set names (<data_dir>/<name>.bin)"
    )
    evaluate.add_argument("--batch_size", type=positive_int, default=64, help="faces per predictor call")
    evaluate.add_argument("--report", default=None, help="write <target>.json and <target>_roc.png here")
    evaluate.add_argument("--threads", type=positive_int, default=2, help="CPU threads of the predictor")
    evaluate.add_argument("--gallery", default=None, help="open-set identification: gallery <person>/<photos>")
    evaluate.add_argument("--probe", default=None, help="open-set identification: probe <person>/<photos>")
    evaluate.add_argument(
        "--det_model", choices=det_models, default="blazeface_short", help="detector for --gallery/--probe"
    )
    add_model_source_flag(evaluate)
    evaluate.set_defaults(handler=_eval)


def _export(args: argparse.Namespace) -> int:
    from faceid.export import export_model, load_checkpoint_backbone

    model, source, size = load_checkpoint_backbone(args.network, args.checkpoint, args.embedding_size)
    files = export_model(
        model, args.output, network=args.network, embedding_size=size, source=str(source), onnx=args.onnx
    )
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0


def _embed_fn(args: argparse.Namespace):
    from faceid.eval.verification import paddle_embed_fn

    if args.checkpoint:
        if not args.network:
            raise UsageError("--checkpoint needs --network")
        from faceid.export import load_checkpoint_backbone

        model, source, _ = load_checkpoint_backbone(args.network, args.checkpoint)
        return paddle_embed_fn(model), str(source)
    if not args.model:
        raise UsageError("give --model EXPORT_DIR (or --network NAME --checkpoint DIR)")
    from faceid.export import verify_export_files
    from faceid.infer import PaddlePredictor, find_program
    from faceid.pipeline.recognizer import _resolve_model_dir

    directory = _resolve_model_dir(args.model)
    files = find_program(directory)
    verify_export_files(directory, *files)
    predictor = PaddlePredictor(*files, threads=args.threads)
    return predictor.run, str(directory)


def _eval_open_set(args: argparse.Namespace) -> int:
    from faceid.cli.paths import model_source
    from faceid.errors import UsageError
    from faceid.eval.open_set import write_open_set_report
    from faceid.pipeline.analysis import DEFAULT_REC, FaceAnalysis
    from faceid.pipeline.enrol import evaluate_open_set

    if not (args.gallery and args.probe):
        raise UsageError("open-set evaluation needs both --gallery DIR and --probe DIR")
    app = FaceAnalysis(
        args.det_model,
        args.model or DEFAULT_REC,
        model_source=model_source(args.model_source),
        threads=args.threads,
    )
    report = evaluate_open_set(app, args.gallery, args.probe)
    summary = report.to_json()
    print(
        f"gallery: {summary['gallery_subjects']} people; probes: {summary['mated_probes']} mated, "
        f"{summary['non_mated_probes']} non-mated, {len(summary['probes_without_face'])} without a face"
    )
    for key in ("rank_1", "rank_5"):
        print(f"{key}: {'n/a' if summary[key] is None else f'{summary[key]:.4f}'}")
    for fpir, tpir in summary["tpir_at_fpir"].items():
        threshold = summary["threshold_at_fpir"][fpir]
        shown = "n/a (too few non-mated probes)" if tpir is None else f"{tpir:.4f} (threshold {threshold:.4f})"
        print(f"TPIR@FPIR={fpir}: {shown}")
    if args.report:
        paths = write_open_set_report(report, args.report, extra={"model": str(app.recognizer.model_dir)})
        print(f"report: {paths[0]} {paths[1]}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    """Score each target in turn; a missing or unreadable set is reported (``path: problem``) and the others still
    run; exit 1 when any failed."""
    if args.gallery or args.probe:
        return _eval_open_set(args)
    if not args.data_dir:
        raise UsageError("give --data_dir (verification sets) or --gallery and --probe (open-set)")
    from faceid.data.verification_set import load_verification_set

    try:
        embed_fn, source = _embed_fn(args)
    except ValueError as error:
        if isinstance(error, FaceidError):
            raise
        raise UsageError(str(error)) from error
    names = [name.strip() for name in args.val_targets.split(",") if name.strip()]
    if not names:
        raise UsageError("--val_targets names no set")
    failed = []
    for name in names:
        path = Path(args.data_dir) / f"{name}.bin"
        try:
            vset = load_verification_set(path)
        except (OSError, ValueError) as error:  # a ValueError from the loader names the file and what is wrong
            problem = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            print(f"{path}: {problem.removeprefix(f'{path}: ')}", file=sys.stderr, flush=True)
            failed.append(str(path))
            continue
        _score(args, name, vset, embed_fn, source)
    if failed:
        print(f"faceid: error: {len(failed)} of {len(names)} set(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _score(args: argparse.Namespace, name: str, vset, embed_fn, source: str) -> None:
    from faceid.eval.report import evaluate_target, write_report
    from faceid.eval.verification import decode_verification_images, format_lines

    started = time.perf_counter()
    report = evaluate_target(name, embed_fn, decode_verification_images(vset), vset.issame, batch_size=args.batch_size)
    for line in format_lines(name, 1, report.result, report.result.accuracy):
        print(line)
    tars = ", ".join(f"{far}: {'n/a' if tar is None else f'{tar:.5f}'}" for far, tar in report.tar_at_far.items())
    print(f"[{name}][1]TAR@FAR: {tars}")
    print(f"[{name}][1]Best threshold: cosine {report.to_json()['best_threshold_cosine']:.4f}")
    print(f"test time: {time.perf_counter() - started:.4f}")
    if args.report:
        json_path, png_path = write_report(report, args.report, extra={"model": source})
        print(f"report: {json_path} {png_path}", flush=True)
