"""Pure: opaque continue tokens. A token remembers where a page ended and which query it belongs to,
so a token replayed against a different query is rejected instead of silently skipping rows."""
from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Annotated

import msgspec

Seq = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]
"""A stream sequence as SQLite's INTEGER holds it: a forged larger one is a malformed token, not a 500."""


class BadContinue(ValueError):
    """The continue token is malformed or belongs to another query (the gateway answers 400)."""


class ListCursor(msgspec.Struct, frozen=True, tag="l", array_like=True):
    query: str
    """Fingerprint of kind, namespace filter, selector and phase."""
    namespace: str
    name: str
    """Resume strictly after (namespace, name)."""


class HistoryCursor(msgspec.Struct, frozen=True, tag="h", array_like=True):
    query: str
    seq: Seq
    """Ascending: resume after seq. Tail (descending) pages: resume before seq."""
    tail: bool


Cursor = ListCursor | HistoryCursor
_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Cursor] = msgspec.json.Decoder(Cursor)


def encode(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(_encoder.encode(cursor)).decode().rstrip("=")


def decode_list(token: str, query: str) -> ListCursor:
    cursor = _decode(token)
    if not isinstance(cursor, ListCursor) or cursor.query != query:
        raise BadContinue("continue token does not belong to this list")
    return cursor


def decode_history(token: str, query: str, tail: bool) -> HistoryCursor:
    cursor = _decode(token)
    if not isinstance(cursor, HistoryCursor) or cursor.query != query or cursor.tail != tail:
        raise BadContinue("continue token does not belong to this history")
    return cursor


def fingerprint(*parts: object) -> str:
    """A short digest of a query's parameters: keeps tokens small and still query-specific."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _decode(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return _decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError) as e:  # ValidationError is a DecodeError
        raise BadContinue("malformed continue token") from e
