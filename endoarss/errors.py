"""Typed errors of the ``endoarss`` package.

Library code never prints or exits; it raises one of these with a message that names the offending
value (and file, where there is one), so the CLI can turn it into a clean user-facing message.
"""

from __future__ import annotations

from schemas.errors import ToolError


class EndoarssError(ToolError):
    """Base class of every error ``endoarss`` raises on purpose."""


class ConfigError(EndoarssError):
    """An option or combination of options is invalid (unknown name, wrong value, unsupported mix)."""


class CheckpointError(EndoarssError):
    """Weights or a checkpoint cannot be loaded: missing file, missing/unexpected keys, wrong shapes."""
