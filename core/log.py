"""The log: one JetStream stream, appends with optimistic concurrency and dedup, reads by subject.

This is the only module that knows JetStream's wire details (error codes, direct-get batches);
everything above it speaks `append`, `last`, `read` and `StoredMessage`.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from core import archive, natsusers, nodes, subjects
from core import headers as H
from core.codec import encode, event_headers
from core.events import Event
from core.natscreds import user_of
from core.observe import observed_append
from core.received import from_raw as _from_raw
from core.received import stored as _stored
from core.received import stored_from_msg as stored_from_msg  # re-exported: the log's vocabulary
from core.replies import Replies as Replies  # re-exported: `core.dropped` fails its pending appends
from core.replies import attempt_within as attempt_within  # re-exported: a caller's per-attempt bound
from core.replies import bounded
from core.stored import Appended as Appended  # re-exported: the log's vocabulary
from core.stored import Conflict as Conflict
from core.stored import StoredMessage as StoredMessage
from core.stored import Unavailable as Unavailable
from core.wire import faster_headers

INTERNAL_INBOX = "_INBOX_bosun"
"""Same as core.natsserver.INTERNAL_INBOX (kept here so the log does not import the server module)."""
WRONG_LAST_SEQUENCE = 10071
DUPLICATE_WINDOW = 120.0
SNAPSHOTS = "bosun-snapshots"
LEASES = "bosun-leases"
CHECKPOINTS = "bosun-checkpoints"
ACK_TIMEOUT = 5.0
"""Seconds an append waits for its ack (was 10): one sent through a surviving server to a stream leader just
killed is never answered; its caller retries with the same `Nats-Msg-Id` (deduplicated, or found as its own)."""
TRANSIENT_READ: tuple[type[BaseException], ...] = (Unavailable, nats.errors.Error, TimeoutError)
"""What a read may raise while the cluster has no leader for the stream or bucket read."""


async def connect(url: str, name: str, **options: Any) -> NATS:
    """A client that keeps reconnecting forever: components outlive NATS restarts.

    `url` may list several servers comma-separated (a cluster seed list, as in compose.yaml). Replies come
    to Bosun's private inbox prefix, which no client user may subscribe to.
    """
    servers: str | list[str] = [u.strip() for u in url.split(",")] if "," in url else url
    options.setdefault("error_cb", _quiet_error)
    options.setdefault("inbox_prefix", inbox_prefix(url))
    nc = await nats.connect(servers, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.25,
                            connect_timeout=5, **options)
    faster_headers(nc)
    _USERS[nc] = user_of(url)
    return nc


_USERS: weakref.WeakKeyDictionary[NATS, str] = weakref.WeakKeyDictionary()
"""The NATS user each connection made by `connect` authenticated as ("" for none)."""


def manages(nc: NATS) -> bool:
    """May this connection create and change the stream and buckets? Only the gateway's user may (or
    any, on a NATS without Bosun's users); the others find them as the gateway made them, and wait
    for them rather than ask (a refused request is only noticed at its timeout)."""
    return _USERS.get(nc, "") in ("", natsusers.GATEWAY.user)


def inbox_prefix(url: str) -> str:
    """`_INBOX_<user>` for a URL carrying a component's user (only that user may subscribe to it, see
    `core.natsusers`); Bosun's private `_INBOX_bosun` otherwise (a NATS without Bosun's users)."""
    user = user_of(url)
    return natsusers.inbox_of(user) if user else INTERNAL_INBOX


async def _quiet_error(e: Exception) -> None:
    """One line per connection error instead of nats-py's traceback on every reconnect attempt."""
    structlog.get_logger("bosun.nats").warning("nats connection error", error=str(e) or type(e).__name__)


