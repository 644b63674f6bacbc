"""Paired comparisons of two variants on the same test samples (docs/DESIGN conventions).

    diff = paired_bootstrap(iou_variant, iou_baseline)    # per-sample metrics, same samples
    diff.mean, diff.low, diff.high                        # mean difference and its 95 % interval
    diff.verdict(expected=+1)                             # "reproduced" / "reversed" / "inconclusive"

The interval resamples test samples with replacement (percentile bootstrap) from a fixed seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    mean: float  # mean over samples of (a - b)
    low: float  # the interval's ends
    high: float
    n: int  # samples
    confidence: float = 0.95

    def verdict(self, expected: int = +1) -> str:
        """"reproduced" when the interval excludes zero in the expected direction (+1: a > b),
        "reversed" when it excludes zero the other way, else "inconclusive"."""
        if expected not in (-1, 1):
            raise ValueError(f"expected must be +1 or -1, got {expected}")
        if self.low > 0 or self.high < 0:
            return "reproduced" if (self.low > 0) == (expected > 0) else "reversed"
        return "inconclusive"

    def format(self, scale: float = 1.0, digits: int = 1) -> str:
        """'+1.2 [+0.4, +2.0]' with the values multiplied by scale (100: fractions -> points)."""
        m, lo, hi = (scale * v for v in (self.mean, self.low, self.high))
        return f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def paired_bootstrap(a, b, n_resamples: int = 10_000, seed: int = 0,
                     confidence: float = 0.95) -> PairedDifference:
    """Mean of a - b over paired samples and its percentile bootstrap interval. a, b: (n,)
    per-sample metrics of two variants on the same samples (NaN in either drops that sample
    from both, so the two are always compared on the same samples)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"need two (n,) arrays over the same samples, got {a.shape} and {b.shape}")
    if not 0 < confidence < 1 or n_resamples < 1:
        raise ValueError("confidence must be in (0, 1) and n_resamples >= 1")
    keep = np.isfinite(a) & np.isfinite(b)
    diff = (a - b)[keep]
    if diff.size < 2:
        raise ValueError(f"need at least 2 samples finite in both, got {diff.size}")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return PairedDifference(float(diff.mean()), float(low), float(high), int(diff.size), confidence)
