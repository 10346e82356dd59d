"""`faceid gallery add|remove|list|import|export`: a durable gallery store (SQLite file or PostgreSQL URL)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faceid.cli.paths import add_model_source_flag

STORE_HELP = "gallery store: a path (gallery.db), sqlite:///gallery.db or postgresql://user@host/db"


def register(groups: argparse._SubParsersAction) -> None:
    from faceid.cli.predict import _model_flags

    parser = groups.add_parser("gallery", help="enrol, remove, list, import and export people in a gallery store")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    add = commands.add_parser("add", help="enrol <person>/<photos> of --img_dir, or PHOTOs of --name")
    add.add_argument("--gallery", required=True, help=STORE_HELP)
    add.add_argument("--img_dir", default=None, help="folder of <person>/<photos> (like build-index)")
    add.add_argument("--name", default=None, help="the person shown in PHOTO...")
    add.add_argument("photos", nargs="*", metavar="PHOTO", help="photos of --name")
    add.add_argument("--strict", action="store_true", help="skip photos with several faces (default: the largest)")
    add.add_argument("--aligned", action="store_true", help="photos are aligned 112x112 crops")
    _model_flags(add)
    add.set_defaults(handler=_add)
    remove = commands.add_parser("remove", help="remove a person and all their faces")
    remove.add_argument("--gallery", required=True, help=STORE_HELP)
    remove.add_argument("--name", required=True, help="the person to remove")
    remove.set_defaults(handler=_remove)
    listing = commands.add_parser("list", help="the people in the gallery and their number of faces")
    listing.add_argument("--gallery", required=True, help=STORE_HELP)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=_list)
    imports = commands.add_parser("import", help="enrol every person of an index.npz or a reference index.bin")
    imports.add_argument("--gallery", required=True, help=STORE_HELP)
    imports.add_argument("--index", required=True, help="faceid .npz or the reference wheel's index.bin")
    imports.add_argument(
        "--rec_model", default=None, help="the model that made an index.bin's embeddings (its fingerprint is recorded)"
    )
    add_model_source_flag(imports)
    imports.set_defaults(handler=_import)
    export = commands.add_parser("export", help="write the gallery as a faceid index.npz")
    export.add_argument("--gallery", required=True, help=STORE_HELP)
    export.add_argument("--output", required=True, help="index file (.npz)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    export.set_defaults(handler=_export)


def _add(args: argparse.Namespace) -> int:
    from faceid.cli.predict import _app
    from faceid.errors import UsageError
    from faceid.gallery import open_store
    from faceid.pipeline.enrol import check_found, embed_photos, gallery_entries

    if (args.img_dir is None) == (args.name is None) or (args.name is not None) != bool(args.photos):
        raise UsageError("give --img_dir DIR, or --name NAME with one or more PHOTOs")
    if args.img_dir is not None:
        entries = gallery_entries(args.img_dir)
    else:
        entries = [(args.name, Path(photo)) for photo in args.photos]
    app = _app(args, det=not args.aligned, rec=True)
    rec = app.recognizer
    report = embed_photos(app, entries, strict=args.strict)
    check_found(report, args.img_dir or args.photos[0])
    with open_store(args.gallery, fingerprint=rec.fingerprint, model=app.rec_name, dim=rec.embedding_size) as store:
        for name, faces in report.by_name().items():
            result = store.add(
                name,
                [f.embedding for f in faces],
                digests=[f.digest for f in faces],
                det_scores=[f.det_score for f in faces],
                qualities=[f.quality for f in faces],
            )
            by_digest = {f.digest: f.path for f in faces}
            for digest, owner in result.duplicates:
                print(f"{by_digest[digest]}: already enrolled (as {owner}); not added again")
            print(f"{name}: {len(result.added)} face(s) added")
        print(f"gallery: {args.gallery} ({len(store)} faces of {len(store.identities)} people)")
    for path, problem in report.failures:
        print(f"{path}: {problem}", file=sys.stderr)
    return 1 if report.failures else 0


def _remove(args: argparse.Namespace) -> int:
    from faceid.gallery import open_store

    with open_store(args.gallery, create=False, ann="off") as store:
        removed = store.remove(args.name)
    print(f"{args.name}: removed with {removed} face(s)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from faceid.gallery import open_store

    with open_store(args.gallery, create=False, ann="off") as store:
        subjects = store.subjects()
        model, fingerprint = store.model, store.fingerprint
    if args.json:
        people = [{"name": s.name, "faces": s.faces, "created": s.created} for s in subjects]
        print(json.dumps({"model": model, "fingerprint": fingerprint, "subjects": people}, indent=2))
        return 0
    print(f"model: {model} (fingerprint {fingerprint})")
    for subject in subjects:
        print(f"{subject.name}\t{subject.faces}")
    print(f"{len(subjects)} people, {sum(s.faces for s in subjects)} faces")
    return 0


def _import(args: argparse.Namespace) -> int:
    from faceid.errors import InputError
    from faceid.gallery import GalleryIndex, open_gallery, open_store

    index = open_gallery(args.index)
    if not isinstance(index, GalleryIndex):
        index.close()
        raise InputError("--index must be an index file (.npz or index.bin), not a gallery store", args.index)
    fingerprint, model = index.fingerprint, index.model if index.fingerprint else None
    if args.rec_model:
        from faceid.cli.paths import model_source
        from faceid.export.fingerprint import model_fingerprint
        from faceid.pipeline.recognizer import _resolve_model_dir

        given = model_fingerprint(_resolve_model_dir(args.rec_model, model_source(args.model_source)))
        if fingerprint and fingerprint != given:
            raise InputError(f"index was made with another model than {args.rec_model}", args.index)
        fingerprint, model = given, args.rec_model
    with open_store(args.gallery, fingerprint=fingerprint, model=model, dim=index.dim) as store:
        added = sum(len(result.added) for result in store.import_index(index))
        print(f"gallery: {args.gallery}: {added} faces imported from {args.index} ({len(store)} faces in all)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from faceid.errors import InputError
    from faceid.gallery import open_store

    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise InputError("index file exists; pass --overwrite to replace it", output)
    with open_store(args.gallery, create=False, ann="off") as store:
        index = store.export_index()
    index.save(output)
    print(f"index: {output} ({len(index)} embeddings of {len(index.identities)} identities, {index.model})")
    return 0
