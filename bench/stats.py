"""Percentiles and the like, without numpy (the harness runs in fmirror's own venv)."""


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
