"""Typed errors of endods. Messages are user-facing: they name the file and the offending value.

`DatasetError` is the one `schemas.dataset` raises, re-exported here: both sides read a built dataset
through that module, so they raise (and catch) the same class.
"""

from __future__ import annotations

from schemas.errors import DatasetError, ToolError
from schemas.outputs import OutputError

__all__ = ["DatasetError", "EndodsError", "OptionError", "OutputExistsError", "SourceError", "StrictError"]


class EndodsError(ToolError):
    """Base class; the CLI prints the message and exits 1 without a traceback."""


class SourceError(EndodsError):
    """A source file or folder is missing or malformed (docs/formats.md §5.5 error rows)."""


class StrictError(EndodsError):
    """A frame would have been dropped as damaged/incomplete, and --strict was given."""


class OutputExistsError(EndodsError, OutputError):
    """--out already exists and --overwrite was not given (the output policy raises its base, OutputError)."""


class OptionError(EndodsError, ValueError):
    """An option value is out of range or unknown (e.g. --test-fraction 1.5, --split foo)."""
