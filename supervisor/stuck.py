"""The supervisor's watch on controller steps: the last line of defence when a step holds the GIL.

A controller's own watchdog thread interrupts steps that overrun (`actors/watchdog.py`), but a C call
that never releases the GIL (a catastrophic regex, a native extension's loop) stops that thread too.
The controller names the step in progress, with its start time, in its in-flight file (a small JSON
document ended by a NUL); the supervisor reads it, and when one step has run past `kill_after` it
rewrites the record as a timeout (so the restarted controller quarantines the resource instead of
running the step again) and returns True: the caller kills the process.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from core.settings import DEFAULTS

KILL_AFTER = DEFAULTS.step_kill_after
"""Seconds one step may run before the supervisor ends its controller process (BOSUN_STEP_KILL_AFTER, which
`bosun up` passes in)."""


def stuck(path: Path, kill_after: float = KILL_AFTER, now: float | None = None) -> dict[str, object] | None:
    """The step stuck in `path` past `kill_after` (its record rewritten as a timeout), else None."""
    try:
        raw = path.read_bytes().split(b"\0", 1)[0]
        step = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return None  # absent, or caught mid-write: look again next time
    if not isinstance(step, dict) or not step.get("started"):
        return None
    if step.get("reason") == "timeout":  # already judged: the restarted controller has yet to take it up
        return None
    held = (now or time.time()) - float(step["started"])
    if held < kill_after:
        return None
    record = {**step, "reason": "timeout",
              "message": f"{step.get('step')} held its controller for {held:.0f}s without yielding "
                         "(the interpreter lock, so the in-process watchdog could not stop it); "
                         "the supervisor restarted the controller"}
    data = json.dumps(record).encode()[:1023] + b"\0"
    with open(path, "r+b") as f:
        f.write(data)
    return record
