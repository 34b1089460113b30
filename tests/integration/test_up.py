"""`bosun up` as a user runs it: one real process tree (nats-server + four components), real ports, real files."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from core import natscreds
from supervisor import procs
from tests.conftest import eventually
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

COMPONENTS = ("controller", "projector", "driver-sim", "gateway")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One tree for the module: its tests read it, or kill a component the supervisor brings back."""
    running = Up(tmp_path_factory.mktemp("up") / "data").start()
    yield running
    running.stop()


@pytest.fixture
def own_up(tmp_path: Path) -> Iterator[Up]:
    """A tree of the test's own (it stops it)."""
    running = Up(tmp_path / "data").start()
    yield running
    running.stop()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def internal_url(up: Up, key: str = "gateway") -> str:
    """The plane's NATS as one of its components (`<data>/nats-credentials.json`)."""
    creds = natscreds.Credentials.load(up.data / "nats-credentials.json")
    return natscreds.with_user(up.conn["nats"], creds.of(key))


def test_up_becomes_healthy_with_private_connection_files(up: Up) -> None:
    assert set(up.conn) == {"http", "nats", "natsInboxPrefix", "tokenFile", "nodeTimeout", "evictionTimeout"}
    assert up.conn["natsInboxPrefix"] == "_INBOX.admin"  # the admin token's principal's inbox
    assert mode(up.data / "connection.json") == 0o600
    token_file = Path(up.conn["tokenFile"])
    assert token_file.is_absolute() and token_file == (up.data / "admin.token").resolve()
    assert mode(token_file) == 0o600
    assert len(up.token) >= 32
    assert up.conn["nats"].startswith("nats://127.0.0.1:")  # no shared password: clients bring their token
    assert up.url.startswith("http://127.0.0.1:")
    print(f"bosun up healthy after {up.healthy_after:.2f}s")


def test_secrets_stay_out_of_output_and_argv(up: Up) -> None:
    creds = json.loads((up.data / "nats-credentials.json").read_text())
    secrets = (up.token, *(v["password"] for v in creds.values() if "password" in v), creds["callout"]["seed"])
    out = up.output()
    assert str(up.data / "admin.token") in out, "the token's path is printed"
    assert not any(s in out for s in secrets)
    for name, pid in up.pids().items():
        argv = procs.cmdline(pid)
        assert argv, f"{name} ({pid}) is not running"
        assert not any(s in argv for s in secrets), f"a secret is on the command line of {name}"


def test_requests_without_token_are_refused(up: Up) -> None:
    code, body = http_get(up.url + "/v1/namespaces/demo/modeldeployments")
    assert code == 401
    assert {"code", "message"} <= set(body["error"])
    assert http_get(up.url + "/v1/namespaces/demo/modeldeployments", up.token)[0] == 200


@contextlib.asynccontextmanager
async def internal_and_client(up: Up) -> AsyncIterator[tuple[NATS, NATS, list[Exception]]]:
    """The gateway's user (it reads the log) and a client connected with the admin token as
    `connection.json` says, with the client's async errors (permission violations arrive there, not as
    exceptions of the publish)."""
    errors: list[Exception] = []

    async def on_error(e: Exception) -> None:
        errors.append(e)

    admin = await nats.connect(internal_url(up), inbox_prefix="_INBOX_gateway")
    client = await nats.connect(up.conn["nats"], error_cb=on_error, max_reconnect_attempts=0,
                                inbox_prefix=up.conn["natsInboxPrefix"], token=up.token)
    try:
        yield admin, client, errors
    finally:
        await client.close()
        await admin.close()


async def test_client_nats_user_may_send_intents_but_not_write_the_log(up: Up) -> None:
    async with internal_and_client(up) as (admin, client, errors):
        jsm = admin.jsm()
        seen: asyncio.Queue[str] = asyncio.Queue()

        async def saw(msg: Msg) -> None:
            seen.put_nowait(msg.subject)

        door = await nats.connect(internal_url(up, "door"), inbox_prefix="_INBOX_gateway-door")
        sub = await door.subscribe("bosun.intent.x.y.z", cb=saw)
        await door.flush()

        async def intent_arrives() -> bool:  # a plane just healthy may still be settling: publish until seen
            await client.publish("bosun.intent.x.y.z", b"{}")
            await client.flush()
            try:
                return await asyncio.wait_for(seen.get(), 1) == "bosun.intent.x.y.z"
            except TimeoutError:
                return False

        try:
            await eventually(intent_arrives, timeout=30)
        except AssertionError as e:
            raise AssertionError(f"the intent never arrived; client errors: {errors}") from e

        await client.publish("bosun.ev.foo.bar.baz.spec", b"{}")
        await client.flush()
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await client.request("$JS.API.STREAM.INFO.BOSUN", b"", timeout=1)
        await eventually(lambda: at_least(errors, 2), timeout=5)
        text = " ".join(str(e) for e in errors).lower()
        assert "permissions violation" in text
        assert "bosun.ev.foo.bar.baz.spec" in text and "$js.api.stream.info.bosun" in text
        assert client.is_connected, "a refused publish must not cost the client its connection"

        with pytest.raises(nats.js.errors.NotFoundError):  # the intent leaves only its audit record
            await jsm.get_last_msg("BOSUN", "bosun.ev.foo.bar.baz.spec")
        await sub.unsubscribe()
        await door.close()


def restarted(up: Up, name: str, old: int) -> int:
    """The new pid of `name` once it runs again under a different pid, else 0."""
    pid = up.pids().get(name, old)
    return pid if pid != old and procs.alive(pid) else 0


def test_killed_component_is_restarted(up: Up) -> None:
    for name in ("controller", "gateway"):
        old = up.pids()[name]
        os.kill(old, signal.SIGKILL)
        new = wait_for(functools.partial(restarted, up, name, old), 30, f"{name} to be restarted")
        assert str(up.data) in procs.argv(new)
    wait_for(lambda: http_get(up.url + "/healthz")[0] == 200, 30, "the gateway on the same URL again")


def test_sigterm_stops_everything_and_exits_zero(own_up: Up) -> None:
    up = own_up
    assert up.proc is not None
    pids = up.pids()
    assert set(COMPONENTS) | {"nats", "up"} <= set(pids)
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(timeout=30) == 0
    assert not [n for n, p in pids.items() if procs.alive(p)]
    assert not (up.data / "connection.json").exists()
    assert not up.pids()


def test_second_up_on_the_same_data_dir_is_refused(up: Up) -> None:
    second = subprocess.run([BOSUN, "up", "--data", str(up.data), "--http-port", "0", "--nats-port", "0"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode != 0
    assert "already running" in second.stderr
    assert http_get(up.url + "/healthz")[0] == 200
    assert (up.data / "connection.json").exists()


async def at_least(items: list[object], n: int) -> bool:
    """An `eventually` check: `items` has grown to `n`."""
    return len(items) >= n
