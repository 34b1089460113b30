"""Messages as JetStream hands them over (a direct get's, a leader read's, a consumer's) as `StoredMessage`s.

Kept apart from `core.log` so the log's module stays about appending and reading, not about where each kind
of answer carries its sequence and time.
"""
from __future__ import annotations

from typing import Any

from nats.js import api

from core import headers as H
from core.stored import StoredMessage


def stored(subject: str, seq: int, hdrs: dict[str, str], data: bytes) -> StoredMessage:
    when = hdrs.get(H.TIME)
    if when is None:
        stamp = hdrs.get("Nats-Time-Stamp")
        when = repr(api.Base._parse_utc_iso(stamp).timestamp()) if stamp else "0"
    return StoredMessage(seq, subject, hdrs, data, float(when))


def from_raw(raw: api.RawStreamMsg, subject: str) -> StoredMessage:
    """A message got by `get_msg`: a direct get's carries its time in a header, the leader's in `time`."""
    hdrs = dict(raw.headers or {})
    if H.TIME not in hdrs and "Nats-Time-Stamp" not in hdrs and raw.time is not None:
        return StoredMessage(raw.seq or 0, raw.subject or subject, hdrs, raw.data or b"", raw.time.timestamp())
    return stored(raw.subject or subject, raw.seq or 0, hdrs, raw.data or b"")


def stored_from_msg(msg: Any) -> StoredMessage:
    """A consumer-delivered JetStream message as a StoredMessage."""
    hdrs = dict(msg.headers or {})
    md = msg.metadata
    when = hdrs.get(H.TIME)
    return StoredMessage(md.sequence.stream, msg.subject, hdrs, msg.data,
                         float(when) if when else md.timestamp.timestamp())
