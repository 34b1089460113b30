"""Revocation that bites on live NATS connections: a policy change closes the connections it changes.

A client connection's permissions are fixed when it connects (the auth callout signs them). Each is named
`<principal>#<tag>` (`permissions.Grant`), the tag standing for its permissions and token. After every
change to Principals, Roles or RoleBindings (and every `PERIOD` as a backstop), the gateway lists the
client connections of every server (`$SYS.REQ.SERVER.PING.CONNZ`, as the system account's `system` user)
and closes (`$SYS.REQ.SERVER.<id>.KICK`) each whose tag is no longer what its principal would be granted
now, or whose principal is gone. The client reconnects — through the callout, with what it may do now —
or is refused. Level-based, like a reconciler: a restarted gateway, or several, converge the same way.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from gateway.admission.policy import PolicyIndex
from gateway.intents.permissions import SEP, Grant

PERIOD = 30.0
SETTLE = 0.2
"""Seconds after a change before sweeping (a policy file applies several resources at once)."""
AGAIN = 2.0
"""A second sweep this long after: a connect answered with the old policy just before the change."""
GATHER = 0.5
"""Seconds to wait for more servers' answers after the last one came in."""
PAGE = 1024
_log = structlog.get_logger("bosun.revocation")


class Conn(msgspec.Struct, frozen=True):
    cid: int
    authorized_user: str = ""


class _Connz(msgspec.Struct, frozen=True):
    connections: list[Conn] = []
    total: int = 0
    offset: int = 0


class _ServerInfo(msgspec.Struct, frozen=True):
    id: str


class _Answer(msgspec.Struct, frozen=True):
    server: _ServerInfo
    data: _Connz = _Connz()


_answer = msgspec.json.Decoder(_Answer)


def stale(conns: list[tuple[str, Conn]], grant_of: Callable[[str], Grant | None]) -> list[tuple[str, Conn]]:
    """The client connections whose grant is no longer current (pure)."""
    out = []
    for server, c in conns:
        principal, sep, tag = c.authorized_user.rpartition(SEP)
        if not sep:
            continue  # a component's static user
        now = grant_of(principal)
        if now is None or now.tag != tag:
            out.append((server, c))
    return out


class Revoker:
    def __init__(self, nc: NATS, index: PolicyIndex | None, grant_of: Callable[[str], Grant | None]) -> None:
        self.nc = nc
        self.index = index
        self.grant_of = grant_of
        self.kicked = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="nats-revocation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        """Sweep at start and after every change, each time twice (`AGAIN`: a connect answered with the old
        policy just before the change is listed only later); a change folded while sweeping is waited for
        from the sequence seen before the sweep, so it is never skipped."""
        seen: int | None = None
        while True:
            if self.index is None:
                await self._sweep_logged()
                await asyncio.sleep(PERIOD)
                continue
            changed = seen is None or await self.index.wait_for(seen + 1, timeout=PERIOD)
            if changed:
                await asyncio.sleep(SETTLE)
            seen = self.index.seq
            await self._sweep_logged()
            if changed:
                await asyncio.sleep(AGAIN)
                await self._sweep_logged()

    async def _sweep_logged(self) -> None:
        try:
            await self.sweep()
        except Exception as e:  # noqa: BLE001 - the next change or period sweeps again
            _log.warning("revocation sweep failed", error=str(e) or type(e).__name__)

    async def sweep(self) -> int:
        """Close every client connection whose grant changed; how many were closed."""
        kicked = 0
        for server, conn in stale(await self.connections(), self.grant_of):
            try:
                await self.nc.request(f"$SYS.REQ.SERVER.{server}.KICK", msgspec.json.encode({"cid": conn.cid}),
                                      timeout=2)
                kicked += 1
                _log.info("nats connection closed: its rights changed", user=conn.authorized_user, cid=conn.cid,
                          server=server)
            except Exception as e:  # noqa: BLE001 - gone already, or its server is down
                _log.warning("kick failed", cid=conn.cid, server=server, error=str(e) or type(e).__name__)
        self.kicked += kicked
        return kicked

    async def connections(self) -> list[tuple[str, Conn]]:
        """(server id, connection) of every open connection of every server, with its user name."""
        found: list[tuple[str, Conn]] = []
        for answer in await self._gather("$SYS.REQ.SERVER.PING.CONNZ", {"auth": True, "limit": PAGE}):
            found += [(answer.server.id, c) for c in answer.data.connections]
            offset = len(answer.data.connections)
            while offset < answer.data.total:
                more = _answer.decode((await self.nc.request(
                    f"$SYS.REQ.SERVER.{answer.server.id}.CONNZ",
                    msgspec.json.encode({"auth": True, "limit": PAGE, "offset": offset}), timeout=2)).data)
                if not more.data.connections:
                    break
                found += [(answer.server.id, c) for c in more.data.connections]
                offset += len(more.data.connections)
        return found

    async def _gather(self, subject: str, body: dict[str, object], timeout: float = 3.0) -> list[_Answer]:
        """Every server's answer to a PING request (one each; we stop GATHER s after the last)."""
        inbox = self.nc.new_inbox()
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_reply(msg: Msg) -> None:
            queue.put_nowait(msg.data)

        sub = await self.nc.subscribe(inbox, cb=on_reply)
        answers: list[_Answer] = []
        try:
            await self.nc.publish(subject, msgspec.json.encode(body), reply=inbox)
            wait = timeout
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    return answers
                with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                    answers.append(_answer.decode(data))
                wait = GATHER
        finally:
            await sub.unsubscribe()
