"""Bosun's Python client: the HTTP API as typed calls (docs/client.md). The `bosun` CLI is built on it.

    from bosun import Client

    with Client(server="http://127.0.0.1:8080", token=token) as bosun:
        bosun.apply(manifest)                                  # 202: durably in the log
        bosun.wait("ModelDeployment", "chat", namespace="team-a", timeout=60)
        print(bosun.get("md", "chat", namespace="team-a")["status"]["phase"])

Objects are the API's own JSON (`{kind, metadata, spec, status}`) as dicts; kinds may be written as
their name, plural or short name (`ModelDeployment`, `modeldeployments`, `md`). Every refusal raises a
`BosunError` (`NotFound`, `Conflict`, ...) carrying the API's code, message and details. `AsyncClient`
is the same API for asyncio.
"""
from __future__ import annotations

import asyncio
import builtins
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from bosun import calls
from bosun.calls import DEFAULT_NAMESPACE, Applied, Call, Manifest
from bosun.errors import (
    BosunError,
    Detail,
    NotFound,
    Unreachable,
    WaitFailed,
    WaitTimeout,
    from_event,
    from_response,
)
from bosun.readiness import Target, Verdict, Want, summary
from bosun.watching import SSE, Waiter, WatchEvent

Progress = Callable[[list[tuple[Target, Verdict]]], None]
"""Called with every target's verdict whenever one changes (what `bosun apply --wait` draws)."""
RECONNECT = 0.5


class _Base:
    """What both clients share: connection settings and the kind table."""

    def __init__(self, server: str, token: str | None, timeout: float) -> None:
        if not server:
            raise Unreachable(0, "NoServer", "no gateway URL given")
        self.server = server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self._kinds: list[dict[str, Any]] | None = None

    def _kind_key(self, kind: str) -> tuple[str, bool]:
        """(singular, namespaced) of a kind as written, from the server's `/v1/kinds`."""
        entry = find_kind(self._kinds or [], kind)
        return entry["singular"], bool(entry["namespaced"])


