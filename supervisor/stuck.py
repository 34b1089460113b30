"""The supervisor's watch on controller steps: the last line of defence when a step holds the GIL.

A controller's own watchdog thread interrupts steps that overrun (`actors/watchdog.py`), but a C call
that never releases the GIL (a catastrophic regex, a native extension's loop) stops that thread too.
The controller names the step in progress, with its start time, in its in-flight file (a small JSON
document ended by a NUL, `core.steps`); the supervisor reads it, and when one step has run past
`kill_after` (`core.steps.overdue`, the pure judgement) it rewrites the record as a timeout (so the
restarted controller quarantines the resource instead of running the step again) and returns it: the
caller kills the process.
"""
from __future__ import annotations

import time
from pathlib import Path

import msgspec

from core import steps
from core.settings import DEFAULTS

KILL_AFTER = DEFAULTS.step_kill_after
"""Seconds one step may run before the supervisor ends its controller process (BOSUN_STEP_KILL_AFTER, which
`bosun up` passes in)."""


def stuck(path: Path, kill_after: float = KILL_AFTER, now: float | None = None,
          since: float = 0.0) -> dict[str, object] | None:
    """The step stuck in `path` past `kill_after` (its record rewritten as a timeout), else None; `since`: when
    the process now running started (wall clock), so that its predecessor's last step is not judged."""
    try:
        step = steps.decode(path.read_bytes())
    except OSError:
        return None  # absent: look again next time (a record caught mid-write decodes as None)
    judged = steps.overdue(step, time.time() if now is None else now, kill_after, since)
    if judged is None:
        return None
    with open(path, "r+b") as f:
        f.write(steps.encode(judged))
    return msgspec.structs.asdict(judged)
