"""The NATS door of a live `bosun up`, probed as an attacker with a client connected as `connection.json`
says (the admin token; issue #24: no shared client user any more).

Issue #13, findings 1 and 2: a reply subject of the requester's choosing must never make the gateway
publish anywhere but the requester's own inbox, and a client must read only its own inbox.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.msg import Msg

from tests.conftest import eventually
from tests.integration.test_up import at_least, internal_and_client
from tests.integration.test_up_support import Up, http_get

TARGETS = {  # reply subjects an attacker would like the gateway's answer published to
    "spec": "bosun.ev.modeldeployment.team-a.chat.spec",
    "quota": "bosun.ev.quota.team-a.x.spec",
    "lease": "$KV.bosun-leases.stolen",
    "rebuild": "bosun.sys.projections.rebuild",
    "command": "bosun.cmd.sim.modeldeployment.team-a.chat",
    "internal inbox": "_INBOX_bosun.guess.1",
}
STORED = ("spec", "quota", "command")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = Up(Path(tmp_path_factory.mktemp("natssec")) / "data").start()
    yield running
    running.stop()


def md(name: str, ns: str = "team-a") -> dict[str, object]:
    return {
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"model": "m", "replicas": 0, "placement": {"region": "us-west-2", "gpu": "a100"}},
    }


def refused_replies(up: Up) -> int:
    code, body = http_get(up.url + "/v1/audit?decision=invalid&limit=1000", up.token)
    assert code == 200, body
    return sum(int(r.get("count", 1)) for r in body["items"] if r.get("code") == "ReplySubject")


async def test_reply_subject_outside_the_client_inbox_is_refused_unanswered_and_audited(up: Up) -> None:
    async with internal_and_client(up) as (admin, client, errors):
        auth = {"Authorization": f"Bearer {up.token}"}
        for target in TARGETS.values():  # with a good token: the answer would be a 202 or a 4xx
            await client.publish("bosun.intent.modeldeployment.team-a.chat", b"{}", reply=target, headers=auth)
        await client.flush()
        # refusals are aggregated (one record per source, reason and minute, issue #24): at least the first
        await eventually(lambda: _at_least_refused(up, 1), timeout=20)
        jsm = admin.jsm()
        for key in STORED:
            with pytest.raises(nats.js.errors.NotFoundError):
                await jsm.get_last_msg("BOSUN", TARGETS[key])
        with pytest.raises(nats.js.errors.NotFoundError):
            await jsm.get_last_msg("KV_bosun-leases", TARGETS["lease"])
        assert not errors, errors
        # the resource the 401 would have poisoned still takes writes
        reply = await client.request(
            "bosun.intent.modeldeployment.team-a.chat",
            msgspec.json.encode(md("chat")),
            timeout=10,
            headers={"Authorization": f"Bearer {up.token}"},
        )
        assert reply.headers is not None and reply.headers["Bosun-Status"] == "202", reply.data
        assert reply.subject.startswith(up.conn["natsInboxPrefix"] + ".")


async def _at_least_refused(up: Up, n: int) -> bool:
    return refused_replies(up) >= n


async def test_client_user_reads_only_its_own_inbox_and_never_principals(up: Up) -> None:
    async with internal_and_client(up) as (_admin, client, errors):
        for forbidden in ("_INBOX_bosun.>", "bosun.audit.>", "$JS.>", "bosun.cmd.>"):
            await client.subscribe(forbidden)
        await client.publish("$JS.ACK.BOSUN.x.1.1.1.1.0", b"+ACK")
        await client.publish("_INBOX.someone-else", b"{}")
        await client.flush()
        await eventually(lambda: at_least(errors, 6), timeout=10)
        text = " ".join(str(e) for e in errors).lower()
        for subject in (
            "bosun.cmd.>",
            "_inbox_bosun.>",
            "bosun.audit.>",
            "$js.>",
            "$js.ack.bosun",
            "_inbox.someone-else",
        ):
            assert subject in text, (subject, text)

        seen: list[str] = []
        got_md: asyncio.Event = asyncio.Event()

        async def on_event(msg: Msg) -> None:
            seen.append(msg.subject)
            if msg.subject.startswith("bosun.ev.modeldeployment.team-a.after-principal"):
                got_md.set()

        await client.subscribe("bosun.ev.>", cb=on_event)
        await client.flush()
        principal = {"kind": "Principal", "metadata": {"name": "mallory"}, "spec": {"tokenSha256": "0" * 64}}
        for path, doc in (
            ("/v1/namespaces/_cluster/principals/mallory", principal),
            ("/v1/namespaces/team-a/modeldeployments/after-principal", md("after-principal")),
        ):
            r = await asyncio.to_thread(_put, up, path, doc)
            assert r == 202
        await asyncio.wait_for(got_md.wait(), 20)
        assert not [s for s in seen if s.startswith("bosun.ev.principal.")], seen


def _put(up: Up, path: str, doc: dict[str, object]) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        up.url + path,
        data=json.dumps(doc).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {up.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
