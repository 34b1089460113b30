"""A driver's answer to "the last lines of replica X" (`core.logtail`): request/reply on core NATS.

The driver names the file through `path_of` (its own layout); only that file is read, never followed through
a symlink (a replica that can write its log directory must not make the driver read another file), only
a regular file, only its last `MAX_BYTES`. Names in the request are validated (DNS-1123), so they can never
walk out of the driver's log directory. The gateway has checked RBAC before it asks.
"""
from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from core import logtail
from core.logtail import TailReply, TailRequest

PathOf = Callable[[TailRequest], Path | None]
"""The log file of the requested replica, or None when this driver has none for it."""
_request = msgspec.json.Decoder(TailRequest)
_json = msgspec.json.Encoder()
logger = structlog.get_logger()


async def serve(nc: NATS, driver: str, path_of: PathOf) -> Subscription:
    """Answer tail requests for `driver` until the subscription is drained (or the connection closes)."""

    async def on_request(msg: Any) -> None:
        try:
            request = _request.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            reply = TailReply(found=False, error=f"bad request: {e}")
        else:
            reply = await asyncio.to_thread(read, path_of(request), request.lines)
        try:
            await msg.respond(_json.encode(reply))
        except nats.errors.Error as e:
            logger.warning("log tail reply not sent", error=str(e) or type(e).__name__)

    return await nc.subscribe(logtail.subject(driver), cb=on_request)


def read(path: Path | None, lines: int) -> TailReply:
    """The last `lines` lines of `path` (blocking: run it off the event loop)."""
    if path is None:
        return TailReply(found=False)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return TailReply(found=False)
    except OSError as e:  # a symlink (ELOOP), or not readable
        return TailReply(found=False, error=f"log not readable: {e.strerror or e}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return TailReply(found=False, error="log is not a regular file")
        start = max(0, info.st_size - logtail.MAX_BYTES)
        data = os.pread(fd, info.st_size - start, start)
    finally:
        os.close(fd)
    kept, truncated = logtail.tail(data, lines, at_start=start == 0)
    return TailReply(found=True, lines=kept, truncated=truncated, size=info.st_size)
