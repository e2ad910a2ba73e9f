"""Synthetic source trees in the real download layouts (docs/formats.md §9), for tests and the demo.

`synth_endovis18` / `synth_endovis17` write a ROOT that `endods build mtlendovis[-gen] --src ROOT`
reads, and return a `SynthReport` with the frames and drops a correct build must produce.
"""

from endods.synth.common import SynthReport
from endods.synth.endovis17 import synth_endovis17
from endods.synth.endovis18 import synth_endovis18

__all__ = ["SynthReport", "synth_endovis17", "synth_endovis18"]
