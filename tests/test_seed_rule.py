"""The seed rule's boundaries (nnref.experiment.reporting.compare): each case sits just on one
side of a line the rule draws, so moving the line (half the spread, the smaller range, the
larger arm's seed count, the median of paired differences) fails here."""

from __future__ import annotations

import pytest

from nnref.experiment import reporting as R

# b: median 0.1, range 0.2; each a below has range 0.2 too, so the spread is 0.2
B = [0.0, 0.1, 0.2]


@pytest.mark.parametrize("centre, settled", [
    (0.29, False),  # difference 0.19: just under the spread
    (0.31, True),   # 0.21: just over
    (0.25, False),  # 0.15: beyond half the spread, inside the whole
    (-0.11, True),  # -0.21: just over, b ahead
    (-0.09, False),  # -0.19: just under, b ahead
])
def test_unpaired_difference_of_medians_must_exceed_the_whole_spread(centre, settled):
    c = R.compare([centre - 0.1, centre, centre + 0.1], B)
    assert c.spread == pytest.approx(0.2)
    assert c.difference == pytest.approx(centre - 0.1)
    assert c.settled is settled
    assert c.a_better is (None if not settled else centre > 0.1)
    assert ("within the spread" in str(c)) is not settled


def test_the_spread_is_the_wider_arms_range():
    # a's range is 0, b's 0.4: a difference of 0.3 beats the narrow arm, not the wide one
    c = R.compare([0.5, 0.5, 0.5], [0.0, 0.2, 0.4])
    assert c.spread == pytest.approx(0.4) and not c.settled
    assert not R.compare([0.0, 0.2, 0.4], [0.5, 0.5, 0.5]).settled  # either order


def test_seeds_are_counted_by_the_smaller_arm():
    far = R.compare([0.9, 0.91, 0.92], [0.1, 0.11])  # far apart, but b has two seeds
    assert far.seeds == 2 and far.a_better is None and "fewer than 3 seeds" in str(far)
    assert R.compare([0.1, 0.11], [0.9, 0.91, 0.92]).a_better is None
    # three against four: three is enough, and the four-seed arm's median is its middle pair's
    four = R.compare([0.9, 0.91, 0.92], [0.1, 0.11, 0.12, 0.2])
    assert four.seeds == 3 and four.difference == pytest.approx(0.91 - 0.115)
    assert four.a_better is True


def test_paired_arms_settle_on_every_per_seed_difference_beyond_zero():
    a, b = [0.50, 0.70, 0.90], [0.45, 0.66, 0.80]
    unpaired = R.compare(a, b)
    assert not unpaired.settled  # median gap 0.04 inside a spread of 0.4
    paired = R.compare(a, b, paired=True)
    assert paired.differences == pytest.approx((0.05, 0.04, 0.10))
    assert paired.difference == pytest.approx(0.05) and paired.a_better is True
    assert "per-seed differences 0.05, 0.04, 0.1 (3 paired seeds)" in str(paired)
    # lower is better, every pair lower: a wins
    assert R.compare([1, 2, 3], [1.5, 2.1, 3.2], higher_is_better=False,
                     paired=True).a_better is True


@pytest.mark.parametrize("b", [
    [0.45, 0.66, 0.95],  # two pairs up, the last down: the median difference is 0.04 > 0
    [0.45, 0.70, 0.80],  # a tie is not beyond zero
])
def test_paired_arms_stay_open_unless_every_pair_agrees(b):
    c = R.compare([0.50, 0.70, 0.90], b, paired=True)
    assert not c.settled and c.a_better is None
    assert "do not all lie on one side of zero" in str(c)


def test_pairs_are_matched_by_position_not_by_rank():
    # the same values as the settled case above, b's seeds in another order
    c = R.compare([0.50, 0.70, 0.90], [0.80, 0.45, 0.66], paired=True)
    assert c.differences == pytest.approx((-0.30, 0.25, 0.24)) and c.a_better is None


def test_paired_arms_need_min_seeds_pairs_and_equal_counts():
    assert R.compare([0.9, 0.91], [0.1, 0.11], paired=True).a_better is None
    with pytest.raises(ValueError, match="one value per shared seed"):
        R.compare([0.9, 0.91, 0.92], [0.1, 0.11], paired=True)
    with pytest.raises(ValueError, match="paired arms"):
        R.compare([0.9, 0.91, 0.92], [0.1, 0.11, 0.12]).differences  # noqa: B018


RULE = ("Arms run on the same seeds are compared seed by seed: a verdict needs at least 3 seeds "
        "and every seed's difference on the same side of zero")


def test_each_report_stating_the_paired_rule_applies_it_to_every_comparison():
    import re

    from conftest import ROOT

    stated = [p.parent for p in (ROOT / "experiments").glob("*/README.md.in")
              if RULE in p.read_text()]
    assert len(stated) >= 7
    for d in stated:
        src = (d / "report.py").read_text()
        calls = re.findall(r"R\.compare\((?:[^()]|\([^()]*(?:\([^()]*\))*[^()]*\))*\)", src)
        assert calls, d.name
        assert all("paired=True" in c for c in calls), (d.name, calls)
