"""``faceid <group> <command>``: each group module adds its subcommands to the parser.

Errors from the user's input or environment print one line ``faceid: error: <what> (<file>)`` on stderr and exit
2 (usage: a bad flag or argument combination) or 1 (runtime: a missing, unreadable or corrupt file, a wrong model).
They are :class:`faceid.errors.FaceidError` and the operating system's file errors that name a file
(``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``, ``NotADirectoryError``, any ``OSError`` with a
filename, and ``OSError`` ENOSPC/EDQUOT "disk full"). Everything else is a bug and keeps its traceback. ``--debug``
(or ``FACEID_DEBUG=1``) shows the traceback of every error.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from faceid import __version__
from faceid.errors import FaceidError

_USER_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``faceid: error: ...``, exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("faceid").strip()
        print(f"faceid: error: {command + ': ' if command else ''}{message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from faceid.cli import bench, data, evaluate, gallery, models, predict, serve, train

    parser = Parser(prog="faceid", description="Face recognition toolkit on PaddlePaddle.")
    parser.add_argument("--version", action="version", version=f"faceid {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, and Paddle's own messages")
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error (or FACEID_DEBUG=1)")
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


def quiet_libraries(verbose: bool) -> None:
    """Hide Paddle's start-up noise (glog ``I...`` lines, the "No ccache found" warning) and FFmpeg's per-frame
    messages unless ``verbose``. Must run before Paddle and OpenCV are imported: they read the environment once."""
    import warnings

    if verbose:
        return
    os.environ.setdefault("GLOG_minloglevel", "2")  # errors and fatal only
    os.environ.setdefault("GLOG_v", "0")
    os.environ.setdefault("FLAGS_call_stack_level", "0")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET: a damaged video is reported by faceid
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)


def user_error(error: BaseException) -> tuple[str, int] | None:
    """``(one line, exit code)`` when ``error`` comes from the user's input or environment, else None (a bug)."""
    if isinstance(error, FaceidError):
        return _line(error.message, error.path), error.exit_code
    if isinstance(error, OSError):
        named = error.filename is not None
        if isinstance(error, _USER_OS_ERRORS) or named or error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            what = error.strerror or str(error)
            return _line(what, error.filename), 1
    return None


def _line(message: str, path: str | os.PathLike[str] | None) -> str:
    message = " ".join(str(message).split())  # one line, whatever the message held
    if path is not None and os.fspath(path) not in message:
        message = f"{message} ({os.fspath(path)})"
    return f"faceid: error: {message}"


def _debug_wanted(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("FACEID_DEBUG", "").lower() in ("1", "true", "yes")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_libraries(verbose=any(a in ("-v", "--verbose") for a in argv))
    debug = _debug_wanted(argv)
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print("faceid: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        known = user_error(error)
        if known is None or debug:
            raise
        line, code = known
        print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
