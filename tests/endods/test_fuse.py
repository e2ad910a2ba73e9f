"""Policy P1 (docs/formats.md §5.4): every branch, and the §5.1 answer mapping."""

import pytest

from endods.fuse import ACTIVITY_PRIORITY, VQLA_TO_ACTIVITY, choose_activity, map_states
from endods.sources.vqla import ACTION_ANSWERS
from schemas.labelmaps import MTLENDOVIS


def test_mapping_covers_the_13_actions_onto_the_12_activities():
    assert sorted(VQLA_TO_ACTIVITY) == sorted(ACTION_ANSWERS)
    assert sorted(set(VQLA_TO_ACTIVITY.values())) == sorted(MTLENDOVIS.activities)
    assert VQLA_TO_ACTIVITY["Tissue_Manipulation"] == VQLA_TO_ACTIVITY["Tool_Manipulation"] == "manipulation"
    assert VQLA_TO_ACTIVITY["Staple"] == "stapling"
    assert sorted(ACTIVITY_PRIORITY) == sorted(MTLENDOVIS.activities)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["Clipping", "Tissue_Manipulation", "Idle"], "clipping"),
        (["Cauterization", "Cutting"], "cutting"),
        (["Cutting", "Cauterization"], "cutting"),
        (["Staple", "Retraction"], "stapling"),  # stapler has no seg class, still wins
        (["Staple", "Clipping"], "stapling"),
        (["Grasping", "Suturing"], "suturing"),
        (["Tool_Manipulation", "Cauterization"], "cauterization"),
        (["Idle", "Ultrasound_Sensing"], "ultrasound_sensing"),
        (["Suction", "Looping"], "suction"),
        (["Idle", "Looping"], "looping"),
        (["Grasping", "Retraction"], "retraction"),
        (["Idle", "Grasping", "Tool_Manipulation"], "grasping"),
        (["Tissue_Manipulation", "Idle"], "manipulation"),
        (["Tool_Manipulation"], "manipulation"),
        (["Idle", "Idle"], "idle"),
        (["Idle"], "idle"),
    ],
)
def test_priority_branches(states, expected):
    assert choose_activity(states) == expected


def test_no_state_question_gives_none():
    assert choose_activity([]) is None
    assert choose_activity(()) is None


def test_every_priority_level_beats_all_lower_ones():
    answer_of = {}
    for answer, activity in VQLA_TO_ACTIVITY.items():
        answer_of.setdefault(activity, answer)
    for i, activity in enumerate(ACTIVITY_PRIORITY):
        lower = [answer_of[a] for a in ACTIVITY_PRIORITY[i + 1 :]]
        assert choose_activity(lower + [answer_of[activity]]) == activity


def test_map_states_keeps_order_and_rejects_non_actions():
    assert map_states(["Idle", "Staple", "Tool_Manipulation"]) == ["idle", "stapling", "manipulation"]
    with pytest.raises(KeyError, match="left-top"):
        map_states(["left-top"])
