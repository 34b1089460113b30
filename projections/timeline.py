"""Pure: the history item of one stored message (docs/design.md, "API shapes": a history).

Every message on a resource's subjects (its event slices and `bosun.cmd.<driver>.<kind>.<ns>.<name>`)
becomes exactly one item of that resource's timeline. Messages addressed to a second resource through
`Bosun-Notify` stay in their own subject's timeline only: the timeline is the subject's story.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from core import headers as H
from core import subjects
from core.events import Event
from projections.reducer import CTL_PREFIX, rfc3339

if TYPE_CHECKING:
    from core.stored import StoredMessage

UNDECODABLE = "undecodable"
_raw_json = msgspec.json.Decoder()
_json = msgspec.json.Encoder()
_SEQS = re.compile(r"[0-9]+(?:,[0-9]+)*")


class Entry(NamedTuple):
    """One timeline row: the key columns for indexing plus the API item."""

    seq: int
    kind: str
    namespace: str
    name: str
    type: str
    item: dict[str, Any]


class Written(NamedTuple):
    """One timeline row as written: the key columns plus the API item already encoded as JSON."""

    seq: int
    kind: str
    namespace: str
    name: str
    type: str
    item: str


def entry(message: StoredMessage, event: Event | None) -> Entry | None:
    """The timeline entry of `message`, or None when its subject is not a Bosun resource subject."""
    try:
        parsed = subjects.parse(message.subject)
    except ValueError:
        return None
    type_, item = _item(message, event, parsed)
    item["data"] = msgspec.to_builtins(event) if event is not None else _raw(message.data)
    ref = parsed.ref
    return Entry(message.seq, ref.kind, ref.namespace, ref.name, type_, item)


def written(message: StoredMessage, event: Event | None, parsed: subjects.Parsed) -> Written:
    """`entry` as the writer stores it (same JSON), for a message whose subject is already parsed.

    The event is encoded straight into the item: the same bytes as encoding its builtins, without them.
    """
    type_, item = _item(message, event, parsed)
    item["data"] = event if event is not None else _raw(message.data)
    ref = parsed.ref
    return Written(message.seq, ref.kind, ref.namespace, ref.name, type_, _json.encode(item).decode())


def _item(message: StoredMessage, event: Event | None, parsed: subjects.Parsed) -> tuple[str, dict[str, Any]]:
    """The entry's type and its item without `data` (added last, so it stays the last key)."""
    hdrs = message.headers
    type_ = hdrs.get(H.TYPE) or (_tag(event) if event is not None else "") or "unknown"
    slice_ = parsed.slice
    item: dict[str, Any] = {"seq": message.seq, "time": rfc3339(message.time), "slice": slice_, "type": type_}
    if slice_ == subjects.SPEC:
        item["principal"] = hdrs.get(H.PRINCIPAL)
    elif slice_.startswith(CTL_PREFIX):
        item["controller"] = slice_[len(CTL_PREFIX):]
    else:  # cmd / inbox: the sending actor; obs: whoever the driver says it is
        item["controller"] = hdrs.get(H.SENDER) or hdrs.get(H.CONTROLLER)
    item["summary"] = _summary(event)
    item["causes"] = causes(hdrs.get(H.CAUSES))
    item["traceId"] = trace_id(hdrs.get(H.TRACEPARENT))
    return type_, item


def causes(header: str | None) -> list[int]:
    """`Bosun-Causes` ("12,15,40") as ints; malformed tokens are dropped, never fatal."""
    if not header:
        return []
    if _SEQS.fullmatch(header):  # the usual, well-formed header: every token is an int
        return list(map(int, header.split(",")))
    return [int(tok) for tok in header.split(",") if tok.strip().isdigit()]


def trace_id(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a W3C `traceparent` (`00-<trace>-<span>-<flags>`), or None."""
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32:
        return None
    trace = parts[1].lower()
    try:
        int(trace, 16)
    except ValueError:
        return None
    return None if trace == "0" * 32 else trace


def _summary(event: Event | None) -> str:
    if event is None:
        return UNDECODABLE
    try:
        return event.summary()
    except Exception:  # noqa: BLE001 - a buggy summary() must not stop the projection
        return type(event).__name__


def _tag(event: Event) -> str:
    tag = type(event).__struct_config__.tag
    return tag if isinstance(tag, str) else ""


def _raw(data: bytes) -> dict[str, Any] | None:
    try:
        body = _raw_json.decode(data)
    except msgspec.DecodeError:
        return None
    return body if isinstance(body, dict) else None
