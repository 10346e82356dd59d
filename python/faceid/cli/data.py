"""`faceid data ...`: check, convert and import training sets."""

from __future__ import annotations

import argparse
import sys

from faceid.cli.argtypes import non_negative_int, positive_int


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("data", help="check, convert and import training data")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser("check", help="decode every image of a training set and report problems")
    check.add_argument("root", help="folder holding label.txt and the images")
    check.add_argument("--label_file", default=None, help="label file (default ROOT/label.txt)")
    check.add_argument("--num_workers", type=positive_int, default=2, help="decoder threads (>= 1)")
    check.add_argument("--no_progress", action="store_true", help="no progress bar (none either when not a terminal)")
    check.set_defaults(handler=_check)

    convert = commands.add_parser("convert", help="images <-> per-image kv .bin files (the reference tool)")
    convert.add_argument("--image_path", required=True, help="folder of images")
    convert.add_argument("--bin_path", required=True, help="folder of .bin files")
    convert.add_argument(
        "--mode", choices=["image2bin", "bin2image"], default="image2bin", help="direction (default image2bin)"
    )
    convert.add_argument(
        "--label_file", default=None, help="also write a label.txt listing the converted files (this one is only read)"
    )
    convert.add_argument(
        "--output_label_file",
        default=None,
        help="where to write it (default: label.txt in the output folder, which must not exist yet)",
    )
    convert.set_defaults(handler=_convert)

    from_rec = commands.add_parser("from-rec", help="MXNet train.rec/train.idx -> images + label.txt")
    from_rec.add_argument("--root_dir", required=True, help="folder with train.rec and train.idx")
    from_rec.add_argument("--output_dir", required=True, help="folder for the images (or .bin files) and label.txt")
    from_rec.add_argument("--format", choices=["jpg", "bin"], default="jpg", help="write images or kv .bin files")
    from_rec.set_defaults(handler=_from_rec)

    synth = commands.add_parser("synth", help="write a synthetic face-identity training set (+ verification pairs)")
    synth.add_argument("--output", required=True, help="folder to write images/, label.txt and VAL_NAME.bin into")
    synth.add_argument("--identities", type=positive_int, default=300, help="training identities (labels 0..N-1)")
    synth.add_argument("--samples", type=positive_int, default=30, help="images per training identity")
    synth.add_argument(
        "--val_pairs", type=non_negative_int, default=1000, help="verification pairs of unseen identities (0: none)"
    )
    synth.add_argument("--val_name", default="lfw", help="verification set file stem")
    synth.add_argument("--seed", type=non_negative_int, default=0, help="random seed of the drawn identities")
    synth.add_argument("--format", choices=["bin", "jpg"], default="bin", help="kv .bin files or plain .jpg files")
    synth.add_argument(
        "--num_workers", type=positive_int, default=None, help="writer threads (default: CPU count, <= 8)"
    )
    synth.add_argument("--no_progress", action="store_true", help="no progress bar")
    synth.set_defaults(handler=_synth)


def _check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from faceid.data.check import check_dataset

    progress = not args.no_progress and sys.stderr.isatty()
    report = check_dataset(
        args.root,
        args.label_file,
        num_threads=args.num_workers,
        progress=progress,
        on_problem=lambda problem: tqdm.write(problem.line(), file=sys.stdout),
    )
    for line in report.summary_lines():
        print(line, file=sys.stderr)
    return 0 if report.ok else 1


def _convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from faceid.data import convert
    from faceid.errors import UsageError

    source, output = (args.image_path, args.bin_path) if args.mode == "image2bin" else (args.bin_path, args.image_path)
    label_target = Path(args.output_label_file or Path(output) / "label.txt")
    if args.label_file and not args.output_label_file and label_target.exists():
        raise UsageError("a label file is already there; --output_label_file chooses where to write", label_target)
    if args.label_file and label_target.exists() and label_target.samefile(args.label_file):
        raise UsageError("--output_label_file is the input label file, which is never modified", label_target)
    write = convert.image_to_bin if args.mode == "image2bin" else convert.bin_to_image
    written = write(source, output)
    if args.label_file:
        convert.relocate_label_file(args.label_file, label_target, source, written)
        print(f"label file: {label_target}")
    print(f"converted {len(written)} files")
    return 0


def _from_rec(args: argparse.Namespace) -> int:
    from faceid.data.convert import rec_to_images

    stats = rec_to_images(args.root_dir, args.output_dir, fmt=args.format)
    print(f"num_image: {stats['num_image']}")
    print(f"num_classes: {stats['num_classes']}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from faceid.data.synthetic_faces import write_training_set

    summary = write_training_set(
        args.output,
        num_identities=args.identities,
        samples_per_identity=args.samples,
        seed=args.seed,
        fmt=args.format,
        val_pairs=args.val_pairs,
        val_name=args.val_name,
        progress=not args.no_progress,
        num_threads=args.num_workers,
    )
    print(f"num_image: {summary['num_images']}")
    print(f"num_classes: {summary['num_identities']}")
    if summary["val_file"]:
        print(f"verification: {summary['val_file']} ({summary['val_pairs']} pairs, {summary['val_genuine']} genuine)")
    print(f"seconds: {summary['seconds']:.1f}")
    return 0
