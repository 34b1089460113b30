"""Shared fixtures: a real nats-server per test (fresh JetStream store, free port), real SQLite files."""
from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.controller import DEFAULT
from actors.registry import load
from core import kinds, natsserver
from core import log as corelog

REGISTRY = load()
"""The shipped kinds, built once for the session as every component builds them at start."""


@contextlib.contextmanager
def kinds_kept(*modules: str) -> Iterator[None]:
    """Whatever kinds are registered inside (by `register`, or by importing a test kind module among
    `modules`) are forgotten on the way out: the process's registry and `core.kinds` are restored, and the
    modules unloaded, so a test kind never leaks into another test, whatever the order."""
    saved = {name: _copied(value) for name, value in vars(DEFAULT).items()}
    tables = {name: dict(getattr(kinds, name)) for name in ("_KINDS", "_ALIASES")}  # core.kinds' decoding table
    try:
        for module in modules:
            if module in sys.modules:
                del sys.modules[module]
            __import__(module)
        yield
    finally:
        vars(DEFAULT).clear()
        vars(DEFAULT).update(saved)
        for name, table in tables.items():
            live = getattr(kinds, name)
            live.clear()
            live.update(table)
        for module in modules:
            sys.modules.pop(module, None)


def _copied(value: Any) -> Any:
    """A registry attribute, copied two dict levels deep (companions are a dict of dicts)."""
    if isinstance(value, dict):
        return {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
    return value


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[natsserver.Server]:
    """A real nats-server with JetStream, no authorization, on a free port (synchronous fixture)."""
    server = natsserver.start(tmp_path / "natsd")
    yield server
    server.stop()


@pytest.fixture
def nats_url(nats_server: natsserver.Server) -> str:
    return nats_server.url()


@pytest.fixture(scope="module")
def module_nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[natsserver.Server]:
    """One nats-server for a whole module whose tests need no isolation from each other (each still has
    its own connections, gateway and read model). A module opts in by overriding `nats_url`:

        @pytest.fixture(scope="module")
        def nats_url(module_nats_server: natsserver.Server) -> str:
            return module_nats_server.url()
    """
    server = natsserver.start(tmp_path_factory.mktemp("natsd"))
    yield server
    server.stop()


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
