"""Objects in a NATS Object Store bucket, in the store's own layout, read with direct gets.

The layout is nats-server's (the `nats obj` CLI and every client read these objects): a stream
`OBJ_<bucket>`, chunks on `$O.<bucket>.C.<nuid>`, then one meta message (the object's JSON info, with its
SHA-256) on `$O.<bucket>.M.<base64 name>`. The meta message is what makes an object exist: a writer killed
while sending chunks leaves no object behind, only chunks nothing points to.

Reads use direct gets (one request per object, no consumer), so a reader needs only
`$JS.API.DIRECT.GET.OBJ_<bucket>`. Writes go through the log's shared reply inbox.

Two kinds of bucket: a write-once one (the archive: every subject takes one message, the stream denies
purge, delete and rollups, so nothing of it can be erased or replaced, even by its writer) whose objects are
a single chunk with a deterministic nuid, so a retry rewrites nothing; and an ordinary one (projection
snapshots: an object is replaced by a newer one of the same name, its old chunks purged).
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import AsyncIterator

import msgspec
import nats.errors
import nats.js.errors
from nats.js import api

from core.engine import Engine
from core.stored import Conflict, StoredMessage, Unavailable

DIGEST = "SHA-256="
MAX_MSGS_PER_SUBJECT = 10077
"""JetStream's error for a second message on a subject of a write-once stream."""
CHUNK = 128 * 1024
"""Chunk size of ordinary objects (the Object Store's default)."""
ROLLUP = "Nats-Rollup"


class Options(msgspec.Struct, frozen=True, omit_defaults=True):
    max_chunk_size: int | None = None


class Info(msgspec.Struct, frozen=True, omit_defaults=True):
    """An object's meta message, field for field as nats-server's Object Store writes it."""

    name: str
    bucket: str
    nuid: str
    size: int = 0
    chunks: int = 0
    digest: str = ""
    mtime: str = ""
    deleted: bool = False
    description: str | None = None
    headers: dict[str, list[str]] | None = None
    options: Options | None = None


_info = msgspec.json.Decoder(Info)
_json = msgspec.json.Encoder()


def stream(bucket: str) -> str:
    return f"OBJ_{bucket}"


def chunk_subject(bucket: str, nuid: str) -> str:
    return f"$O.{bucket}.C.{nuid}"


def meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def stream_config(bucket: str, replicas: int, write_once: bool, max_msg_size: int = -1) -> api.StreamConfig:
    """The bucket's stream; `write_once`: one message per subject, no purge, no delete, no rollup."""
    config = api.StreamConfig(
        name=stream(bucket), subjects=[f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"], storage=api.StorageType.FILE,
        num_replicas=replicas, discard=api.DiscardPolicy.NEW, allow_direct=True, max_msg_size=max_msg_size)
    if write_once:
        config.max_msgs_per_subject = 1
        config.discard_new_per_subject = True
        config.deny_delete = config.deny_purge = True
        config.allow_rollup_hdrs = False
    else:
        config.allow_rollup_hdrs = True
    return config


def digest_of(data: bytes) -> str:
    return DIGEST + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


def once_nuid(bucket: str, name: str) -> str:
    """The chunk id of a write-once object: its name's digest, so a retry writes the same subject."""
    return hashlib.sha256(f"{bucket}/{name}".encode()).hexdigest()[:22]


async def ensure(log: Engine, bucket: str, write_once: bool, max_msg_size: int = -1) -> None:
    """Create the bucket's stream if absent (only its owner's user may)."""
    try:
        await log.jsm.stream_info(stream(bucket))
    except nats.js.errors.NotFoundError:
        with contextlib.suppress(nats.js.errors.BadRequestError):  # made meanwhile by another writer
            await log.jsm.add_stream(stream_config(bucket, log.replicas, write_once, max_msg_size))


async def info(log: Engine, bucket: str, name: str) -> Info | None:
    """The object's info; None when there is no such object (or no such bucket)."""
    subject = meta_subject(bucket, name)
    found = None
    async for m in _scan(log, bucket, {"multi_last": [subject], "batch": 1}):
        found = m
    if found is None:
        return None
    got = _info.decode(found.data)
    return None if got.deleted else got


async def get(log: Engine, bucket: str, name: str) -> bytes | None:
    """The object's bytes (digest checked); None when there is no such object."""
    got = await info(log, bucket, name)
    return None if got is None else await read(log, got)


async def read(log: Engine, got: Info) -> bytes:
    parts: list[bytes] = []
    subject = chunk_subject(got.bucket, got.nuid)
    async for m in _scan(log, got.bucket, {"seq": 1, "next_by_subj": subject, "batch": max(1, got.chunks)}):
        parts.append(m.data)
    data = b"".join(parts)
    if len(parts) != got.chunks or digest_of(data) != got.digest:
        raise Unavailable(f"object {got.bucket}/{got.name} is incomplete or corrupt "
                          f"({len(parts)}/{got.chunks} chunks, {len(data)}/{got.size} bytes)")
    return data


async def listing(log: Engine, bucket: str, after: int = 0) -> AsyncIterator[tuple[int, Info]]:
    """(stream sequence, info) of every meta message after stream sequence `after`, oldest first. In a
    write-once bucket every meta is an object of its own, so a reader can list only what is new."""
    async for m in _scan(log, bucket, {"seq": after + 1, "next_by_subj": f"$O.{bucket}.M.>", "batch": 10_000},
                         until_empty=True):
        yield m.seq, _info.decode(m.data)


async def put(log: Engine, bucket: str, name: str, data: bytes, *, write_once: bool,
              headers: dict[str, list[str]] | None = None) -> Info:
    """Store `data` as object `name`. In a write-once bucket the object is one chunk whose nuid is the
    name's digest: a retry after a crash meets its own chunk (and meta) and succeeds without writing.
    In an ordinary bucket a newer object of the name replaces the older one; the older one's chunks stay
    until someone allowed to purge the bucket removes them (`chunk_subject` of its nuid)."""
    digest = digest_of(data)
    if write_once:
        nuid, chunks = once_nuid(bucket, name), [data]
    else:
        nuid = secrets.token_hex(11)
        chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        chunks = [c for c in chunks if c]
    for chunk in chunks:
        if not await _publish(log, chunk_subject(bucket, nuid), chunk, {}, write_once):
            await _same_chunk(log, bucket, nuid, chunk)  # a retry meets its own chunk, or something else
    made = Info(name=name, bucket=bucket, nuid=nuid, size=len(data), chunks=len(chunks), digest=digest,
                mtime=dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"), headers=headers,
                options=Options(max_chunk_size=len(data) if write_once else CHUNK))
    stored = await _publish(log, meta_subject(bucket, name), _json.encode(made),
                            {} if write_once else {ROLLUP: "sub"}, write_once)
    if not stored:  # a write-once object of this name exists: it must be this one
        existing = await info(log, bucket, name)
        if existing is None or existing.digest != digest:
            raise Conflict(f"object {bucket}/{name} exists with other contents")
        return existing
    return made


async def _same_chunk(log: Engine, bucket: str, nuid: str, chunk: bytes) -> None:
    async for m in _scan(log, bucket, {"multi_last": [chunk_subject(bucket, nuid)], "batch": 1}):
        if m.data == chunk:
            return
    raise Conflict(f"chunk {bucket}/{nuid} exists with other contents")


async def _publish(log: Engine, subject: str, data: bytes, hdrs: dict[str, str], write_once: bool) -> bool:
    """Append one message; False when a write-once subject already holds one."""
    ack = await log.replies.publish(subject, data, hdrs)
    if ack.error is None:
        return True
    if write_once and ack.error.err_code == MAX_MSGS_PER_SUBJECT:
        return False
    raise Unavailable(f"{subject}: {ack.error.description} ({ack.error.err_code})")


async def _scan(log: Engine, bucket: str, req: dict[str, object],
                until_empty: bool = False) -> AsyncIterator[StoredMessage]:
    """Direct-get batches on the bucket's stream (a missing bucket reads as empty). `until_empty`: ask
    again from after the last message until a batch comes back short (listings longer than a batch)."""
    while True:
        got = 0
        last = 0
        async with contextlib.aclosing(log.direct(req, stream(bucket))) as replies:
            async for message in replies:
                got += 1
                last = message.seq
                yield message
        batch = int(str(req.get("batch", 1)))
        if not until_empty or got < batch:
            return
        req = {**req, "seq": last + 1}
