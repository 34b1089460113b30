"""Archive segments: a run of the stream's messages, compressed, and its index by subject and sequence (pure).

A segment covers the sequence range `lo..hi` (both included): every message the stream held in it when
the archiver read it. Consecutive segments tile `1..head` with no gap and no overlap (each starts right
after the previous one's `hi`), so the archive is one sequence space with the stream above it.

Its body is the messages as incident bundles write them (`core.bundles`, one JSON line each), zlib
compressed. Its index (a separate, much smaller object) lists each subject's sequences, so a reader looking
for one resource's history opens only the segments that hold some of it.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import msgspec

from core import bundles
from core.stored import StoredMessage

FORMAT = 1
SEGMENT = "seg"
INDEX = "idx"
READ_HEADERS = frozenset({"Nats-Num-Pending", "Nats-Last-Sequence", "Nats-UpTo-Sequence"})
"""What a direct get adds about the read itself (how many follow): not part of the message, not archived."""
LEVEL = 6
"""zlib level: JSON events shrink ~8x at 6; 9 costs twice the CPU for a few percent more."""


class BadSegment(Exception):
    """Not a segment or index this code reads (corrupt, or a newer format)."""


class Index(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    format: int = FORMAT
    lo: int
    hi: int
    messages: int
    raw_bytes: int
    """The messages' JSON lines before compression."""
    first_time: float = 0.0
    last_time: float = 0.0
    subjects: dict[str, list[int]] = {}
    """Subject -> the sequences of its messages in this segment, ascending."""

    def seqs(self, subject_filter: str, start: int = 1, end: int | None = None) -> list[int]:
        """Sequences in `start..end` of the subjects matching `subject_filter`, ascending."""
        stop = self.hi if end is None else end
        if matches_all(subject_filter):
            return sorted(s for seqs in self.subjects.values() for s in seqs if start <= s <= stop)
        found = [s for subject, seqs in self.subjects.items() if matches(subject_filter, subject)
                 for s in seqs if start <= s <= stop]
        return sorted(found)


_index_encoder = msgspec.json.Encoder()
_index_decoder = msgspec.json.Decoder(Index)


def name(kind: str, lo: int, hi: int) -> str:
    """`seg.<lo>.<hi>` / `idx.<lo>.<hi>`, zero-padded: names sort as ranges do, and a retry of the same
    range writes the same name (the archive refuses a second object of a name: `core.objects`)."""
    return f"{kind}.{lo:020d}.{hi:020d}"


def parse_name(text: str) -> tuple[str, int, int] | None:
    """(kind, lo, hi) of a segment or index name; None for any other object."""
    parts = text.split(".")
    if len(parts) != 3 or parts[0] not in (SEGMENT, INDEX) or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return parts[0], int(parts[1]), int(parts[2])


def encode(messages: Iterable[StoredMessage]) -> tuple[bytes, int]:
    """(compressed body, raw bytes) of `messages` in stream order."""
    raw = b"".join(bundles.encode_line(stored(m)) for m in messages)
    return zlib.compress(raw, LEVEL), len(raw)


def stored(message: StoredMessage) -> StoredMessage:
    """The message as the stream stores it, without its read's `READ_HEADERS`."""
    if READ_HEADERS.isdisjoint(message.headers):
        return message
    hdrs = {k: v for k, v in message.headers.items() if k not in READ_HEADERS}
    return StoredMessage(message.seq, message.subject, hdrs, message.data, message.time)


def decode(blob: bytes) -> list[StoredMessage]:
    try:
        raw = zlib.decompress(blob)
        return list(bundles.parse_lines(raw.splitlines()))
    except (zlib.error, bundles.BadBundle) as e:
        raise BadSegment(f"unreadable segment: {e}") from e


def index_of(lo: int, hi: int, messages: Sequence[StoredMessage], raw_bytes: int) -> Index:
    subjects: dict[str, list[int]] = {}
    for m in messages:
        subjects.setdefault(m.subject, []).append(m.seq)
    return Index(lo=lo, hi=hi, messages=len(messages), raw_bytes=raw_bytes,
                 first_time=messages[0].time if messages else 0.0,
                 last_time=messages[-1].time if messages else 0.0, subjects=subjects)


def encode_index(index: Index) -> bytes:
    return zlib.compress(_index_encoder.encode(index), LEVEL)


def decode_index(blob: bytes) -> Index:
    try:
        index = _index_decoder.decode(zlib.decompress(blob))
    except (zlib.error, msgspec.DecodeError) as e:
        raise BadSegment(f"unreadable segment index: {e}") from e
    if index.format > FORMAT:
        raise BadSegment(f"segment format {index.format} is newer than this Bosun reads ({FORMAT})")
    return index


def matches_all(subject_filter: str) -> bool:
    return subject_filter in (">", "bosun.>")


def matches(subject_filter: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want = subject_filter.split(".")
    got = subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(got) > i
        if i >= len(got) or (token != "*" and token != got[i]):
            return False
    return len(got) == len(want)
