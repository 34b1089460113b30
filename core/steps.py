"""The step in flight: what a controller records before each `evolve`/`decide`, and when one is stuck.

A controller's watchdog (`actors.watchdog`) keeps this record in a small shared file while a step runs.
Two readers act on it after the fact: a restarted controller learns which resource's step killed its
predecessor (`actors.kernel.crashed` turns that into a failure record), and the supervisor ends a
controller whose step has held it past a deadline (`overdue`). Pure: the readers and writers do the I/O.
"""
from __future__ import annotations

import msgspec

SIZE = 1024
"""Bytes of the in-flight file (its JSON is cut to fit)."""


class Crash(msgspec.Struct, frozen=True):
    """The step running (or, read by the next process, the step its predecessor died in): `reason` is
    "crash", or "timeout"/"memory" when a watchdog or the supervisor judged it."""

    token: str
    step: str
    seq: int = 0
    """The resource's high-water mark (decide) or the sequence being folded (evolve)."""
    reason: str = "crash"
    message: str = ""
    started: float = 0.0
    """Wall-clock start of the step: the supervisor ends a process stuck in one step past a deadline
    (a C call holding the GIL, e.g. a catastrophic regex, stops this process's watchdog thread too)."""


_decoder = msgspec.json.Decoder(Crash)


def decode(raw: bytes) -> Crash | None:
    """The record in `raw` (up to its NUL), or None when there is none or it is torn."""
    body = raw.split(b"\0", 1)[0]
    try:
        return _decoder.decode(body) if body else None
    except msgspec.DecodeError:
        return None


def encode(crash: Crash) -> bytes:
    """The record as stored in the in-flight file: JSON cut to fit, then its NUL."""
    return msgspec.json.encode(crash)[:SIZE - 1] + b"\0"


def overdue(crash: Crash | None, now: float, kill_after: float, since: float = 0.0) -> Crash | None:
    """The step judged a timeout when it has held its controller past `kill_after`, else None.

    A step already judged is left alone: it waits for the restarted controller to take it up. So is a step
    that started before the process did (`since`, wall clock): its predecessor died in it (a crash, already
    recorded as one) and the restarted controller, still starting, has not taken the record up yet."""
    if crash is None or not crash.started or crash.reason == "timeout" or crash.started < since:
        return None
    held = now - crash.started
    if held < kill_after:
        return None
    return msgspec.structs.replace(
        crash, reason="timeout",
        message=f"{crash.step} held its controller for {held:.0f}s without yielding (the interpreter lock, "
                "so the in-process watchdog could not stop it); the supervisor restarted the controller")
