"""Percentiles and the like, without numpy (the harness runs in fmirror's own venv)."""

import random


def percentile(values, q: float) -> float | None:
    """The q-th percentile (0..100), linear between the two nearest ranks; None for no values."""
    data = sorted(values)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def quantiles(values, step: int = 1) -> list:
    """Percentiles 0, step, ..., 100: enough to redraw a distribution without every sample."""
    return [percentile(values, q) for q in range(0, 101, step)]


def median(values) -> float | None:
    return percentile(values, 50)


def ratio(value, reference) -> float | None:
    if value is None or not reference:
        return None
    return value / reference


def median_gap_interval(ours, theirs, level: float = 95, draws: int = 2000, seed: int = 0) -> tuple:
    """(low, high): where median(ours) - median(theirs) falls in `level` % of bootstrap resamples.

    Each side's runs are drawn again with replacement, `draws` times; the
    seed is fixed, so the same runs always give the same interval. An
    interval that holds 0 says the runs cannot tell the two tools apart.
    """
    rng = random.Random(seed)
    gaps = sorted(median(rng.choices(ours, k=len(ours))) - median(rng.choices(theirs, k=len(theirs)))
                  for _ in range(draws))
    return percentile(gaps, (100 - level) / 2), percentile(gaps, 100 - (100 - level) / 2)
