"""UTC time stamps that name folders (kept versions, snapshots): sortable as text, exact to the microsecond."""

import datetime as dt
import re

from fmirror.errors import UsageError

_FOLDER = "%Y%m%dT%H%M%S.%fZ"
_FOLDER_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z$")
UTC = dt.timezone.utc


def stamp(t: float) -> str:
    """The folder name for wall-clock time t: 20250301T140502.123456Z."""
    return dt.datetime.fromtimestamp(t, UTC).strftime(_FOLDER)


def parse(name: str) -> float | None:
    """The time a folder name stands for, or None when it is not a stamp."""
    if not _FOLDER_NAME.match(name):
        return None
    return dt.datetime.strptime(name, _FOLDER).replace(tzinfo=UTC).timestamp()


def show(t: float) -> str:
    """t for people, in the form --at accepts back: 2025-03-01T14:05:02.123456Z."""
    return dt.datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """An ISO 8601 time (UTC unless it says otherwise) or a folder stamp, as wall-clock seconds."""
    folder = parse(text)
    if folder is not None:
        return folder
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"not a time: {text!r} (use e.g. 2025-03-01T14:05:02Z, as `versions list` shows)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
