"""Incident bundles: a self-contained file of stored messages, replayable with no NATS at all.

JSON lines. The first line is the header `{"bosunBundle": 1, "refs": [...], "lastSeq": N, "createdAt": T,
"note": ...}`; every following line is one stored message exactly as the log holds it
`{"seq", "subject", "time", "headers", "data"}` (`data` is the body as text; `data64` as base64 when
the body is not UTF-8). Messages are in stream order and unique by seq.
"""
from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import msgspec

from core.names import Ref
from core.stored import StoredMessage

FORMAT = 1


class BadBundle(Exception):
    """Not a Bosun bundle, or a newer format than this code reads."""


class Header(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    bosun_bundle: int = FORMAT
    refs: tuple[str, ...] = ()
    """The resources the bundle was exported for (`kind/namespace/name`); empty for a whole-stream export."""
    last_seq: int = 0
    created_at: float = 0.0
    note: str = ""


class _Line(msgspec.Struct, frozen=True, omit_defaults=True):
    seq: int
    subject: str
    time: float
    headers: dict[str, str]
    data: str | None = None
    data64: str | None = None


_encoder = msgspec.json.Encoder()
_header = msgspec.json.Decoder(Header)
_line = msgspec.json.Decoder(_Line)


def header(refs: Iterable[Ref], last_seq: int, note: str = "") -> Header:
    return Header(refs=tuple(f"{r.kind}/{r.namespace}/{r.name}" for r in refs), last_seq=last_seq,
                  created_at=time.time(), note=note)


def encode_line(message: StoredMessage) -> bytes:
    try:
        line = _Line(message.seq, message.subject, message.time, message.headers, data=message.data.decode())
    except UnicodeDecodeError:
        line = _Line(message.seq, message.subject, message.time, message.headers,
                     data64=base64.b64encode(message.data).decode())
    return _encoder.encode(line) + b"\n"


def encode_header(head: Header) -> bytes:
    return _encoder.encode(head) + b"\n"


def write(out: IO[bytes], head: Header, messages: Iterable[StoredMessage]) -> int:
    """Write a bundle; returns how many messages it holds."""
    out.write(encode_header(head))
    count = 0
    for m in sorted({m.seq: m for m in messages}.values(), key=lambda m: m.seq):
        out.write(encode_line(m))
        count += 1
    return count


def save(path: Path, head: Header, messages: Iterable[StoredMessage]) -> int:
    with open(path, "wb") as f:
        return write(f, head, messages)


def parse_header(line: bytes) -> Header:
    try:
        head = _header.decode(line)
    except msgspec.DecodeError as e:
        raise BadBundle(f"not a Bosun bundle: {e}") from e
    if head.bosun_bundle > FORMAT:
        raise BadBundle(f"bundle format {head.bosun_bundle} is newer than this Bosun reads ({FORMAT})")
    return head


def parse_lines(lines: Iterable[bytes]) -> Iterator[StoredMessage]:
    for raw in lines:
        if not raw.strip():
            continue
        try:
            line = _line.decode(raw)
        except msgspec.DecodeError as e:
            raise BadBundle(f"bad bundle line: {e}") from e
        data = line.data.encode() if line.data is not None else base64.b64decode(line.data64 or "")
        yield StoredMessage(line.seq, line.subject, line.headers, data, line.time)


def load(path: Path) -> tuple[Header, list[StoredMessage]]:
    with open(path, "rb") as f:
        first = f.readline()
        if not first:
            raise BadBundle(f"{path} is empty")
        head = parse_header(first)
        return head, sorted(parse_lines(f), key=lambda m: m.seq)


def from_bytes(body: bytes) -> tuple[Header, list[StoredMessage]]:
    first, _, rest = body.partition(b"\n")
    head = parse_header(first)
    return head, sorted(parse_lines(rest.splitlines()), key=lambda m: m.seq)


def ref_of(text: str) -> Ref:
    kind, namespace, name = text.split("/")
    return Ref(kind, namespace, name)
