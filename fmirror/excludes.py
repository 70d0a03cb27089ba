"""rsync-style exclude patterns, matched exactly as rsync matches --exclude=PAT.

The same patterns reach rsync as --exclude options and the watcher through
this matcher. If the two disagreed, a path would be ignored by one and
pushed (or deleted on the slave) by the other, so the rules below follow
rsync's exclude.c and wildmatch.c, not fnmatch:

- a trailing "/" matches directories only; "dir/***" is "dir/" too (its
  contents follow from the parent rule);
- a pattern with a "/" (not counting a trailing one) or "**" is matched
  against the path from the root: anchored there by a leading "/", or by a
  leading "**" (matched against "/" + path), otherwise ending at the path's
  end and starting at any directory boundary; any other pattern against the
  last component only;
- "*", "?" and "[...]" never match "/", "**" does; "\\" escapes the next
  character, but only in a pattern that has a wildcard at all;
- an unclosed "[" or a reversed range makes the pattern match nothing;
- a leading "- " is rsync's old exclude prefix and is dropped, a leading
  "+ " would make rsync include the path and is refused;
- a path is excluded when it or any of its parent directories matches,
  since rsync never descends into an excluded directory.

Each pattern becomes a regular expression; all of them are folded into two:
one tried at every directory boundary of a path (a parent, or a directory
itself, is a match followed by "/"), one at its end for non-directories.
"""

import os
import re
from collections.abc import Iterable

_WILDCARDS = (b"*", b"?", b"[")
_NOTHING = b"(?!)"


class Matcher:
    """matcher(relpath, is_dir) -> True when relpath (relative to a mirrored root, no leading "/") is excluded."""

    def __init__(self, at_dirs: re.Pattern | None, at_end: re.Pattern | None):
        self._at_dirs = at_dirs
        self._at_end = at_end

    def __call__(self, relpath: bytes, is_dir: bool) -> bool:
        if self._at_dirs is None:
            return False
        if is_dir:
            return self._at_dirs.search(relpath + b"/") is not None
        if self._at_dirs.search(relpath) is not None:
            return True
        return self._at_end is not None and self._at_end.search(relpath) is not None


def compile_excludes(patterns: Iterable[str | bytes]) -> Matcher:
    """Compile rsync --exclude patterns; ValueError names a pattern rsync would read differently."""
    anywhere, files_too = [], []
    for pattern in patterns:
        regex, dir_only = _rule(os.fsencode(pattern))
        anywhere.append(regex)
        if not dir_only:
            files_too.append(regex)
    if not anywhere:
        return Matcher(None, None)
    at_end = _alternation(files_too, rb"\Z") if files_too else None
    return Matcher(_alternation(anywhere, b"/"), at_end)


def _alternation(regexes: list[bytes], end: bytes) -> re.Pattern:
    # DOTALL: names may contain newlines, and "**" must cross them too.
    return re.compile(b"(?:" + b"|".join(regexes) + b")" + end, re.DOTALL)


def _rule(pattern: bytes) -> tuple[bytes, bool]:
    """One pattern as (regex without its end, directories only)."""
    if pattern.startswith(b"+ "):
        shown = pattern.decode(errors="replace")
        raise ValueError(f"exclude pattern {shown!r}: rsync reads a leading '+ ' as an include rule")
    if pattern.startswith(b"- "):
        pattern = pattern[2:]  # rsync's old-style prefix for an exclude rule: same meaning
    # Decided on the whole pattern: in "a\b/***" the "\b" is an escape, as rsync sees a wildcard.
    wild = any(w in pattern for w in _WILDCARDS)
    dir_only = False
    if pattern.endswith(b"/***"):
        pattern, dir_only = pattern[:-4], True
    elif len(pattern) > 1 and pattern.endswith(b"/"):
        pattern, dir_only = pattern[:-1], True
    anchored = pattern.startswith(b"/")
    if anchored:
        pattern = pattern[1:]
    if not pattern:
        raise ValueError("exclude pattern is empty")
    body = _translate(pattern) if wild else re.escape(pattern)
    if anchored:
        return b"^" + body, dir_only
    if pattern.startswith(b"**"):
        # rsync matches a leading "**" against "/" + path, so "**/x" matches a top-level "x".
        if body.startswith(b".*/"):
            body = b"(?:.*/)?" + body[3:]
        return b"^" + body, dir_only
    # Without "/" or "**" this is the last component; with them, rsync tries the
    # pattern at every directory boundary: the same expression serves both.
    return b"(?:^|/)" + body, dir_only


def _translate(pattern: bytes) -> bytes:
    """A pattern that has wildcards, as a regex (one without is compared literally by rsync)."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i:i + 1]
        if char == b"*":
            stars = len(pattern[i:]) - len(pattern[i:].lstrip(b"*"))
            out.append(b".*" if stars > 1 else b"[^/]*")
            i += stars
            continue
        if char == b"?":
            out.append(b"[^/]")
        elif char == b"[":
            regex, i = _bracket(pattern, i)
            if regex is None:
                return _NOTHING  # an unclosed "[" makes wildmatch give up on the whole pattern
            out.append(regex)
            continue
        elif char == b"\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i:i + 1]))
        else:
            out.append(re.escape(char))
        i += 1
    return b"".join(out)


def _bracket(pattern: bytes, i: int) -> tuple[bytes | None, int]:
    """The class starting at pattern[i] == "[" as a regex, and the index after it; None if unclosed."""
    i += 1
    negated = pattern[i:i + 1] in (b"!", b"^")
    i += negated
    members, empty = [], False
    first = True
    while i < len(pattern):
        char = pattern[i:i + 1]
        if char == b"]" and not first:
            if empty:
                return _NOTHING, i + 1
            body = b"".join(members)
            # A class never matches "/", negated or not.
            return (b"[^/" + body + b"]" if negated else b"(?!/)[" + body + b"]"), i + 1
        first = False
        if char == b"\\" and i + 1 < len(pattern):
            i += 1
            char = pattern[i:i + 1]
        high = pattern[i + 2:i + 3]
        if pattern[i + 1:i + 2] == b"-" and high not in (b"]", b""):
            if high < char:
                empty = True  # wildmatch's reversed range matches nothing
            else:
                members.append(re.escape(char) + b"-" + re.escape(high))
            i += 3
        else:
            members.append(re.escape(char))
            i += 1
    return None, i
