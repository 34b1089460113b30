"""Helpers for the gateway tests: an in-process app over a real NATS + real SQLite (no tests here).

It lives beside the tests so every `test_gateway*` file builds its gateway the same way.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import log as corelog
from gateway.admission.admit import Admission
from gateway.admission.auth import Authenticator
from gateway.http.app import create_app
from gateway.http.context import Gateway

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Env:
    gw: Gateway
    client: httpx.AsyncClient
    log: corelog.Log
    db_dir: Path

    async def last_seq(self) -> int:
        """Last sequence of resource events and commands: audit records (`bosun.audit.>`) don't count."""
        found, _ = await self.log.last_per_subject(["bosun.ev.>", "bosun.cmd.>"])
        return max((m.seq for m in found), default=0)


@contextlib.asynccontextmanager
async def log_and_reads(nats_url: str, tmp_path: Path, *, projector: bool
                        ) -> AsyncIterator[tuple[Any, corelog.Log, Any, Path]]:
    """A NATS connection, the Log, a read model on `<tmp_path>/db` and (with `projector`) a real projector
    task feeding it: what every in-process gateway environment stands on."""
    from projections import projector as proj
    from projections.readmodel import ReadModel

    db_dir = tmp_path / "db"
    db_dir.mkdir(exist_ok=True)
    nc = await corelog.connect(nats_url, "gateway-test")
    log = corelog.Log(nc)
    await log.ensure()
    stop = asyncio.Event()
    task = asyncio.create_task(proj.serve(nats_url, db_dir, stop=stop)) if projector else None
    reads = await ReadModel.open(db_dir, nc)
    try:
        yield nc, log, reads, db_dir
    finally:
        stop.set()
        if task is not None:
            await task
        await reads.close()
        await nc.close()


def asgi_client(gw: Gateway) -> httpx.AsyncClient:
    """An httpx client on the app in THIS event loop (Litestar's AsyncTestClient runs the app in a portal
    thread, where our NATS client can't be used)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(gw)), base_url="http://gateway.test")


@contextlib.asynccontextmanager
async def gateway_env(nats_url: str, tmp_path: Path, *, projector: bool = False) -> AsyncIterator[Env]:
    """A Gateway (admin token only) with a client on its app; `projector` feeds the read model."""
    async with log_and_reads(nats_url, tmp_path, projector=projector) as (nc, log, reads, db_dir):
        gw = Gateway(nc, log, Admission(log, Authenticator(TOKEN)), reads)
        try:
            async with asgi_client(gw) as client:
                yield Env(gw, client, log, db_dir)
        finally:
            await gw.admission.drain()


@pytest.fixture
async def env(nats_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with gateway_env(nats_url, tmp_path) as e:
        yield e


@pytest.fixture
async def live(nats_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with gateway_env(nats_url, tmp_path, projector=True) as e:
        yield e


def deployment(name: str, ns: str = "demo", replicas: int = 2, labels: dict[str, str] | None = None,
               **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "llama-3-8b", "replicas": replicas,
                            "placement": {"region": "us-west-2", "gpu": "a100"}, **spec}
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"kind": "ModelDeployment", "metadata": meta, "spec": body}


def path(ns: str, kind: str, name: str = "") -> str:
    return f"/v1/namespaces/{ns}/{kind}" + (f"/{name}" if name else "")
