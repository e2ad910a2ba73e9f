"""endods: rebuild the EndoARSS datasets (MTLEndovis, MTLEndovis-Gen, MTLESD) from public sources."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("endods")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"

# FFmpeg writes its own log lines ("moov atom not found") straight to stderr, mixed into our messages
# that already name the file. OpenCV reads this level once, when its FFmpeg backend first starts, so
# it is set on import, before any video is opened; a user's own setting wins.
import os as _os  # noqa: E402

_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
