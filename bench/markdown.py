"""Markdown tables and numbers as the report shows them."""


def num(value, digits: int = 3, unit: str = "") -> str:
    """A number with `digits` significant digits (thousands separated), or "-" when there is none."""
    if value is None:
        return "-"
    if isinstance(value, int) or (abs(value) >= 10 ** digits and float(value).is_integer()):
        text = f"{int(value):,}"
    elif abs(value) >= 10 ** digits:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.{digits}g}"
    return f"{text} {unit}".rstrip()


def times(value) -> str:
    """A ratio, as "1.23×"."""
    return "-" if value is None else f"{value:.2f}×"


def table(headers: list, rows: list) -> list:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return out