class Log:
    def __init__(self, nc: NATS, stream: str = subjects.STREAM, replicas: int = 1) -> None:
        self.nc = nc
        self.stream = stream
        self.replicas = replicas
        """Of the stream and buckets `ensure` creates: `BOSUN_STREAM_REPLICAS` (`core.settings`), passed in by
        each component; 1 embedded, 3 on a 3-node cluster (as in compose.yaml)."""
        self.js: JetStreamContext = nc.jetstream(timeout=10)
        self.jsm = nc.jsm(timeout=10)
        self.replies = Replies(nc, timeout=ACK_TIMEOUT)
        self.archive = archive.Archive(self)
        """What has left the stream for the archive (`core.archive`): `read` reads both as one."""

    async def ensure(self, replicas: int | None = None) -> None:
        """Create the stream and buckets if absent; idempotent, safe to call from every component.

        Replicas default to the log's own (`self.replicas`).
        """
        replicas = replicas or self.replicas
        config = api.StreamConfig(
            name=self.stream, subjects=[subjects.EVENTS, subjects.COMMANDS, subjects.AUDIT],
            storage=api.StorageType.FILE,
            num_replicas=replicas, duplicate_window=DUPLICATE_WINDOW, allow_direct=True, max_msg_size=1 << 20,
            # No message is ever deleted, whoever asks. Purging is refused by the permission table instead
            # of the stream: only the archiver's user may purge, and only what is archived (docs/security.md);
            # a stream lock could never be lifted again, and retention would be impossible for good.
            deny_delete=True, deny_purge=False,
        )
        manage = manages(self.nc)
        try:
            current = (await self.jsm.stream_info(self.stream)).config
        except nats.js.errors.NotFoundError:
            if not manage:
                raise Unavailable(f"stream {self.stream} not created yet (the gateway creates it)") from None
            await self.jsm.add_stream(config)
        else:
            config.deny_purge = bool(current.deny_purge)  # a stream locked by an earlier build stays locked
            if manage and _differs(current, config):
                await self.jsm.update_stream(config)
        for bucket, ttl in ((SNAPSHOTS, None), (LEASES, 15.0), (CHECKPOINTS, None)):
            await self._ensure_bucket(api.KeyValueConfig(bucket=bucket, ttl=ttl, replicas=replicas, history=1,
                                                         storage=api.StorageType.FILE, direct=True))
        if manage:  # nobody waits for it: a controller of this release runs beside a gateway of the last one
            await self._ensure_bucket(api.KeyValueConfig(bucket=nodes.BUCKET, replicas=replicas, history=1,
                                                         storage=api.StorageType.FILE, direct=True))

    async def _ensure_bucket(self, config: api.KeyValueConfig) -> None:
        """Create a bucket; one made by an older version (no direct gets, other replicas) is updated in
        place: the lease board is read with a direct get (`kv_entries`).

        Read first, write only when needed: only the gateway may create or change the stream and buckets
        (`core.natsusers`); every other component finds them as they are (or waits for them)."""
        manage = manages(self.nc)
        try:
            current = (await self.jsm.stream_info(f"KV_{config.bucket}")).config
        except nats.js.errors.NotFoundError:
            if not manage:
                raise Unavailable(f"bucket {config.bucket} not created yet (the gateway creates it)") from None
            await self.js.create_key_value(config)
            return
        if manage and (not current.allow_direct or (current.num_replicas or 1) != config.replicas):
            current.allow_direct = True
            current.num_replicas = config.replicas
            await self.jsm.update_stream(current)

    async def kv(self, bucket: str) -> KeyValue:
        return await self.js.key_value(bucket)

    async def kv_put(self, bucket: str, key: str, value: bytes) -> None:
        """`KeyValue.put` through the shared reply inbox: many puts can be in flight at once."""
        ack = await self.replies.publish(f"$KV.{bucket}.{key}", value, {})
        if ack.error is not None:
            raise Unavailable(f"{bucket}/{key} not stored: {ack.error.description}")

    async def append(self, subject: str, event: Event, *, now: float | None = None,
                     expected_last_subject_seq: int | None = None, msg_id: str | None = None,
                     extra: dict[str, str] | None = None, expected_subject: str | None = None) -> Appended:
        """`expected_subject` (may be a wildcard) widens the expected-sequence check to every subject it
        matches: "append only if the last message on any of them is still `expected_last_subject_seq`"."""
        hdrs = event_headers(event, time.time() if now is None else now, **(extra or {}))
        if msg_id is not None:
            hdrs[H.MSG_ID] = msg_id
        if expected_last_subject_seq is not None:
            hdrs[H.EXPECTED_LAST_SUBJECT_SEQ] = str(expected_last_subject_seq)
            if expected_subject is not None:
                hdrs[H.EXPECTED_LAST_SUBJECT_SEQ_SUBJECT] = expected_subject
        try:
            return await self.publish(subject, encode(event), hdrs)
        except Conflict:
            # JetStream checks the expected sequence before dedup, so a retry of a write that already
            # landed looks like a conflict: it is ours when the subject's last message carries our id.
            if msg_id is not None:
                last = await self.last(subject, leader=True)  # a lagging replica would not know it yet
                if last is not None and last.headers.get(H.MSG_ID) == msg_id:
                    return Appended(last.seq, True)
            raise

    async def publish(self, subject: str, data: bytes, hdrs: dict[str, str]) -> Appended:
        """Append with a `log.append` span (child of the current span, else of `hdrs`' traceparent) whose
        traceparent replaces the one in `hdrs`: consumers of the message continue this trace."""
        with observed_append(subject, hdrs) as done:
            appended = await self._publish(subject, data, hdrs)
            done(appended.seq)
            return appended

    async def _publish(self, subject: str, data: bytes, hdrs: dict[str, str]) -> Appended:
        try:
            ack = await self.replies.publish(subject, data, hdrs)
        except nats.errors.ConnectionClosedError as e:
            raise Unavailable(str(e) or type(e).__name__) from e
        if ack.error is not None:
            if ack.error.err_code == WRONG_LAST_SEQUENCE:
                raise Conflict(ack.error.description or "wrong last sequence")
            raise nats.js.errors.APIError(code=ack.error.code, err_code=ack.error.err_code,
                                          description=ack.error.description)
        return Appended(ack.seq, ack.duplicate)

    async def last(self, subject: str, *, leader: bool = False) -> StoredMessage | None:
        """The last message on `subject`, or None; from any replica (a direct get), or from the stream
        leader when `leader` (slower, but never behind an acknowledged append). A direct get nobody answers in
        time (its replica just died, or cannot answer: a server hands it to its own replica first, so asking
        again asks the same one) is asked of the leader once before the read counts as unavailable."""
        try:
            return await self._get_last(subject, leader)
        except (nats.errors.TimeoutError, TimeoutError) as e:
            if leader:
                raise Unavailable(str(e) or "leader read timed out") from e
            try:
                return await self._get_last(subject, True)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError, TimeoutError) as e2:
                raise Unavailable(str(e2) or "read timed out") from e2
        except nats.errors.NoRespondersError as e:
            raise Unavailable(str(e) or type(e).__name__) from e

    async def _get_last(self, subject: str, leader: bool) -> StoredMessage | None:
        try:
            raw = await asyncio.wait_for(self.jsm.get_msg(self.stream, subject=subject, direct=not leader),
                                         bounded(10))
        except nats.js.errors.NotFoundError:
            return None
        except nats.js.errors.ServiceUnavailableError as e:  # the stream has no leader right now
            raise Unavailable(str(e) or type(e).__name__) from e
        return _from_raw(raw, subject)

    async def last_per_subject(self, filters: list[str], batch: int = 100_000) -> tuple[list[StoredMessage], int]:
        """The last message of every subject matching `filters` (wildcards allowed), as ONE consistent
        snapshot, and the stream sequence that snapshot is taken at (0 when nothing matched)."""
        found: list[StoredMessage] = []
        async with contextlib.aclosing(self._direct({"multi_last": filters, "batch": batch})) as replies:
            async for message, end in replies:
                if message is not None:
                    found.append(message)
                elif end.get("Status") == "204":
                    return found, int(end.get("Nats-UpTo-Sequence", "0") or 0)
        return found, 0

    async def last_seq(self) -> int:
        info = await self.jsm.stream_info(self.stream)
        return int(info.state.last_seq)

    async def read(self, filter_subject: str, start_seq: int = 1, up_to_seq: int | None = None,
                   batch: int = 1024) -> AsyncGenerator[StoredMessage, None]:
        """Messages on `filter_subject` from `start_seq` (through `up_to_seq`), in stream order: the archive
        and the stream as ONE sequence space (`core.archive`).

        What is at or below the archive's head comes from the archive; the rest from the stream, trusted
        for PURGE_GRACE seconds after the head was learnt (nothing above it leaves the stream before).
        A read still going past that asks for the head again; when the head moved past what was read, it
        goes on from the archive, so a message is never skipped nor yielded twice. With no archive (no
        retention, the default) the head is 0 and this is the stream read alone (`read_stream`).
        """
        seq = max(1, start_seq)
        head = await self.archive.head()
        while up_to_seq is None or seq <= up_to_seq:
            if seq <= head.seq:
                end = head.seq if up_to_seq is None else min(head.seq, up_to_seq)
                async with contextlib.aclosing(self.archive.read(filter_subject, seq, end)) as archived:
                    async for m in archived:
                        yield m
                seq = end + 1
                continue
            moved = False
            async with contextlib.aclosing(self.read_stream(filter_subject, seq, up_to_seq, batch)) as stream:
                async for m in stream:
                    head, moved = await self._recheck(head, seq)
                    if moved:
                        break
                    yield m
                    seq = m.seq + 1
            if not moved:
                head, moved = await self._recheck(head, seq)  # nor after the last one: the end is whole
            if not moved:
                return

    async def _recheck(self, head: archive.Head, seq: int) -> tuple[archive.Head, bool]:
        """`head`, asked again once too old to trust, and whether it moved to or past `seq` (what lay from
        `seq` on may then have left the stream since it was read: it is read from the archive)."""
        if time.monotonic() - head.at < archive.PURGE_GRACE * 0.8:
            return head, False
        head = await self.archive.head(max_age=0)
        return head, head.seq >= seq

    async def read_stream(self, filter_subject: str, start_seq: int = 1, up_to_seq: int | None = None,
                          batch: int = 1024) -> AsyncGenerator[StoredMessage, None]:
        """Messages on `filter_subject` from `start_seq` (through `up_to_seq`) as the stream holds them
        (the archiver's own read, of what is not archived yet; everyone else reads through `read`).

        Uses direct-get batches, so a long history streams without creating a consumer. Any replica of the
        stream (or a mirror of it) answers a direct get, and one that lags the leader ends its answer
        early: on an R3 stream about one scan in thirty came back a few messages short of a sequence
        already acknowledged — a projection rebuilt from such a scan missed them for good (the cluster
        chaos flake). So a read bounded by `up_to_seq` that ends short asks the stream leader what comes
        next on the filter (`_leader_next`), and goes on from there while that is within the bound.
        """
        seq = max(1, start_seq)
        while True:
            got = 0
            last = 0
            async with contextlib.aclosing(self._direct_batch(filter_subject, seq, batch)) as page:
                async for m in page:
                    if up_to_seq is not None and m.seq > up_to_seq:
                        return
                    got += 1
                    last = m.seq
                    yield m
            if up_to_seq is not None and last >= up_to_seq:
                return
            if got < batch:  # the end of the filter's messages, or of what the answering replica holds
                after = last + 1 if got else seq
                following = None if up_to_seq is None else await self._leader_next(filter_subject, after)
                if following is None or (up_to_seq is not None and following.seq > up_to_seq):
                    return
                yield following
                last = following.seq
            seq = last + 1

    async def _leader_next(self, filter_subject: str, seq: int) -> StoredMessage | None:
        """The first message on `filter_subject` at or after `seq`, read from the stream leader (never a
        replica that may lag); None when there is none."""
        try:
            raw = await asyncio.wait_for(self.jsm.get_msg(self.stream, seq=seq, subject=filter_subject, next=True),
                                         bounded(10))
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError, TimeoutError) as e:
            raise Unavailable(str(e) or type(e).__name__) from e
        return _from_raw(raw, filter_subject)

    async def _direct_batch(self, filter_subject: str, seq: int, batch: int) -> AsyncGenerator[StoredMessage, None]:
        req = {"seq": seq, "next_by_subj": filter_subject, "batch": batch}
        async with contextlib.aclosing(self._direct(req)) as replies:
            async for message, _ in replies:
                if message is not None:
                    yield message

    async def kv_entries(self, bucket: str, keys: str = ">") -> dict[str, bytes]:
        """The current value of every key of `bucket` matching `keys`, in one direct-get request (no
        consumer: the partition owners read the lease board every second); deleted keys are left out."""
        found: dict[str, bytes] = {}
        prefix = f"$KV.{bucket}."
        req = {"multi_last": [prefix + keys], "batch": 10_000}
        async with contextlib.aclosing(self._direct(req, f"KV_{bucket}")) as replies:
            async for message, _ in replies:
                if message is not None and message.headers.get("KV-Operation") not in ("DEL", "PURGE"):
                    found[message.subject.removeprefix(prefix)] = message.data
        return found

    async def direct(self, req: dict[str, Any], stream: str) -> AsyncGenerator[StoredMessage, None]:
        """The messages of one direct-get batch request to `stream` (another stream than the log's: a
        bucket's); a stream that does not exist reads as empty."""
        async with contextlib.aclosing(self._direct(req, stream, missing_ok=True)) as replies:
            async for message, _ in replies:
                if message is not None:
                    yield message

    async def _direct(self, req: dict[str, Any], stream: str | None = None,
                      missing_ok: bool = False) -> AsyncGenerator[tuple[StoredMessage | None, dict[str, str]], None]:
        """One direct-get batch request: yields (message, headers) per message, then (None, end headers).

        The end is a status message: 204 end of batch, 404 nothing (more) to read; others are failures
        (503, nobody answers: the stream does not exist — the end too when `missing_ok`).
        """
        async with self.replies.stream() as (inbox, queue):
            await self.nc.publish(f"$JS.API.DIRECT.GET.{stream or self.stream}", msgspec.json.encode(req),
                                  reply=inbox)
            while True:
                try:
                    msg = queue.get_nowait() if not queue.empty() else await asyncio.wait_for(queue.get(), bounded(10))
                except TimeoutError as e:
                    raise Unavailable("direct get timed out") from e
                hdrs = dict(msg.headers or {})
                status = hdrs.get("Status")
                if status in ("204", "404") or (missing_ok and status == "503"):
                    yield None, hdrs
                    return
                if status:
                    raise Unavailable(f"direct get failed: {status} {hdrs.get('Description', '')}")
                seq = int(hdrs.get("Nats-Sequence", "0"))
                yield _stored(hdrs.get("Nats-Subject", ""), seq, hdrs, msg.data), hdrs

def _differs(current: api.StreamConfig, wanted: api.StreamConfig) -> bool:
    """Does the stream need an update to be what `wanted` says (the fields Bosun sets)?"""
    return any(getattr(current, f) != getattr(wanted, f) for f in ("subjects", "num_replicas", "duplicate_window",
                                                                  "allow_direct", "max_msg_size", "deny_delete",
                                                                  "deny_purge"))
