"""Shared fixtures: a real nats-server per test (fresh JetStream store, free port), real SQLite files."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.registry import load
from core import log as corelog
from core import natsserver

REGISTRY = load()
"""The shipped kinds, built once for the session as every component builds them at start."""


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[natsserver.Server]:
    """A real nats-server with JetStream, no authorization, on a free port (synchronous fixture)."""
    server = natsserver.start(tmp_path / "natsd")
    yield server
    server.stop()


@pytest.fixture
def nats_url(nats_server: natsserver.Server) -> str:
    return nats_server.url()


@pytest.fixture
async def log(nats_url: str) -> AsyncIterator[corelog.Log]:
    """A connected Log with the BOSUN stream and buckets created."""
    nc = await corelog.connect(nats_url, "test")
    lg = corelog.Log(nc)
    await lg.ensure()
    yield lg
    await nc.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns a truthy value; fail with the last value after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)
