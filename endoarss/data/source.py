"""Where a ``--data`` dataset or ``weights`` backbone comes from: a local path or a Hub repo id.

A value that exists on disk is local. Anything else is sent to the Hub only when it has the shape of a
repo id, ``ORG/NAME`` (exactly one slash, each part starting with a letter or digit): a typo of a local
folder (``mtlendovs``, ``./nosuch``, ``/data/x``) is then an immediate error naming the path instead of
a minute of network retries ending in "Couldn't reach ... on the Hub" or "Repo id must use ...".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def is_hub_id(value: str | Path) -> bool:
    """True for ``ORG/NAME``: one slash, no leading ``.``, ``/`` or ``~``, only Hub-legal characters."""
    return _HUB_ID.fullmatch(str(value)) is not None


def is_local(value: str | Path, missing: Callable[[str], Exception]) -> bool:
    """True for an existing local path, False for a Hub id; raise ``missing(value)`` for neither."""
    text = str(value)
    if Path(text).exists():
        return True
    if is_hub_id(text):
        return False
    raise missing(text)
