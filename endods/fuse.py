"""Activity policy P1 (docs/formats.md §5.4): one activity per frame from its VQLA state answers.

The paper does not say how one label was chosen for frames where several tools do different
things, so the toolkit uses a documented priority: instrument-defining actions (stapling,
clipping, cutting, ...) beat generic ones, and `idle` wins only when every tool is idle.
"""

from __future__ import annotations

from collections.abc import Sequence

# docs/formats.md §5.1: the 13 VQLA action answers -> the 12 MTLEndovis activity names.
VQLA_TO_ACTIVITY: dict[str, str] = {
    "Cauterization": "cauterization",
    "Clipping": "clipping",
    "Cutting": "cutting",
    "Grasping": "grasping",
    "Idle": "idle",
    "Looping": "looping",
    "Tissue_Manipulation": "manipulation",
    "Tool_Manipulation": "manipulation",
    "Retraction": "retraction",
    "Staple": "stapling",
    "Suction": "suction",
    "Suturing": "suturing",
    "Ultrasound_Sensing": "ultrasound_sensing",
}

# docs/formats.md §5.4 step 3, highest priority first.
ACTIVITY_PRIORITY: tuple[str, ...] = (
    "stapling",
    "clipping",
    "cutting",
    "suturing",
    "cauterization",
    "ultrasound_sensing",
    "suction",
    "looping",
    "retraction",
    "grasping",
    "manipulation",
    "idle",
)


def map_states(states: Sequence[str]) -> list[str]:
    """Map raw VQLA state answers to activity names, keeping order (recorded in the manifest).

    Raises KeyError for an answer that is not one of the 13 actions; the VQLA reader rejects
    those with a file-naming SourceError before they can get here.
    """
    try:
        return [VQLA_TO_ACTIVITY[s] for s in states]
    except KeyError as exc:
        raise KeyError(f"not a VQLA action answer: {exc.args[0]!r}; known: {sorted(VQLA_TO_ACTIVITY)}") from None


def choose_activity(states: Sequence[str]) -> str | None:
    """The frame's activity under P1, or None when it has no state answer (dropped `no_activity`)."""
    present = set(map_states(states))
    for activity in ACTIVITY_PRIORITY:
        if activity in present:
            return activity
    return None
