"""Which request a spec write belongs to: its `Nats-Msg-Id`, unique per request, and "did mine land?".

Why per request and not per content: two writers sending identical content with the same `If-Match` must
not be merged into one write (the second would be deduplicated into the first and also answered 202: not
a compare-and-set). So every admitted request gets its own token, fixed for the whole request (the
gateway's own retries across a leader election keep it, so a round whose ack was lost is recognised as
ours), and a client may name the request itself with an `Idempotency-Key`: its own resend of the same
request (same principal, same key, same content) is then recognised too, while the write is still the
resource's last one.
"""
from __future__ import annotations

import hashlib
import uuid

from core.names import Ref
from gateway.admission import current as cur
from gateway.errors import malformed

HEADER = "Idempotency-Key"
MAX_KEY = 255


def parse_key(value: str | None) -> str | None:
    """The client's `Idempotency-Key` (printable ASCII, at most 255 characters); 400 otherwise."""
    if value is None or not value.strip():
        return None
    key = value.strip()
    if len(key) > MAX_KEY or not (key.isascii() and key.isprintable()):
        raise malformed(f"{HEADER} must be at most {MAX_KEY} printable ASCII characters", HEADER)
    return key


def token_of(principal: str, key: str | None) -> str:
    """The request's token: derived from (principal, key) when the client named the request, else fresh."""
    if key is None:
        return "r" + uuid.uuid4().hex
    return "k" + hashlib.sha256(f"{principal}\0{key}".encode()).hexdigest()[:32]


def apply_id(ref: Ref, generation: int, digest: str, token: str) -> str:
    return f"spec/{ref.token}/{generation}/{digest}/{token}"


def delete_id(ref: Ref, generation: int, token: str) -> str:
    return f"spec/{ref.token}/{generation}/delete/{token}"


def applied_by(now: cur.Current, ref: Ref, digest: str, token: str) -> bool:
    """The resource's last spec event is this request's apply (it landed; its answer was lost)."""
    return now.state == "live" and now.msg_id == apply_id(ref, now.generation, digest, token)


def deleted_by(now: cur.Current, ref: Ref, token: str) -> bool:
    """The resource's last spec event is this request's deletion request."""
    return now.state in ("deleting", "gone") and now.msg_id == delete_id(ref, now.generation, token)
