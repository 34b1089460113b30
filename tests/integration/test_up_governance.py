"""`bosun up --policy`: the policy is enforced end to end, and a client connected as its principal cannot
touch the log."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import nats
import nats.errors
import pytest

from tests.conftest import eventually
from tests.integration.test_governance_support import TOKENS, md, write_policy
from tests.integration.test_up import at_least, internal_and_client
from tests.integration.test_up_support import Up, http_get


@pytest.fixture
def governed_up(tmp_path: Path) -> Iterator[Up]:
    policy = write_policy(tmp_path / "policy.yaml")
    running = Up(tmp_path / "data", "--policy", str(policy)).start()
    yield running
    running.stop()


async def test_policy_is_enforced_and_clients_cannot_write_purge_or_command(governed_up: Up) -> None:
    up = governed_up
    assert http_get(up.url + "/v1/namespaces/team-a/modeldeployments", TOKENS["alice"])[0] == 200
    assert http_get(up.url + "/v1/namespaces/team-b/modeldeployments", TOKENS["alice"])[0] == 403
    assert http_get(up.url + "/v1/audit", up.token)[0] == 200

    async with internal_and_client(up) as (admin, _admin_client, _errors), \
            as_alice(up) as (client, errors):
        jsm = admin.jsm()
        # an intent through alice's own connection, with alice's token: admitted
        reply = await client.request("bosun.intent.modeldeployment.team-a.chat",
                                     msgspec.json.encode(md("chat")), timeout=10,
                                     headers={"Authorization": f"Bearer {TOKENS['alice']}"})
        assert reply.headers is not None and reply.headers["Bosun-Status"] == "202", reply.data
        # into team-b: nats-server itself refuses it (alice's connection may publish only where she may apply)
        with pytest.raises(nats.errors.TimeoutError):
            await client.request("bosun.intent.modeldeployment.team-b.chat", msgspec.json.encode(md("chat", "team-b")),
                                 timeout=2, headers={"Authorization": f"Bearer {TOKENS['alice']}"})
        await eventually(lambda: at_least(errors, 1), timeout=5)
        assert "bosun.intent.modeldeployment.team-b.chat" in str(errors[0]).lower()
        errors.clear()
        before = (await jsm.stream_info("BOSUN")).state

        await client.publish("bosun.cmd.sim.modeldeployment.team-a.chat", b"{}")
        await client.publish("bosun.ev.modeldeployment.team-a.chat.spec", b"{}")
        await client.publish("bosun.audit.team-a", b"{}")
        await client.flush()
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await client.request("$JS.API.STREAM.PURGE.BOSUN", b"{}", timeout=1)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await client.request("$JS.API.STREAM.DELETE.BOSUN", b"", timeout=1)
        await eventually(lambda: at_least(errors, 5), timeout=5)
        text = " ".join(str(e) for e in errors).lower()
        for subject in ("bosun.cmd.sim.modeldeployment.team-a.chat", "bosun.ev.modeldeployment.team-a.chat.spec",
                        "bosun.audit.team-a", "$js.api.stream.purge.bosun", "$js.api.stream.delete.bosun"):
            assert subject in text, subject
        assert client.is_connected

        after = (await jsm.stream_info("BOSUN")).state
        assert after.first_seq == before.first_seq and after.messages >= before.messages  # not purged
        spec = await jsm.get_last_msg("BOSUN", "bosun.ev.modeldeployment.team-a.chat.spec")
        assert spec.data != b"{}"  # the forged spec never landed


@contextlib.asynccontextmanager
async def as_alice(up: Up) -> AsyncIterator[tuple[nats.NATS, list[Exception]]]:
    """alice's own NATS connection: her token at connect, her inbox; her async errors."""
    errors: list[Exception] = []

    async def on_error(e: Exception) -> None:
        errors.append(e)

    nc = await nats.connect(up.conn["nats"], token=TOKENS["alice"], inbox_prefix="_INBOX.alice", error_cb=on_error,
                            max_reconnect_attempts=0)
    try:
        yield nc, errors
    finally:
        await nc.close()
