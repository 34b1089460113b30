"""Retention's rules: what holds a message in the stream, and how archived messages leave it (pure).

A message may move to the archive when it is older than the retention AND every reader that could still
need it from the stream is past it:

- a durable consumer with messages pending (a stopped projector, a lagging driver) holds everything
  after what it acknowledged; a consumer with nothing pending holds nothing;
- a controller partition checkpoint holds everything after it (a cold host folds from there);
- the newest projection snapshot holds everything after it (a new read model starts from it);
- the partition-mapped copy (`BOSUN_P`) holds what it has not copied yet.

It leaves the stream only once it is archived — and never when it is the last message of a subject some
writer fences on (`spec`: a resource's resourceVersion, `If-Match`; `ctl.<controller>` and commands: the
actors' own fences): those stay, so a resource last written a year ago still accepts its resourceVersion.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import msgspec

from core.segments import matches

HoldKind = Literal["consumer", "checkpoint", "projections", "copy", "retention"]
WIDE = ("bosun.ev.*.*.*.obs", "bosun.ev.*.*.*.inbox", "bosun.audit.>")
"""Slices nobody fences on: purged by one wildcard request each, their last messages included."""


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """Something that keeps messages after `seq` in the stream."""

    kind: HoldKind
    name: str
    seq: int
    """Messages at or below it may go; those after it must stay."""
    detail: str = ""


def lowest(holds: Iterable[Hold | None]) -> Hold | None:
    """The hold that keeps the most (the lowest `seq`); None when nothing holds."""
    found = [h for h in holds if h is not None]
    return min(found, key=lambda h: h.seq) if found else None


def consumer_hold(name: str, acked: int, pending: int, unacked: int) -> Hold | None:
    """A durable consumer with something left to deliver or acknowledge holds what follows its ack floor."""
    if not pending and not unacked:
        return None
    return Hold(kind="consumer", name=name, seq=acked,
                detail=f"{pending} pending and {unacked} unacknowledged after seq {acked}")


def checkpoint_holds(entries: Mapping[str, bytes]) -> list[Hold]:
    """The partition checkpoints among a bucket's keys (`p.<n>` or `<scope>.p.<n>`)."""
    holds = []
    for key, value in entries.items():
        parts = key.split(".")
        if len(parts) < 2 or parts[-2] != "p" or not parts[-1].isdigit():
            continue
        holds.append(Hold(kind="checkpoint", name=key, seq=checkpoint_seq(value),
                          detail=f"controller partition checkpoint {key}"))
    return holds


def checkpoint_seq(value: bytes) -> int:
    """A checkpoint's sequence: digits (older hosts) or `{"seq": N, ...}`."""
    raw = value.strip()
    if raw.isdigit():
        return int(raw)
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return 0
    seq = decoded.get("seq", 0) if isinstance(decoded, dict) else 0
    return seq if isinstance(seq, int) else 0


def age_hold(seq: int, time: float, now: float, retain: float) -> Hold | None:
    """The first message not archived yet holds itself (and all after) while younger than `retain`."""
    if now - time >= retain:
        return None
    return Hold(kind="retention", name="retention", seq=seq - 1,
                detail=f"younger than the retention ({now - time:.0f}s < {retain:g}s)")


def fenced(subject: str) -> bool:
    """Is `subject` one whose last message a writer's expected-sequence check reads?"""
    parts = subject.split(".")
    if len(parts) >= 2 and parts[0] == "bosun" and parts[1] == "cmd":
        return True
    return len(parts) >= 6 and parts[1] == "ev" and (parts[5] == "spec" or parts[5] == "ctl")


def purges(subjects: Iterable[str], through: int, lasts: Mapping[str, int]) -> list[tuple[str, int]]:
    """(filter, sequence) purge requests that take every message at or below `through` on `subjects` out
    of the stream, except the last message of each fenced subject. A request removes the filter's messages
    below its sequence; `lasts` holds each fenced subject's last sequence (one left out is not touched)."""
    out = [(wide, through + 1) for wide in WIDE]
    for subject in sorted(set(subjects)):
        if fenced(subject):
            last = lasts.get(subject)
            if last is not None:
                out.append((subject, min(through + 1, last)))
        elif not any(matches(wide, subject) for wide in WIDE):
            out.append((subject, through + 1))
    return out
