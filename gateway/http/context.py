"""What every HTTP handler may use, built once by `server.serve` (or a test) and put in app state.

The read model is typed by a Protocol of exactly the calls the gateway makes, so the gateway depends
on the shape of projections' API, not on its module layout.
"""
from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nats.aio.client import Client as NATS

from actors.controller import DEFAULT, Registry
from core.kinds import KindInfo
from core.log import Log
from core.names import Ref
from gateway.admission.admit import Admission
from gateway.admission.auth import Authorizer, Principal, Verb, authorize

Page = tuple[list[dict[str, Any]], str | None]


class ReadModel(Protocol):
    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def list(self, kind: str, namespace: str | None, label_selector: str | None = None,
                   phase: str | None = None, limit: int = 500, continue_token: str | None = None) -> Page: ...

    async def history(self, kind: str, namespace: str, name: str, limit: int = 100,
                      continue_token: str | None = None, since_seq: int | None = None,
                      types: list[str] | None = None, tail: bool = False) -> Page: ...

    async def checkpoint(self) -> int: ...

    async def audit(self, filters: dict[str, str | None], since: float | None = None, limit: int = 100,
                    continue_token: str | None = None) -> Page: ...

    async def wait_for(self, seq: int, timeout: float) -> bool: ...

    async def cost(self, namespace: str | None, now: float, kinds: Sequence[str] | None = None
                   ) -> builtins.list[dict[str, Any]]: ...

    async def replicas(self, kind: str, namespace: str, name: str) -> builtins.list[dict[str, Any]]: ...

    async def spend(self, namespace: str | None, since: float | None, now: float, points: int,
                    kinds: Sequence[str] | None = None) -> builtins.list[Any]: ...

    async def changed_since(self, seq: int, kind: str | None = None, namespace: str | None = None,
                            label_selector: str | None = None, phase: str | None = None,
                            limit: int = 500) -> list[Any]: ...

    async def close(self) -> None: ...


class Changes:
    """Wakes watchers when the projector announces a commit (`bosun.sys.projections.changed`)."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self.seq = 0
        self.closed = False

    async def notify(self, seq: int) -> None:
        async with self._cond:
            self.seq = max(self.seq, seq)
            self._cond.notify_all()

    async def close(self) -> None:
        """Wake every watcher for good: the server is stopping."""
        async with self._cond:
            self.closed = True
            self._cond.notify_all()

    async def wait(self, after: int, timeout: float) -> int:
        """The announced seq once it passes `after`, or the current one after `timeout` (fallback poll)."""
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: self.closed or self.seq > after), timeout)
            except TimeoutError:
                pass
            return self.seq


@dataclass
class Gateway:
    nc: NATS
    log: Log
    admission: Admission
    reads: ReadModel
    changes: Changes = field(default_factory=Changes)
    max_lag: int = 1000
    """Readiness: how far (in stream messages) the read model may trail the log."""
    registry: Registry = DEFAULT
    """The kinds this gateway serves (`actors.registry.load()`, built once by `server.serve`)."""
    trace_url: str = ""
    """Link template of a trace UI, `{traceId}` replaced (`BOSUN_TRACE_URL`); empty: trace ids are not links."""

    @property
    def authorizer(self) -> Authorizer:
        return self.admission.authorizer

    def principal(self, authorization: str | None) -> Principal:
        return self.admission.authenticator.authenticate(authorization)

    def allow(self, principal: Principal, verb: Verb, info: KindInfo | None, ref: Ref | None) -> None:
        """Authorize a read by an authenticated principal; raises 403 ApiError."""
        authorize(self.authorizer, principal, verb, info.name if info else "*", ref)
