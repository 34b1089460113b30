"""JetStream's own stream snapshot and restore (`$JS.API.STREAM.SNAPSHOT` / `RESTORE`), on a plain client.

Why the engine's snapshots rather than re-publishing messages: a snapshot is the stream's store as it is —
every message at its own sequence, the gaps left by purges, the consumers and their positions — taken by
the server at one instant, and restored as exactly that. Sequences are resourceVersions; a restore that
renumbered them would break every `If-Match` a client holds.

Snapshot: the server sends s2-compressed chunks of a tar to our inbox; a chunk with a reply subject wants
an (empty) acknowledgement (flow control); an empty message ends it. Restore: the server names a subject;
each chunk is a request to it, an empty request ends it and is answered with the restored stream's state.
"""
from __future__ import annotations

import asyncio
import json
from typing import IO, Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

CHUNK = 128 * 1024
CHUNK_TIMEOUT = 30.0


class StreamError(Exception):
    """JetStream refused a snapshot or restore, or it stopped half-way."""


async def snapshot(nc: NATS, stream: str, out: IO[bytes], consumers: bool = True) -> dict[str, Any]:
    """Write `stream`'s snapshot to `out`; returns `{config, state}` as the server reported them."""
    inbox = nc.new_inbox()
    chunks: asyncio.Queue[Msg] = asyncio.Queue()
    sub = await nc.subscribe(inbox, cb=chunks.put, pending_msgs_limit=-1, pending_bytes_limit=-1)
    try:
        request = {"deliver_subject": inbox, "no_consumers": not consumers, "chunk_size": CHUNK}
        answer = _answer(await nc.request(f"$JS.API.STREAM.SNAPSHOT.{stream}", json.dumps(request).encode(),
                                          timeout=10))
        while True:
            try:
                msg = await asyncio.wait_for(chunks.get(), CHUNK_TIMEOUT)
            except TimeoutError as e:
                raise StreamError(f"snapshot of {stream} stalled") from e
            status = (msg.headers or {}).get("Status")
            if status and status not in ("204",):
                raise StreamError(f"snapshot of {stream} failed: {status} {(msg.headers or {}).get('Description')}")
            if not msg.data:
                break
            out.write(msg.data)
            if msg.reply:
                await nc.publish(msg.reply, b"")
    finally:
        await sub.unsubscribe()
    return {"config": answer["config"], "state": answer["state"]}


async def restore(nc: NATS, meta: dict[str, Any], data: IO[bytes]) -> dict[str, Any]:
    """Restore a stream from its snapshot (`meta` as `snapshot` returned it, possibly with its config
    changed); returns the restored stream's state."""
    name = meta["config"]["name"]
    answer = _answer(await nc.request(f"$JS.API.STREAM.RESTORE.{name}", json.dumps(meta).encode(), timeout=10))
    deliver = answer["deliver_subject"]
    while chunk := data.read(CHUNK):
        ack = await nc.request(deliver, chunk, timeout=CHUNK_TIMEOUT)
        if ack.data:
            _answer(ack)
    done = _answer(await nc.request(deliver, b"", timeout=600))
    return dict(done.get("state") or {})


def _answer(msg: Msg) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads(msg.data)
    except ValueError as e:
        raise StreamError(f"unexpected answer: {msg.data[:200]!r}") from e
    if body.get("error"):
        raise StreamError(f"{body['error'].get('description')} ({body['error'].get('err_code')})")
    return body
