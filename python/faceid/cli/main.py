"""``faceid <group> <command>``: each group module adds its subcommands to the parser."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from faceid import __version__
from faceid.cli import bench, data, evaluate, gallery, models, predict, serve, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceid", description="Face recognition toolkit on PaddlePaddle.")
    parser.add_argument("--version", action="version", version=f"faceid {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND")
    groups.required = True
    data.register(groups)
    bench.register(groups)
    train.register(groups)
    evaluate.register(groups)
    predict.register(groups)
    gallery.register(groups)
    models.register(groups)
    serve.register(groups)
    info = groups.add_parser("info", help="versions, native build and CUDA status")
    info.set_defaults(handler=_print_info)
    return parser


def _print_info(_: argparse.Namespace) -> int:
    import faceid

    for key, value in faceid.info().items():
        print(f"{key}: {value}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
