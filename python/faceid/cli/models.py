"""`faceid models list|get`: the pretrained registry, and converting a model into the cache."""

from __future__ import annotations

import argparse

from faceid.errors import FaceidError, UsageError


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("models", help="pretrained models: list, get (convert into the cache)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    listing = commands.add_parser("list", help="every registered weight set with its source and licence")
    listing.set_defaults(handler=_list)
    get = commands.add_parser("get", help="verify the source files and convert into ~/.faceid/models")
    get.add_argument("name", help="registered model name (see `faceid models list`)")
    get.add_argument(
        "--model-source",
        "--model_source",
        dest="model_source",
        default=None,
        help="offline folder laid out like ../shared/models (default $FACEID_MODEL_SOURCE)",
    )
    get.set_defaults(handler=_get)


def _list(_: argparse.Namespace) -> int:
    from faceid.zoo import list_records

    for record in list_records():
        sha = ", ".join((f.sha256 or "unknown")[:12] for f in record.files)
        print(f"{record.name:36s} {record.task:12s} {record.architecture}  [{record.licence}] sha256 {sha}")
        if record.caution:
            print(f"{'':36s} caution: {record.caution}")
    return 0


def _get(args: argparse.Namespace) -> int:
    from faceid.zoo import convert, get_record

    try:
        get_record(args.name)
    except ValueError as error:  # an unknown name: the registry lists the known ones
        raise UsageError(f"{error} (see `faceid models list`)") from None
    try:
        print(f"{args.name}: {convert(args.name, source=args.model_source)}")
    except ValueError as error:  # a wrong or damaged source file: the registry names it
        if isinstance(error, FaceidError):
            raise
        raise FaceidError(str(error)) from error
    return 0
