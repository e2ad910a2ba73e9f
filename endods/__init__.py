"""endods: rebuild the EndoARSS datasets (MTLEndovis, MTLEndovis-Gen, MTLESD) from public sources."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("endods")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"
