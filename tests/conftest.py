"""Shared fixtures: a real nats-server per test (fresh JetStream store, free port), real SQLite files."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors import registry as kind_sources
from actors.controller import DEFAULT
from actors.registry import build, kinds_of, load
from core import log as corelog
from core import natsserver

REGISTRY = load()
"""The shipped kinds, built once for the session as every component builds them at start."""


@contextlib.contextmanager
def kinds_kept(*modules: str) -> Iterator[None]:
    """Whatever kinds are added to the process's registry inside (`Kind.add_to(DEFAULT)`, or the kinds of
    the test kind modules among `modules`) are forgotten on the way out: the registry and what
    `actors.registry.load` remembers having loaded are restored, so a test kind never leaks into another
    test, whatever the order."""
    saved = {name: _copied(value) for name, value in vars(DEFAULT).items()}
    loaded, asked = set(kind_sources._loaded), set(kind_sources._asked)
    try:
        build([k for module in modules for k in kinds_of(module)], DEFAULT)
        yield
    finally:
        vars(DEFAULT).clear()
        vars(DEFAULT).update(saved)
        kind_sources._loaded.clear()
        kind_sources._loaded.update(loaded)
        kind_sources._asked.clear()
        kind_sources._asked.update(asked)


def _copied(value: Any) -> Any:
    """A registry attribute, copied two levels deep (companions are a dict of dicts; viewers a set)."""
    if isinstance(value, dict):
        return {k: _copied(v) if isinstance(v, (dict, set)) else v for k, v in value.items()}
    if isinstance(value, set):
        return set(value)
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
