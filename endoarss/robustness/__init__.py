"""Robustness benchmark: the paper's 19 image corruptions at severities 1-5 (see `corruptions`)."""

from endoarss.robustness.corruptions import (
    CORRUPTIONS,
    FAMILIES,
    SEVERITIES,
    CorruptionError,
    check_options,
    corrupt,
    corrupt_pair,
)

__all__ = ["CORRUPTIONS", "FAMILIES", "SEVERITIES", "CorruptionError", "check_options", "corrupt", "corrupt_pair"]
