"""The one base of every error the tools raise on purpose (docs/architecture.md).

`endods.errors.EndodsError`, `endoarss.errors.EndoarssError` and `schemas.outputs.OutputError`
derive from it, so the CLI catches one class and prints its message without a traceback.
"""

from __future__ import annotations


class ToolError(Exception):
    """An expected failure whose message names the file or value and what to do about it."""


class ToolWarning(UserWarning):
    """A notice the tools raise on purpose while work goes on; the CLI prints it as one ``warning:`` line."""


class DatasetError(ToolError):
    """A built dataset cannot be opened or does not follow the contract (raised by :mod:`schemas.dataset`)."""
