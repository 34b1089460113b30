"""`serve`: the gateway as a long-running component (HTTP via uvicorn + the NATS intent responder).

uvicorn runs programmatically so a supervisor can pre-bind the socket and pass `fd`; its own signal
handling is disabled — the caller owns signals and tells us to stop through `stop`.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import structlog
import uvicorn
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from core import log as corelog
from core import natsserver, ready
from core.settings import DEFAULTS, Settings
from gateway import limits
from gateway.admission.admit import Admission
from gateway.admission.auth import Authenticator, Authorizer
from gateway.admission.governance import governed_admission
from gateway.admission.policy import PolicyIndex
from gateway.http.app import create_app
from gateway.http.context import Changes, Gateway, ReadModel
from gateway.http.ui import traces
from gateway.intents.callout import Callout, grant_of
from gateway.intents.claims import Signer
from gateway.intents.nodes import NodeDoor
from gateway.intents.responder import Responder
from gateway.intents.revocation import Revoker

CHANGED_SUBJECT = "bosun.sys.projections.changed"
GRACE = 3.0
KEEP_ALIVE = 30.0
"""Seconds an idle keep-alive connection stays open: longer than clients keep theirs (httpx: 5 s), so the
client closes first. With equal timeouts a request sent on a connection the server is just closing fails
with a reset (uvicorn's default is 5 s)."""
_log = structlog.get_logger("bosun.gateway")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the supervisor owns signals
        yield


async def open_read_model(db_dir: Path, nc: NATS) -> ReadModel:
    from projections.readmodel import ReadModel as SqliteReadModel

    return await SqliteReadModel.open(db_dir, nc)


async def serve(nats_url: str, db_dir: Path, *, stop: asyncio.Event, token_file: Path,
                host: str = "127.0.0.1", port: int = 0, fd: int | None = None,
                authorizer: Authorizer | None = None, on_ready: Callable[[str], None] | None = None,
                policy: Path | None = None, intents_url: str | None = None,
                reply_prefix: str = natsserver.DEFAULT_INBOX, system_url: str | None = None,
                callout_seed: str | None = None, settings: Settings = DEFAULTS) -> None:
    """Serve until `stop` is set. `on_ready(url)` is called once the socket accepts connections.

    `intents_url` is the door user's connection (intents are answered with its rights, which reach only
    the client inbox space); without it intents are answered on the gateway's own connection, and only
    the reply-subject check guards them. `reply_prefix` is the inbox prefix replies may go to when
    clients are not principals. `callout_seed` (with `intents_url`) answers nats-server's auth callout:
    clients connect with their token and reply under `_INBOX.<principal>` (`intents/callout.py`);
    `system_url` (the system account's user) closes connections whose rights changed. `settings` (read at
    the command's entry) give the append deadline, the stream's replicas and the dashboard's trace link
    template (`BOSUN_TRACE_URL`)."""
    from actors.registry import load

    registry = load()
    traced = traces.template(settings.trace_url)
    nc = await ready.connect(nats_url, "bosun-gateway")  # waits for the cluster (core.ready)
    intents_nc = await ready.connect(intents_url, "bosun-gateway-door") if intents_url else None
    system_nc = await ready.connect(system_url, "bosun-gateway-revocation") if system_url else None
    try:
        log = corelog.Log(nc, replicas=settings.stream_replicas)
        await ready.ensure(log)
        reads = await open_read_model(db_dir, nc)
        try:
            door = Door(intents_nc or nc, reply_prefix, callout_seed if intents_nc else None, system_nc)
            if authorizer is not None:  # an explicit policy (tests): no RBAC index
                admission = Admission(log, Authenticator.from_file(token_file), authorizer,
                                      append_deadline=settings.append_deadline, registry=registry)
                gw = Gateway(nc, log, admission, reads, registry=registry, trace_url=traced)
                admission.recorder.window = settings.audit_window
                await _run(gw, stop, host, port, fd, on_ready, door, None)
            else:
                governed = await governed_admission(log, token_file.read_text().strip(), policy,
                                                    settings.append_deadline, registry)
                try:
                    gw = Gateway(nc, log, governed.admission, reads, registry=registry, trace_url=traced)
                    governed.admission.recorder.window = settings.audit_window
                    await _run(gw, stop, host, port, fd, on_ready, door, governed.index)
                finally:
                    await governed.close()
        finally:
            await reads.close()
    finally:
        for other in (intents_nc, system_nc):
            if other is not None:
                await other.close()
        await nc.close()


@dataclass(frozen=True)
class Door:
    """Where NATS intents and connects are answered from: the connection, the inbox prefix replies may go
    to (without the callout), the callout's signing key, and the system account's connection."""

    nc: NATS
    reply_prefix: str
    callout_seed: str | None = None
    system: NATS | None = None


@dataclass
class Doorway:
    """The running NATS door: intents, the auth callout and revocation, started and stopped together."""

    responder: Responder
    nodes: NodeDoor
    callout: Callout | None = None
    revoker: Revoker | None = None

    @classmethod
    async def open(cls, door: Door, gw: Gateway, index: PolicyIndex | None) -> Doorway:
        principals = door.callout_seed is not None
        way = cls(Responder(door.nc, gw.admission, reply_prefix=door.reply_prefix, principal_inboxes=principals),
                  NodeDoor(door.nc, gw.admission.log, principal_inboxes=principals))
        if door.callout_seed is not None:
            auth = gw.admission.authenticator
            way.callout = Callout(door.nc, Signer(door.callout_seed), auth, index, gw.admission.recorder)
            await way.callout.start()
            if door.system is not None:
                way.revoker = Revoker(door.system, index, grant_of(auth, index))
                way.revoker.start()
        await way.responder.start()
        await way.nodes.start()
        return way

    async def close(self) -> None:
        if self.revoker is not None:
            await self.revoker.stop()
        if self.callout is not None:
            await self.callout.stop()
        await self.responder.stop()
        await self.nodes.stop()


async def _run(gw: Gateway, stop: asyncio.Event, host: str, port: int, fd: int | None,
               on_ready: Callable[[str], None] | None, door: Door, index: PolicyIndex | None) -> None:
    notifications = await gw.nc.subscribe(CHANGED_SUBJECT, cb=_notifier(gw.changes))
    doorway = await Doorway.open(door, gw, index)
    config = uvicorn.Config(create_app(gw), host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=GRACE, access_log=False, http=http_implementation(),
                            timeout_keep_alive=KEEP_ALIVE)
    server = _Server(config)
    # A handed-over socket is wrapped here, not by uvicorn's `fd=`: uvicorn assumes AF_UNIX for it, so
    # asyncio would skip TCP_NODELAY and every response would wait ~40 ms on Nagle + delayed ACKs.
    sockets = [socket.socket(fileno=fd)] if fd is not None else None
    task = asyncio.create_task(server.serve(sockets=sockets))
    try:
        await _until_started(server, task)
        if on_ready is not None and server.started:
            on_ready(url_of(server))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
    finally:
        await gw.changes.close()
        server.should_exit = True
        await doorway.close()
        await notifications.unsubscribe()
        await task
        await gw.admission.drain(GRACE)  # audit records of the last requests, before the connection closes


async def _until_started(server: uvicorn.Server, task: asyncio.Task[Any]) -> None:
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # raises the startup failure (e.g. port in use)
        raise RuntimeError("the HTTP server stopped during startup")


def _notifier(changes: Changes) -> Callable[[Msg], Any]:
    async def on_changed(msg: Msg) -> None:
        try:
            seq = int(msgspec.json.decode(msg.data).get("seq", 0))
        except (msgspec.DecodeError, AttributeError, TypeError, ValueError):
            return
        await changes.notify(seq)

    return on_changed


def http_implementation() -> Any:
    """uvicorn's HTTP/1.1 protocol: httptools (a C parser) when installed, with a bound on the request head
    (gateway/limits.py), else h11 (pure Python, ~0.2 ms more CPU per request; it bounds heads itself)."""
    return limits.bounded_httptools() if importlib.util.find_spec("httptools") is not None else "h11"


def url_of(server: uvicorn.Server) -> str:
    """`http://host:port` of the first listening socket (the real port when 0 was asked for)."""
    sock = server.servers[0].sockets[0]
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"
