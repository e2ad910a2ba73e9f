import random

import pytest

from endods.split import SplitConfig, SplitKey, assign_splits, paper_test_counts
from schemas.records import natural_key


def test_paper_counts_largest_remainder():
    # N = 23, f = 0.2 -> round(4.6) = 5 test slots.
    # floors: a0 10*0.2=2.0 -> 2 ; a1 7*0.2=1.4 -> 1 ; a2 6*0.2=1.2 -> 1  => 4, one slot left
    # remainders: a0 0.0, a1 0.4, a2 0.2 -> the extra slot goes to a1.
    assert paper_test_counts({0: 10, 1: 7, 2: 6}, 0.2) == {0: 2, 1: 2, 2: 1}


def test_paper_counts_tie_goes_to_lower_index():
    # N = 10 -> 2 slots; floors 0,0 (5*0.2 = 1.0 each -> 1,1). Use 3+3+4: round(2.0)=2,
    # floors 0,0,0; remainders 0.6,0.6,0.8 -> a2 then a0 (tie with a1 broken by lower index).
    assert paper_test_counts({0: 3, 1: 3, 2: 4}, 0.2) == {0: 1, 1: 0, 2: 1}


def test_paper_counts_ties_are_exact_not_float():
    # N = 9 -> round(1.8) = 2 slots; floors 2*0.2 -> 0, 7*0.2 = 1.4 -> 1; remainders 0.4 and 0.4: a tie,
    # so the last slot goes to a0. (In floats 7*0.2 - 1 = 0.40000000000000013 > 0.4 would pick a1.)
    assert paper_test_counts({0: 2, 1: 7}, 0.2) == {0: 1, 1: 1}
    # f = 0.1: 13 -> 1.3, 3 -> 0.3 (float 0.30000000000000004), 4 -> 0.4; N = 20 -> 2 slots, floors 1+0+0,
    # remainders 0.3, 0.3, 0.4 -> a2 gets the second slot
    assert paper_test_counts({0: 13, 1: 3, 2: 4}, 0.1) == {0: 1, 1: 0, 2: 1}
    # N * f exactly half: 15 * 0.3 = 4.5 -> round half to even -> 4
    assert sum(paper_test_counts({0: 15}, 0.3).values()) == 4


def test_paper_split_follows_documented_shuffle():
    keys = [SplitKey(f"seq_{i % 3}/frame{i:03d}", i % 2, f"seq_{i % 3}") for i in range(20)]
    result = assign_splits(keys, SplitConfig("paper", 0.2, seed=7))
    for activity in (0, 1):
        ids = sorted(k.frame_id for k in keys if k.activity == activity)
        random.Random(7 * 1000 + activity).shuffle(ids)
        # 10 frames each, 0.2 -> 2 test frames each: the first two of the documented shuffle.
        assert {f for f in ids if result[f] == "test"} == set(ids[:2])
    assert sum(v == "test" for v in result.values()) == 4


def test_group_split_has_no_leakage_and_keeps_a_train_group():
    keys = [SplitKey(f"seq_{g}/frame{i:03d}", i % 3, f"seq_{g}") for g in range(5) for i in range(g + 2)]
    result = assign_splits(keys, SplitConfig("group", 0.2, seed=1))
    by_group: dict[str, set[str]] = {}
    for k in keys:
        by_group.setdefault(k.group, set()).add(result[k.frame_id])
    assert all(len(s) == 1 for s in by_group.values())
    assert any(s == {"train"} for s in by_group.values())
    # Expected by the rule: shuffle sorted groups with Random(1), add groups while test < round(N*f).
    groups = sorted(by_group)
    random.Random(1).shuffle(groups)
    sizes = {f"seq_{g}": g + 2 for g in range(5)}
    target, test, expected = round(len(keys) * 0.2), 0, set()
    for g in groups:
        if test >= target or len(expected) >= len(groups) - 1:
            break
        expected.add(g)
        test += sizes[g]
    assert {g for g, s in by_group.items() if s == {"test"}} == expected


def test_single_group_stays_in_train():
    keys = [SplitKey(f"seq_1/frame{i:03d}", 0, "seq_1") for i in range(5)]
    assert set(assign_splits(keys, SplitConfig("group")).values()) == {"train"}


def test_test_only_and_bad_config():
    keys = [SplitKey("a/1", 0, "a")]
    assert assign_splits(keys, SplitConfig("test-only")) == {"a/1": "test"}
    with pytest.raises(ValueError, match="unknown split mode"):
        SplitConfig("random")  # type: ignore[arg-type]


def test_natural_key_orders_numbers():
    assert sorted(["seq_10/f", "seq_2/f", "seq_1/f"], key=natural_key) == ["seq_1/f", "seq_2/f", "seq_10/f"]
