"""Small wording helpers shared by messages, cards and the CLI."""

from __future__ import annotations


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 frame`, `2 frames`, `0 frames`; pass `plural_form` for irregular nouns (`1 pixel`...)."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"
