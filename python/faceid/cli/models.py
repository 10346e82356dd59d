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
    import faceid.zoo.blazeface
    import faceid.zoo.mtcnn
    import faceid.zoo.seed_models  # noqa: F401 (registers)
    from faceid.zoo import list_records

    for record in list_records():
        sha = ", ".join((f.sha256 or "unverified")[:12] for f in record.files)
        print(f"{record.name:36s} {record.task:12s} {record.architecture}  [{record.licence}] sha256 {sha}")
        if record.caution:
            print(f"{'':36s} caution: {record.caution}")
    return 0


def _get(args: argparse.Namespace) -> int:
    from faceid.zoo.blazeface import load_blazeface
    from faceid.zoo.convert import CONVERTERS, export_dir

    try:
        if args.name in CONVERTERS:
            print(f"{args.name}: {export_dir(args.name, source=args.model_source)}")
        elif args.name == "mtcnn_onet":
            from faceid.zoo.mtcnn import load_onet

            load_onet(args.model_source)
            print(f"{args.name}: verified and loaded (converted on each load; small)")
        elif args.name.startswith("blazeface_"):
            load_blazeface(args.name, args.model_source)
            print(f"{args.name}: converted and cached")
        else:
            raise UsageError(f"no converter for {args.name!r} (see `faceid models list`)")
    except ValueError as error:  # a wrong or damaged source file: the registry names it
        if isinstance(error, FaceidError):
            raise
        raise FaceidError(str(error)) from error
    return 0
