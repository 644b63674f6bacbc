"""Paired bootstrap intervals: the comparison every "better / worse" claim of the kit uses."""
import numpy as np
import pytest

from im2hands_lite.evaluation.paired import paired_bootstrap


def test_a_constant_difference_has_a_point_interval():
    base = np.linspace(0.5, 0.9, 20)
    diff = paired_bootstrap(base + 0.03, base)
    assert diff.mean == pytest.approx(0.03) and diff.low == pytest.approx(0.03) and diff.high == pytest.approx(0.03)
    assert diff.verdict(+1) == "reproduced" and diff.verdict(-1) == "reversed"
    assert diff.format(100) == "+3.0 [+3.0, +3.0]"


def test_pairing_removes_the_spread_between_samples():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.95, 64)  # samples differ a lot from each other ...
    better = base + 0.01 + rng.normal(0, 0.002, 64)  # ... the variant is a little better on each
    diff = paired_bootstrap(better, base)
    assert 0.009 < diff.low < diff.mean < diff.high < 0.011 and diff.n == 64
    assert diff.verdict() == "reproduced"


def test_no_difference_is_inconclusive_and_the_interval_is_seeded():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.8, 0.05, 32), rng.normal(0.8, 0.05, 32)
    diff = paired_bootstrap(a, b)
    assert diff.low < 0 < diff.high and diff.verdict() == "inconclusive"
    assert paired_bootstrap(a, b) == diff  # the same seed, the same interval
    assert paired_bootstrap(a, b, seed=1) != diff


def test_nan_drops_the_sample_from_both_and_bad_shapes_are_named():
    a, b = np.array([0.5, np.nan, 0.7, 0.9]), np.array([0.4, 0.5, np.nan, 0.8])
    diff = paired_bootstrap(a, b)
    assert diff.n == 2 and diff.mean == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same samples"):
        paired_bootstrap([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least 2"):
        paired_bootstrap([0.1, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="expected"):
        diff.verdict(0)
