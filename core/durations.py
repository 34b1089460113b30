"""Durations as people write them: `90s`, `15m`, `36h`, `30d`, `1w`, or plain seconds (pure).

Why not Go's syntax alone: a retention is weeks or years (`--retain 400d`), which Go durations cannot say.
"""
from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse(text: str) -> float:
    """Seconds in `text`: a number (seconds) or parts like `1h30m`; ValueError when malformed or not > 0."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("empty duration")
    try:
        seconds = float(raw)
    except ValueError:
        pos, seconds = 0, 0.0
        for m in _PART.finditer(raw):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(raw):
            raise ValueError(f"{text!r} is not a duration (e.g. 90s, 15m, 36h, 30d, 1w)") from None
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"{text!r} must be a positive duration")
    return seconds


def render(seconds: float) -> str:
    """The shortest exact form of `seconds` (`86400` -> `1d`, `90` -> `90s`)."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"

