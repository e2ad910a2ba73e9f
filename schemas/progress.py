"""The progress-callback type every long-running library function accepts.

`on_progress(done, total)` is called as work advances; only `cli/` turns it into a progress bar,
so library code never draws anything itself.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int], None]
