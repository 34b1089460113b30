"""Both front doors for one client: HTTP PUT/DELETE/GET and NATS intent requests, answers as status codes.

Why status codes and not exceptions: the ledger needs every request's fate; a connection refused is a
definite "not applied" (the request never left), any other transport failure an unknown outcome.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NATS

from core import natsusers

NOT_SENT = -1
"""Status for a request that provably never reached the gateway (connection refused)."""
NO_ANSWER = 0
"""Status for a request that may have reached it but got no answer."""
PLURAL = {"ModelDeployment": "modeldeployments", "GpuPool": "gpupools"}


@dataclass
class Answer:
    status: int
    body: Any = None
    version: int | None = None
    """The resourceVersion a 202 names."""


def _answer(status: int, raw: bytes) -> Answer:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    version = body.get("resourceVersion") if isinstance(body, dict) else None
    return Answer(status, body, int(version) if isinstance(version, (int, str)) and str(version).isdigit() else None)


class Door:
    def __init__(self, url: str, nats_url: str, token: str, timeout: float = 10.0,
                 inbox_prefix: str = natsusers.client_inbox(natsusers.ADMIN_PRINCIPAL)) -> None:
        self.url, self.nats_url, self.token, self.timeout = url, nats_url, token, timeout
        self.inbox_prefix = inbox_prefix
        """A NATS client is its principal (the admin token's, as `connection.json` says)."""
        self.http = httpx.AsyncClient(base_url=url, timeout=timeout, headers={"Authorization": f"Bearer {token}"},
                                      limits=httpx.Limits(max_connections=64))
        self.nc: NATS | None = None
        self.errors = 0

    async def open(self) -> Door:
        servers = [u.strip() for u in self.nats_url.split(",")]  # a cluster's seed list
        self.nc = await nats.connect(servers, name="bosun-chaos", max_reconnect_attempts=-1,
                                     reconnect_time_wait=0.2, allow_reconnect=True, error_cb=self._quiet,
                                     token=self.token, inbox_prefix=self.inbox_prefix)
        return self

    async def _quiet(self, e: Exception) -> None:
        """Disconnects are the point of the exercise: counted by the ledger, not printed."""
        self.errors += 1

    async def close(self) -> None:
        await self.http.aclose()
        if self.nc is not None:
            await self.nc.close()

    @staticmethod
    def path(manifest: dict[str, Any]) -> str:
        md = manifest["metadata"]
        return f"/v1/namespaces/{md['namespace']}/{PLURAL[manifest['kind']]}/{md['name']}"

    async def apply(self, manifest: dict[str, Any], via: str = "http", if_match: int | None = None) -> Answer:
        headers = {"If-Match": str(if_match)} if if_match is not None else {}
        if via == "nats":
            md = manifest["metadata"]
            return await self._intent(f"bosun.intent.{manifest['kind']}.{md['namespace']}.{md['name']}",
                                      json.dumps(manifest).encode(), headers)
        return await self._http("PUT", self.path(manifest), content=json.dumps(manifest).encode(),
                                headers={"Content-Type": "application/json", **headers})

    async def delete(self, manifest: dict[str, Any], via: str = "http") -> Answer:
        if via == "nats":
            md = manifest["metadata"]
            return await self._intent(f"bosun.intent.{manifest['kind']}.{md['namespace']}.{md['name']}",
                                      b"", {"Bosun-Action": "delete"})
        return await self._http("DELETE", self.path(manifest))

    async def get(self, path: str) -> Answer:
        return await self._http("GET", path)

    async def _http(self, method: str, path: str, **kw: Any) -> Answer:
        try:
            r = await self.http.request(method, path, **kw)
        except httpx.ConnectError:
            return Answer(NOT_SENT)
        except httpx.HTTPError:
            return Answer(NO_ANSWER)
        return _answer(r.status_code, r.content)

    async def _intent(self, subject: str, data: bytes, headers: dict[str, str]) -> Answer:
        assert self.nc is not None
        if not self.nc.is_connected:
            return Answer(NOT_SENT)
        try:
            msg = await self.nc.request(subject, data, timeout=self.timeout,
                                        headers={"Authorization": f"Bearer {self.token}", **headers})
        except Exception:  # noqa: BLE001 - timeout, no responders, reconnecting: the outcome is unknown
            return Answer(NO_ANSWER)
        return _answer(int((msg.headers or {}).get("Bosun-Status", "0")), msg.data)
