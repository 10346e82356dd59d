"""`faceid train`: Arcface-Paddle's flags over a typed config, presets and ``--set key=value`` overrides."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from typing import get_type_hints

from faceid.cli.argtypes import loss_name, network_name, non_negative_int
from faceid.errors import UsageError

# Extra spellings accepted on the command line (Arcface-Paddle v2's names).
_FLAG_ALIASES = {
    "amp": ["--fp16"],
    "network": ["--backbone"],
    "synthetic": ["--use_synthetic_dataset"],
    "val_interval": ["--validation_interval_step"],
    "log_interval": ["--log_interval_step"],
    "resume": ["--checkpoint_dir"],
}
# Flags checked while parsing (the others by TrainConfig, before training starts).
_FLAG_TYPES = {"network": network_name, "loss": loss_name}
# Arcface-Paddle flags that faceid does not need (accepted so Arcface-Paddle's command lines keep working).
_IGNORED_FLAGS = {
    "--is_bin": "each file's format is detected from its content",
    "--dataset": "informational only in Arcface-Paddle",
    "--model_parallel": "the classifier is always sharded (Arcface-Paddle parsed this flag but never used it)",
    "--classifier": "PartialFC is the only classifier",
    "--is_static": "faceid trains in dynamic mode",
}


def register(groups: argparse._SubParsersAction) -> None:
    from faceid.train.config import TrainConfig

    parser = groups.add_parser(
        "train",
        help="train an ArcFace-family model",
        description="Train on a label.txt training set. Every flag overrides the preset chosen by --config. "
        "Several processes: python -m paddle.distributed.launch --nproc_per_node N $(which faceid) train ... "
        "or faceid train --nproc_per_node N / --gpus 0,1,...",
    )
    parser.add_argument(
        "--config",
        "--config_file",
        default="base",
        help="preset: base, ms1mv2_mobileface, ms1mv3_r50, ms1mv3_r100, v1_mobileface",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key")
    parser.add_argument("--gpus", default=None, help="launch one process per listed GPU (e.g. 0,1,2,3)")
    parser.add_argument("--nproc_per_node", type=non_negative_int, default=0, help="launch N processes on this machine")
    hints = get_type_hints(TrainConfig)
    special = {
        "resume": {
            "type": _resume_arg,
            "metavar": "0|1|PATH",
            "help": "0: a new run; 1: continue from the newest "
            "checkpoint under --output; PATH: continue from that checkpoint folder (default 0)",
        },
        "overwrite": {
            "help": "start a new run in an --output that holds one: remove that run's checkpoints and "
            "training.log first (default: refuse)"
        },
    }
    for item in fields(TrainConfig):
        kind = hints[item.name]
        metavar = "N" if kind is int else "X" if kind is float else "LIST" if "tuple" in str(kind) else None
        extra = {"nargs": "?", "const": "true", "metavar": "BOOL"} if kind is bool else {"metavar": metavar}
        extra = {"help": f"(default from the preset: {item.default!r})", **extra, **special.get(item.name, {})}
        if item.name in _FLAG_TYPES:
            extra["type"] = _FLAG_TYPES[item.name]
        parser.add_argument(
            f"--{item.name}",
            *_FLAG_ALIASES.get(item.name, []),
            dest=item.name,
            default=None,
            **extra,
        )
    for flag, reason in _IGNORED_FLAGS.items():
        parser.add_argument(flag, dest=f"ignored_{flag[2:]}", default=None, help=f"ignored: {reason}")
    parser.set_defaults(handler=_train)


def _resume_arg(text: str) -> str:
    """``--resume`` at the command line: 0, 1 (or true/false, yes/no) or an existing checkpoint folder."""
    from faceid.train.config import parse_resume

    value = parse_resume(text)
    if value not in ("0", "1") and not os.path.isdir(value):
        raise argparse.ArgumentTypeError(f"expected 0, 1 or a checkpoint folder; {value!r} is not a folder")
    return value


def _config_from_args(args: argparse.Namespace):
    from faceid.train.config import TrainConfig, apply_overrides, load_preset

    config = load_preset(args.config)
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    config = apply_overrides(config, given)
    return apply_overrides(config, list(args.set))


def _relaunch(args: argparse.Namespace, argv: list[str]) -> int:
    """Re-run this command under ``paddle.distributed.launch`` with one process per GPU / per ``nproc``."""
    launcher = [sys.executable, "-m", "paddle.distributed.launch", "--log_dir", os.path.join(args.output or ".", "log")]
    if args.gpus:
        launcher += ["--gpus", args.gpus]
    else:
        launcher += ["--nproc_per_node", str(args.nproc_per_node)]
    entry = shutil.which("faceid") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "__main__.py")
    rest, skip = [], False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in ("--gpus", "--nproc_per_node"):
            skip = True
            continue
        if token.startswith(("--gpus=", "--nproc_per_node=")):
            continue
        rest.append(token)
    return subprocess.call([*launcher, entry, *rest])


def _train(args: argparse.Namespace) -> int:
    launching = (args.gpus or args.nproc_per_node > 1) and "PADDLE_TRAINER_ID" not in os.environ
    if launching:
        argv = sys.argv[1:]
        return _relaunch(args, argv[argv.index("train") :])
    from faceid.train.engine import train

    for flag, reason in _IGNORED_FLAGS.items():
        if getattr(args, f"ignored_{flag[2:]}") is not None:
            print(f"faceid train: {flag} is ignored ({reason})", file=sys.stderr)
    try:
        config = _config_from_args(args)
    except ValueError as error:
        raise UsageError(str(error)) from error
    result = train(config)
    return 0 if result.state.global_step > 0 else 1
