"""Errors caused by the user's input or environment (not bugs): the CLI prints them as one line.

``faceid: error: <message> (<path>)`` on stderr, exit 2 for :class:`UsageError`, 1 for the others; the traceback
only with ``--debug`` or ``FACEID_DEBUG=1``. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import os

__all__ = ["FaceidError", "InputError", "UsageError"]


class FaceidError(Exception):
    """A problem with the user's input or environment; ``path`` names the file or folder concerned."""

    exit_code = 1

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else os.fspath(path)

    def __str__(self) -> str:
        return f"{self.message} ({self.path})" if self.path else self.message


class UsageError(FaceidError):
    """A bad flag or argument combination (exit 2)."""

    exit_code = 2


class InputError(FaceidError, ValueError):
    """A file or value that cannot be used: corrupt, empty, of the wrong kind or model."""
