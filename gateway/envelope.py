"""The one check every log reader in the gateway makes: a message is an event only in a valid envelope.

A message on a spec subject that lacks Bosun's `Bosun-Type` header or whose body does not decode as its
kind's event (a stray publish, a reply someone steered onto the subject, a record from a buggy writer)
is skipped and logged, never raised: one such message must not turn every later write of the resource,
or every apply in its namespace, into a 500.
"""

from __future__ import annotations

import structlog

from core import codec
from core import headers as H
from core.events import Event
from core.kinds import KindInfo
from core.log import StoredMessage

_log = structlog.get_logger("bosun.gateway")


def event_of(info: KindInfo, m: StoredMessage) -> Event | None:
    """The event `m` carries, or None (logged) when it is not in a valid envelope."""
    if not m.headers.get(H.TYPE):
        _log.warning("message without an event envelope skipped", seq=m.seq, subject=m.subject)
        return None
    try:
        return codec.decode(info, m.data, m.headers)
    except Exception as e:  # noqa: BLE001 - bad JSON, schema mismatch or a faulty upcaster: all "not an event"
        _log.warning("undecodable event skipped", seq=m.seq, subject=m.subject, error=str(e)[:200])
        return None