def find_kind(kinds: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    wanted = kind.lower()
    for entry in kinds:
        if wanted in {entry["name"].lower(), entry["singular"], entry["plural"], *entry["shortNames"]}:
            return entry
    raise NotFound(404, "UnknownKind", f"unknown kind {kind!r}", [Detail("$.kind", "unknown kind")])


def local(data: str | Path = ".bosun") -> tuple[str, str | None]:
    """(server, token) of the plane `bosun up --data DATA` runs, from its `connection.json`."""
    conn = Path(data) / "connection.json"
    try:
        info = json.loads(conn.read_text())
    except (OSError, ValueError) as e:
        raise Unreachable(0, "NoServer", f"no running plane at {data}: {conn} is missing or unreadable") from e
    token_file = info.get("tokenFile")
    token = Path(token_file).read_text().strip() if token_file and Path(token_file).exists() else None
    return str(info.get("http", "")), token


class NatsConnection(NamedTuple):
    """How a script reaches a plane's NATS as its principal: the bare URL, its token (sent at connect: the auth
    callout grants the principal's rights) and its inbox prefix `_INBOX.<principal>`, the only replies it may
    read. `nats.connect(**conn.options())`."""

    url: str
    token: str | None
    inbox_prefix: str

    def options(self) -> dict[str, Any]:
        return {"servers": self.url.split(","), "token": self.token, "inbox_prefix": self.inbox_prefix}


def local_nats(data: str | Path = ".bosun", token: str | None = None, principal: str | None = None) -> NatsConnection:
    """The NATS of the plane `bosun up --data DATA` runs, from its `connection.json`: `token` (default: the
    connection's token file) and the inbox of `principal` (name the principal of a token of your own; default:
    the connection's `natsInboxPrefix`, its token file's principal)."""
    conn = Path(data) / "connection.json"
    try:
        info = json.loads(conn.read_text())
    except (OSError, ValueError) as e:
        raise Unreachable(0, "NoServer", f"no running plane at {data}: {conn} is missing or unreadable") from e
    inbox = f"_INBOX.{principal}" if principal else str(info.get("natsInboxPrefix") or "_INBOX")
    return NatsConnection(str(info["nats"]), token or local(data)[1], inbox)


def _timed_out(waiter: Waiter, timeout: float | None) -> WaitTimeout:
    lines = summary(waiter.results())
    return WaitTimeout(0, "Timeout", f"not done after {timeout:g}s: " + "; ".join(lines),
                       [Detail(str(t), f"{v.reason}: {v.message}") for t, v in waiter.results() if not v.done])


def _failed(waiter: Waiter) -> WaitFailed:
    failed = [(t, v) for t, v in waiter.results() if v.state == "failed"]
    return WaitFailed(0, "Failed", "; ".join(summary(failed)),
                      [Detail(str(t), f"{v.reason}: {v.message}") for t, v in failed])


class Client(_Base):
    """Synchronous client; use it as a context manager, or call `close()`."""

    def __init__(self, server: str, token: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(server, token, timeout)
        self.http = httpx.Client(base_url=self.server, headers=self.headers, timeout=timeout, transport=transport)

    @classmethod
    def local(cls, data: str | Path = ".bosun") -> Client:
        """The client of the plane `bosun up` runs with this data directory."""
        return cls(*local(data))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any route: the decoded JSON answer (None for an empty one); errors raise as everywhere."""
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise Unreachable(0, "Unreachable", f"{self.server}: {e}") from e
        if r.status_code >= 400:
            raise from_response(r.status_code, r.content)
        return r.json() if r.content else None

    def _run(self, c: Call) -> Any:
        extra = {} if c.timeout is None else {"timeout": c.timeout}
        return self.call(c.method, c.path, params=c.params, json=c.json, headers=c.headers, **extra)

    def kinds(self) -> list[dict[str, Any]]:
        """Every kind the server serves: name, singular, plural, shortNames, namespaced, schema (`/v1/kinds`)."""
        if self._kinds is None:
            self._kinds = list(self.call("GET", "/v1/kinds")["items"])
        return self._kinds

    def _kind_key(self, kind: str) -> tuple[str, bool]:
        self.kinds()
        return super()._kind_key(kind)

    def apply(self, manifest: Manifest | str | bytes, *, namespace: str | None = None,
              if_match: int | str | None = None, force: bool = False) -> Applied:
        """Apply one manifest (a dict, or YAML/JSON text). Its `metadata.resourceVersion`, or `if_match`, is
        sent as If-Match (a stale one raises `Conflict`) unless `force`."""
        call, where = calls.apply(manifest, namespace, if_match, force)
        return Applied.of(where, self._run(call))

    def get(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE, at: int | None = None,
            at_time: str | None = None, min_version: int | None = None) -> dict[str, Any]:
        """One object; `at`: as of that stream sequence; `min_version`: once the read model has reached it."""
        result: dict[str, Any] = self._run(calls.get(kind, name, namespace, at, at_time, min_version))
        return result

    def list(self, kind: str, *, namespace: str | None = None, selector: str | None = None,
             phase: str | None = None, limit: int | None = None, at: int | None = None,
             at_time: str | None = None) -> Iterator[dict[str, Any]]:
        """Every matching object (every namespace when `namespace` is None), page after page (one page of
        `limit` when given)."""
        token = None
        while True:
            body = self._run(calls.page(kind, namespace, selector, phase, limit, at, at_time, token))
            yield from body["items"]
            token = body.get("continue")
            if not token or limit:
                return

    def delete(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE,
               if_match: int | str | None = None) -> Applied:
        """Ask for deletion: `deleted` (gone once its finalizers ran) or `deleting` (asked before)."""
        return Applied.of((kind, namespace, name), self._run(calls.delete(kind, name, namespace, if_match)))

    def retry(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE) -> Applied:
        """Lift a quarantine or terminal failure: the resource decides again (its spec unchanged)."""
        return Applied.of((kind, namespace, name), self._run(calls.retry(kind, name, namespace)))

    def bundle(self, refs: Sequence[str] = (), *, everything: bool = False, up_to: int | None = None) -> bytes:
        """An incident bundle (`kind/namespace/name` refs' messages, or the whole stream) as bytes."""
        c = calls.bundle(list(refs), everything, up_to)
        try:
            r = self.http.get(c.path, params=c.params, timeout=c.timeout)
        except httpx.HTTPError as e:
            raise Unreachable(0, "Unreachable", f"{self.server}: {e}") from e
        if r.status_code >= 400:
            raise from_response(r.status_code, r.content)
        return r.content

    def replicas(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE) -> builtins.list[dict[str, Any]]:
        """The resource's replicas, live ones first then the latest ended: `{replica, state, pool, driver, node,
        pid, port, devices, requestedAt, startedAt, readyAt, endedAt, lastError, ...}` (`GET …/replicas`)."""
        items: builtins.list[dict[str, Any]] = self._run(calls.replicas(kind, name, namespace))["items"]
        return items

    def history(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE, since: int | None = None,
                types: builtins.list[str] | None = None, limit: int | None = None) -> dict[str, Any]:
        """The resource's timeline `{items, continue}`: the newest `limit` events, or those after `since`."""
        result: dict[str, Any] = self._run(calls.history(kind, name, namespace, since, types, limit))
        return result

    def watch(self, kind: str | None = None, *, namespace: str | None = None, selector: str | None = None,
              phase: str | None = None, refs: Sequence[str] = (), since: int | None = None,
              timeout: float | None = None, bookmarks: bool = False) -> Iterator[WatchEvent]:
        """Every change as it happens (the matching objects first, as ADDED, unless `since`), until `timeout`
        seconds have passed (None: forever). `refs`: only these `kind/namespace/name` objects."""
        c = calls.watch(kind, namespace, selector, phase, list(refs), since, timeout, bookmarks)
        read = None if timeout is None else timeout + self.timeout
        try:
            with self.http.stream("GET", c.path, params=c.params, timeout=httpx.Timeout(self.timeout, read=read)) as r:
                if r.status_code >= 400:
                    raise from_response(r.status_code, r.read())
                sse = SSE()
                for line in r.iter_lines():
                    event = sse.feed(line)
                    if event is None:
                        continue
                    if event.type == "ERROR":
                        raise from_event(event.object)
                    yield event
        except httpx.HTTPError as e:
            raise Unreachable(0, "Unreachable", f"{self.server}: {e}") from e

    def wait(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE, timeout: float | None = None,
             until: Want = "Ready", generation: int = 0) -> None:
        """Block until the resource is Ready at its latest generation (`until="delete"`: gone); raises
        `WaitTimeout` or `WaitFailed` saying what is not ready and why."""
        self.wait_all([Target(kind, name, namespace, generation, until)], timeout=timeout)

    def wait_all(self, targets: Sequence[Target], *, timeout: float | None = None,
                 progress: Progress | None = None) -> builtins.list[tuple[Target, Verdict]]:
        """`wait` for several resources at once (one watch); `progress` sees every change of verdict."""
        self.kinds()
        waiter = Waiter(targets, self._kind_key)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not waiter.finished:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise _timed_out(waiter, timeout)
            waiter.begin()
            try:
                for event in self.watch(refs=waiter.refs, bookmarks=True, timeout=left):
                    if waiter.feed(event) and progress is not None:
                        progress(waiter.results())
                    if waiter.finished:
                        break
            except Unreachable:
                time.sleep(RECONNECT)  # the gateway restarts: watch again until the deadline
        if waiter.failed:
            raise _failed(waiter)
        return waiter.results()


class AsyncClient(_Base):
    """The same API for asyncio: `await` the calls, `async for` over `list` and `watch`."""

    def __init__(self, server: str, token: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(server, token, timeout)
        self.http = httpx.AsyncClient(base_url=self.server, headers=self.headers, timeout=timeout,
                                      transport=transport)

    @classmethod
    def local(cls, data: str | Path = ".bosun") -> AsyncClient:
        return cls(*local(data))

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise Unreachable(0, "Unreachable", f"{self.server}: {e}") from e
        if r.status_code >= 400:
            raise from_response(r.status_code, r.content)
        return r.json() if r.content else None

    async def _run(self, c: Call) -> Any:
        extra = {} if c.timeout is None else {"timeout": c.timeout}
        return await self.call(c.method, c.path, params=c.params, json=c.json, headers=c.headers, **extra)

    async def kinds(self) -> list[dict[str, Any]]:
        if self._kinds is None:
            self._kinds = list((await self.call("GET", "/v1/kinds"))["items"])
        return self._kinds

    async def apply(self, manifest: Manifest | str | bytes, *, namespace: str | None = None,
                    if_match: int | str | None = None, force: bool = False) -> Applied:
        call, where = calls.apply(manifest, namespace, if_match, force)
        return Applied.of(where, await self._run(call))

    async def get(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE, at: int | None = None,
                  at_time: str | None = None, min_version: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(calls.get(kind, name, namespace, at, at_time, min_version))
        return result

    async def list(self, kind: str, *, namespace: str | None = None, selector: str | None = None,
                   phase: str | None = None, limit: int | None = None, at: int | None = None,
                   at_time: str | None = None) -> AsyncIterator[dict[str, Any]]:
        token = None
        while True:
            body = await self._run(calls.page(kind, namespace, selector, phase, limit, at, at_time, token))
            for item in body["items"]:
                yield item
            token = body.get("continue")
            if not token or limit:
                return

    async def delete(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE,
                     if_match: int | str | None = None) -> Applied:
        return Applied.of((kind, namespace, name), await self._run(calls.delete(kind, name, namespace, if_match)))

    async def retry(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE) -> Applied:
        return Applied.of((kind, namespace, name), await self._run(calls.retry(kind, name, namespace)))

    async def replicas(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE
                       ) -> builtins.list[dict[str, Any]]:
        items: builtins.list[dict[str, Any]] = (await self._run(calls.replicas(kind, name, namespace)))["items"]
        return items

    async def history(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE,
                      since: int | None = None, types: builtins.list[str] | None = None,
                      limit: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(calls.history(kind, name, namespace, since, types, limit))
        return result

    async def watch(self, kind: str | None = None, *, namespace: str | None = None, selector: str | None = None,
                    phase: str | None = None, refs: Sequence[str] = (), since: int | None = None,
                    timeout: float | None = None, bookmarks: bool = False) -> AsyncIterator[WatchEvent]:
        c = calls.watch(kind, namespace, selector, phase, list(refs), since, timeout, bookmarks)
        read = None if timeout is None else timeout + self.timeout
        try:
            async with self.http.stream("GET", c.path, params=c.params,
                                        timeout=httpx.Timeout(self.timeout, read=read)) as r:
                if r.status_code >= 400:
                    raise from_response(r.status_code, await r.aread())
                sse = SSE()
                async for line in r.aiter_lines():
                    event = sse.feed(line)
                    if event is None:
                        continue
                    if event.type == "ERROR":
                        raise from_event(event.object)
                    yield event
        except httpx.HTTPError as e:
            raise Unreachable(0, "Unreachable", f"{self.server}: {e}") from e

    async def wait(self, kind: str, name: str, *, namespace: str = DEFAULT_NAMESPACE,
                   timeout: float | None = None, until: Want = "Ready", generation: int = 0) -> None:
        await self.wait_all([Target(kind, name, namespace, generation, until)], timeout=timeout)

    async def wait_all(self, targets: Sequence[Target], *, timeout: float | None = None,
                       progress: Progress | None = None) -> builtins.list[tuple[Target, Verdict]]:
        await self.kinds()
        waiter = Waiter(targets, self._kind_key)
        try:
            async with asyncio.timeout(timeout):
                while not waiter.finished:
                    waiter.begin()
                    try:
                        async for event in self.watch(refs=waiter.refs, bookmarks=True):
                            if waiter.feed(event) and progress is not None:
                                progress(waiter.results())
                            if waiter.finished:
                                break
                    except Unreachable:
                        await asyncio.sleep(RECONNECT)
        except TimeoutError:
            raise _timed_out(waiter, timeout) from None
        if waiter.failed:
            raise _failed(waiter)
        return waiter.results()


__all__ = ["Applied", "AsyncClient", "BosunError", "Client", "Target", "Verdict", "WatchEvent"]
