"""Issue #24, "Nobody gets in, on NATS too": the attacker's probe replayed against a governed `bosun up`.

Every finding that worked before is a test here: tenants reading each other's events and replies over a
shared client user, one internal user forging specs and RoleBindings and purging audit, a flood of
subscriptions, refusals filling the disk. Clients connect with their Bosun token; components with
their own users (`core.natsusers`).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import nats
import nats.errors
import pytest

from core import log as corelog
from core import natscreds, natsserver, objects
from gateway.admission.audit import BURST
from tests.conftest import eventually
from tests.integration.nats_identity_support import (
    as_component,
    as_principal,
    connected,
    intent_headers,
    md,
    no_message,
    policy_file,
)
from tests.integration.test_up_support import EVERY_REFUSAL, Up, http_get, wait_for


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = Path(tmp_path_factory.mktemp("natsid"))
    running = Up(root / "data", "--policy", str(policy_file(root / "policy.yaml")), env=EVERY_REFUSAL).start()
    yield running
    running.stop()


def audit(up: Up, **filters: str) -> list[dict[str, object]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    code, body = http_get(f"{up.url}/v1/audit?limit=1000&{query}", up.token)
    assert code == 200, body
    return list(body["items"])


async def test_tenants_hear_only_their_namespaces_and_only_their_own_replies(up: Up) -> None:
    async with as_principal(up, "alice") as alice, as_principal(up, "dave") as dave:
        # the probe's subscriptions: everything, the other tenant, the other's replies, policy, the engine
        for forbidden in ("bosun.ev.>", "bosun.ev.modeldeployment.team-b.>", "bosun.ev.principal.>",
                          "bosun.ev.rolebinding.>", "_INBOX.>", "_INBOX.dave.>", "bosun.cmd.>", "bosun.audit.>",
                          "$JS.>", "$KV.>", "_INBOX_gateway.>"):
            await alice.nc.subscribe(forbidden)
            assert await alice.refused(forbidden), (forbidden, alice.errors)
        mine = await alice.nc.subscribe("bosun.ev.modeldeployment.team-a.>")
        await alice.nc.flush()

        # dave's spec with a secret: alice hears nothing of it
        reply = await dave.nc.request("bosun.intent.ModelDeployment.team-b.secret",
                                      msgspec.json.encode(md("secret", "team-b", env={"API_KEY": "hunter2"})),
                                      headers=intent_headers("dave", up), timeout=10)
        assert reply.headers is not None and reply.headers["Bosun-Status"] == "202", reply.data
        assert reply.subject.startswith("_INBOX.dave.")
        own = await alice.nc.request("bosun.intent.modeldeployment.team-a.own",
                                     msgspec.json.encode(md("own", "team-a")), headers=intent_headers("alice", up),
                                     timeout=10)
        assert own.headers is not None and own.headers["Bosun-Status"] == "202", own.data
        heard = await mine.next_msg(timeout=10)
        assert heard.subject.startswith("bosun.ev.modeldeployment.team-a.own."), heard.subject
        async for msg in _drain(mine):
            assert b"hunter2" not in msg.data and ".team-b." not in msg.subject

        # alice's intent into team-b never leaves her connection; nothing is written
        await alice.nc.publish("bosun.intent.modeldeployment.team-b.secret",
                               msgspec.json.encode(md("secret", "team-b", replicas=3)),
                               headers=intent_headers("alice", up))
        assert await alice.refused("bosun.intent.modeldeployment.team-b.secret")
        code, obj = http_get(f"{up.url}/v1/namespaces/team-b/modeldeployments/secret", up.token)
        assert code == 200 and obj["spec"]["replicas"] == 0 and obj["metadata"]["generation"] == 1

        # alice's token into team-b through a connection that may publish there: admission refuses, audited
        async with as_principal(up, "admin") as admin:
            await admin.nc.publish("bosun.intent.modeldeployment.team-b.secret",
                                   msgspec.json.encode(md("secret", "team-b", replicas=3)),
                                   headers=intent_headers("alice", up))
            await admin.nc.flush()
        await eventually(lambda: _audited(up, principal="alice", decision="denied"), timeout=10)
        assert http_get(f"{up.url}/v1/namespaces/team-b/modeldeployments/secret", up.token)[1]["spec"]["replicas"] == 0

        # no token in the request: no principal; its 401 comes back to the connection's own inbox
        forgot = await alice.nc.request("bosun.intent.modeldeployment.team-a.forgot", b"{}", timeout=10)
        assert forgot.headers is not None and forgot.headers["Bosun-Status"] == "401", forgot.data

        # the gateway is pointed at dave's inbox: it refuses, dave hears nothing, the refusal is audited
        dave_inbox = await dave.nc.subscribe("_INBOX.dave.>")
        await dave.nc.flush()
        await alice.nc.publish("bosun.intent.modeldeployment.team-a.steered", msgspec.json.encode(md("x", "team-a")),
                               reply="_INBOX.dave.stolen", headers=intent_headers("alice", up))
        await alice.nc.flush()
        assert await no_message(dave_inbox, 2)
        await eventually(lambda: _audited(up, principal="alice", decision="invalid", code="ReplySubject"), timeout=10)
        assert http_get(f"{up.url}/v1/namespaces/team-a/modeldeployments/steered", up.token)[0] == 404


async def _drain(sub: object) -> object:
    while True:
        try:
            yield await sub.next_msg(timeout=0.5)  # type: ignore[attr-defined]
        except (TimeoutError, nats.errors.TimeoutError):
            return


async def _audited(up: Up, **want: str) -> bool:
    code = want.pop("code", None)
    return any(code is None or r.get("code") == code for r in audit(up, **want))


async def test_a_wrong_or_missing_token_is_refused_at_connect_and_audited(up: Up) -> None:
    stale = json.loads((up.data / "connection.json").read_text())
    assert set(stale) == {"http", "nats", "natsInboxPrefix", "tokenFile", "nodeTimeout", "evictionTimeout"}
    assert "@" not in stale["nats"] and stale["natsInboxPrefix"] == "_INBOX.admin"  # no shared password
    before = len(audit(up, principal="anonymous"))
    for options in ({"token": "not-a-token"}, {}, {"user": "client", "password": "the-old-shared-one"},
                    {"user": "bosun", "password": "guess"}):
        with pytest.raises(nats.errors.Error) as refused:
            async with connected(up.conn["nats"], allow_reconnect=False, **options):
                pass
        assert "authorization violation" in str(refused.value).lower(), options
    await eventually(lambda: _more(up, before), timeout=10)
    record = audit(up, principal="anonymous")[0]
    assert record["verb"] == "connect" and record["decision"] == "unauthenticated" and record["source"] == "nats"


async def _more(up: Up, before: int) -> bool:
    return len(audit(up, principal="anonymous")) > before


async def test_revocation_closes_live_connections_within_10_seconds(up: Up) -> None:
    closed = asyncio.Event()

    async def on_disconnect() -> None:
        closed.set()

    async with as_principal(up, "erin", max_reconnect_attempts=-1, reconnect_time_wait=0.2,
                            disconnected_cb=on_disconnect) as erin:
        events = await erin.nc.subscribe("bosun.ev.modeldeployment.team-a.>")
        await erin.nc.flush()
        assert not erin.errors
        t0 = time.monotonic()
        req = f"{up.url}/v1/namespaces/_cluster/rolebindings/erin-deployer-a"
        assert _delete(req, up.token) == 202
        await asyncio.wait_for(closed.wait(), 10)
        took = time.monotonic() - t0
        print(f"revocation reached the live connection after {took:.2f}s")
        # reconnected with what erin may do now: nothing in team-a
        await eventually(lambda: _connected(erin.nc), timeout=10)
        await erin.nc.subscribe("bosun.ev.modeldeployment.team-a.>")
        assert await erin.refused("bosun.ev.modeldeployment.team-a.>")
        assert await no_message(events, 0.5)

        # the Principal itself deleted: the connection is closed and its reconnects are refused
        closed.clear()
        assert _delete(f"{up.url}/v1/namespaces/_cluster/principals/erin", up.token) == 202
        await asyncio.wait_for(closed.wait(), 10)
    with pytest.raises(nats.errors.Error):
        async with as_principal(up, "erin", allow_reconnect=False):
            pass


async def _connected(nc: nats.NATS) -> bool:
    return nc.is_connected


def _delete(url: str, token: str) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, method="DELETE", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


async def test_a_subscription_flood_hits_the_limit_and_leaves_the_server_healthy(up: Up) -> None:
    async with as_principal(up, "alice") as alice:
        assert natsserver.MAX_SUBSCRIPTIONS < 1100
        for i in range(1100):  # the probe took 100,000; the limit stops it at the first thousand
            await alice.nc.subscribe(f"_INBOX.alice.flood.{i}")
        with contextlib.suppress(nats.errors.Error):
            await alice.nc.flush()
        await eventually(lambda: _closed_for(alice.nc, "maximum subscriptions exceeded"), timeout=10)
    async with as_principal(up, "alice") as again:  # the server is fine, and so is the door
        reply = await again.nc.request("bosun.intent.modeldeployment.team-a.after-flood",
                                       msgspec.json.encode(md("after-flood", "team-a")),
                                       headers=intent_headers("alice", up), timeout=10)
        assert reply.headers is not None and reply.headers["Bosun-Status"] == "202"


async def _closed_for(nc: nats.NATS, text: str) -> bool:
    """The server closed the connection, saying why (nats-py keeps it as the last error)."""
    return not nc.is_connected and text in str(nc.last_error).lower()


@pytest.fixture
def flooded(tmp_path: Path) -> Iterator[Up]:
    """A plane of its own with the default aggregation window (the module's counts every refusal)."""
    running = Up(tmp_path / "data", "--policy", str(policy_file(tmp_path / "policy.yaml"))).start()
    yield running
    running.stop()


async def test_a_refusal_flood_adds_a_bounded_number_of_records(flooded: Up) -> None:
    import urllib.error
    import urllib.request

    up = flooded
    before = audit(up, principal="anonymous")

    def flood() -> None:
        for i in range(1500):
            req = urllib.request.Request(f"{up.url}/v1/namespaces/team-a/modeldeployments/f{i}", data=b"{}",
                                         method="PUT", headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=10).close()
            except urllib.error.HTTPError as e:
                assert e.code == 401

    await asyncio.to_thread(flood)
    for _ in range(50):  # refused NATS connects too
        with pytest.raises(nats.errors.Error):
            async with connected(up.conn["nats"], token="flood", allow_reconnect=False):
                pass
    # per source (HTTP; NATS from 127.0.0.1) the first BURST are recorded, the rest counted in one record a
    # minute: both bursts arrive, and then no more than the bound
    def recorded() -> int:
        n = len(audit(up, principal="anonymous")) - len(before)
        return n if n >= 2 * BURST else 0

    added = await eventually(lambda: asyncio.to_thread(recorded))
    assert added <= 4 * (BURST + 1), added


async def test_nats_sweep_a_principal_without_rights_is_refused_everywhere(up: Up) -> None:
    """Every subject a client may touch on Bosun's NATS, tried by carol (a principal with no role)."""
    from tests.conftest import REGISTRY

    subjects = [f"bosun.intent.{k}.{ns}.x" for info in REGISTRY.kinds()
                for k in (info.name, info.key, info.plural) for ns in ("team-a", "team-b", "_cluster", "default")]
    async with as_principal(up, "carol") as carol:
        for s in subjects:
            await carol.nc.publish(s, b"{}", headers=intent_headers("carol", up))
        for s in ("bosun.ev.x.y.z.spec", "bosun.cmd.sim.x.y.z", "bosun.audit.team-a", "$JS.API.STREAM.INFO.BOSUN",
                  "$KV.bosun-leases.x", "_INBOX.alice.x", "$SYS.REQ.USER.AUTH", "bosun.sys.projections.rebuild"):
            await carol.nc.publish(s, b"{}")
            subjects.append(s)
        subs = [f"bosun.ev.{info.key}.{ns}.>" for info in REGISTRY.kinds() for ns in ("team-a", "*")]
        for s in (*subs, "bosun.intent.>", "_INBOX.alice.>", "$SYS.>", "bosun.sys.>"):
            await carol.nc.subscribe(s)
            subjects.append(s)
        await carol.nc.flush()
        for s in subjects:
            assert await carol.refused(s, timeout=3), (s, len(carol.errors), carol.errors[:5])
        assert carol.nc.is_connected


# -- components -------------------------------------------------------------------------------------

JOBS = {  # job -> (how to try it, the subject a refusal names)
    "append a spec": ("pub", "bosun.ev.modeldeployment.team-b.secret.spec"),
    "append a RoleBinding": ("pub", "bosun.ev.rolebinding._cluster.mallory-admin.spec"),
    "append audit": ("pub", "bosun.audit._unknown"),
    "append ctl": ("pub", "bosun.ev.modeldeployment.team-b.secret.ctl.deployment"),
    "append a command": ("pub", "bosun.cmd.process.modeldeployment.team-b.secret"),
    "append obs": ("pub", "bosun.ev.modeldeployment.team-b.secret.obs"),
    "write a lease": ("pub", "$KV.bosun-leases.stolen"),
    "read a bucket": ("req", "$JS.API.DIRECT.GET.KV_bosun-leases"),
    "read every spec": ("req", "$JS.API.CONSUMER.CREATE.BOSUN.thief.bosun.ev.>"),
    "purge audit": ("req", "$JS.API.STREAM.PURGE.BOSUN"),
    "delete a message": ("req", "$JS.API.STREAM.MSG.DELETE.BOSUN"),
    "delete the stream": ("req", "$JS.API.STREAM.DELETE.BOSUN"),
    "write the archive": ("pub", "$O.bosun-archive.M.Zm9yZ2Vk"),
    "move the archive's head": ("pub", "$KV.bosun-archive.head"),
    "snapshot the stream": ("req", "$JS.API.STREAM.SNAPSHOT.BOSUN"),
    "answer intents": ("sub", "bosun.intent.>"),
    "answer connects": ("sub", "$SYS.REQ.USER.AUTH"),
    "read replies": ("sub", "_INBOX.>"),
    "read the gateway's replies": ("sub", "_INBOX_gateway.>"),
    "ask for a replica's log": ("pub", "bosun.sys.logs.process"),
    "answer log requests": ("sub", "bosun.sys.logs.process"),
}
ALLOWED = {
    "gateway": {"append a spec", "append a RoleBinding", "append audit", "read a bucket", "read every spec",
                "read the gateway's replies", "ask for a replica's log", "snapshot the stream",
                "append obs"},  # a node's replica reports, checked at its door (gateway/intents/nodes.py)
    "door": {"answer intents", "answer connects"},
    "controller": {"append ctl", "append a command", "write a lease", "read a bucket", "read every spec",
                   "append obs"},  # a lost node's replicas' ReplicaLost (NodeLost), by the node lifecycle controller
    "projector": set(),
    "driver": {"append obs", "answer log requests"},
    "archiver": {"purge audit", "write the archive", "move the archive's head", "read a bucket",
                 "read the archiver's replies"},
    "backup": {"snapshot the stream"},
    "bench": set(),
}
JOBS["read the archiver's replies"] = ("sub", "_INBOX_archiver.>")


@pytest.mark.parametrize("key", sorted(ALLOWED))
async def test_each_components_credentials_are_refused_at_every_other_job(up: Up, key: str) -> None:
    forged = {"Bosun-Principal": "team-b", "Bosun-Type": "spec.applied"}
    async with as_component(up, key) as c:
        refused = []
        for job, (how, subject) in JOBS.items():
            if job in ALLOWED[key]:
                continue
            if how == "pub":
                await c.nc.publish(subject, b"{}", headers=forged)
            elif how == "req":
                with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
                    await c.nc.request(subject, b"{}", timeout=1)
            else:
                await c.nc.subscribe(subject)
            await c.nc.flush()
            refused.append((job, await c.refused(subject, timeout=3)))
        assert all(ok for _, ok in refused), [job for job, ok in refused if not ok]
    # nothing landed: no forged spec, no stolen lease, the stream is whole and locked
    async with as_component(up, "gateway") as gw:
        jsm = gw.nc.jsm()
        info = await jsm.stream_info("BOSUN")
        assert info.config.deny_delete and not info.config.deny_purge  # purge: the archiver's alone
        assert (await jsm.stream_info("BOSUN")).state.first_seq == 1
        with pytest.raises(nats.js.errors.NotFoundError):
            await jsm.get_last_msg("BOSUN", "bosun.ev.rolebinding._cluster.mallory-admin.spec")


async def test_the_gateway_itself_cannot_erase_history(up: Up) -> None:
    async with as_component(up, "gateway") as gw:
        jsm = gw.nc.jsm()
        before = (await jsm.stream_info("BOSUN")).state
        for subject in ("$JS.API.STREAM.PURGE.BOSUN", "$JS.API.STREAM.DELETE.BOSUN", "$JS.API.STREAM.MSG.DELETE.BOSUN"):
            with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
                await gw.nc.request(subject, b'{"seq": 1}', timeout=1)
            assert await gw.refused(subject)
        # and a stream update cannot lift the lock on deletes either (the server refuses to change it)
        config = (await jsm.stream_info("BOSUN")).config
        config.deny_delete = False
        with pytest.raises(nats.js.errors.APIError):
            await jsm.update_stream(config)
        assert (await jsm.stream_info("BOSUN")).state.first_seq == before.first_seq


async def test_only_the_archiver_purges_and_nobody_erases_the_archive(up: Up) -> None:
    """Retention needs a purge (docs/lifecycle.md): only the archiver's user may; it still cannot delete a
    message or the stream, and the archive it writes is write-once for everyone, itself included."""
    async with as_component(up, "archiver") as arch:
        for subject in ("$JS.API.STREAM.DELETE.BOSUN", "$JS.API.STREAM.MSG.DELETE.BOSUN",
                        "$JS.API.STREAM.UPDATE.BOSUN", "$JS.API.STREAM.RESTORE.BOSUN", "bosun.ev.x.y.z.spec"):
            if subject.startswith("$JS"):
                with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
                    await arch.nc.request(subject, b'{"seq": 1}', timeout=1)
            else:
                await arch.nc.publish(subject, b"{}")
            assert await arch.refused(subject), subject
        jsm = arch.nc.jsm()
        await jsm.add_stream(objects.stream_config("bosun-archive", 1, write_once=True))
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):  # not its to purge ...
            await arch.nc.request("$JS.API.STREAM.PURGE.OBJ_bosun-archive", b"{}", timeout=1)
        locked = (await jsm.stream_info("OBJ_bosun-archive")).config  # ... and the engine refuses anyone
        assert locked.deny_purge and locked.deny_delete and not locked.allow_rollup_hdrs
        js = arch.nc.jetstream()
        await js.publish("$O.bosun-archive.M.b25jZQ", b"{}")
        with pytest.raises(nats.js.errors.APIError, match="maximum messages per subject"):
            await js.publish("$O.bosun-archive.M.b25jZQ", b"{}")  # an object cannot be replaced
        assert (await jsm.stream_info("BOSUN")).state.first_seq == 1
    async with as_component(up, "gateway") as gw:  # whoever manages streams cannot lift the archive's locks
        config = (await gw.nc.jsm().stream_info("OBJ_bosun-archive")).config
        config.deny_purge = False
        with pytest.raises(nats.js.errors.APIError):
            await gw.nc.jsm().update_stream(config)


def test_secrets_stay_out_of_environments_argv_and_connection_json(up: Up) -> None:
    from supervisor import procs

    creds = json.loads((up.data / "nats-credentials.json").read_text())
    secrets = [v["password"] for v in creds.values() if isinstance(v, dict) and "password" in v]
    secrets.append(creds["callout"]["seed"])
    conn_text = (up.data / "connection.json").read_text()
    assert not any(s in conn_text for s in secrets)
    for name, pid in up.pids().items():
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        argv = procs.cmdline(pid)
        assert not any(s in environ for s in secrets), f"a NATS secret is in the environment of {name}"
        assert not any(s in argv for s in secrets), f"a NATS secret is on the command line of {name}"
    wait_for(lambda: (up.data / "nats-credentials.json").stat().st_mode & 0o077 == 0, 1, "0600 credentials")


@pytest.mark.parametrize("key", ["controller", "driver"])
async def test_a_component_takes_the_buckets_as_the_gateway_made_them(up: Up, key: str) -> None:
    """A component whose replica count differs from the buckets' (the node lifecycle controller and the process
    driver asked for 1 on a 3-node cluster) used to ask to change them, was refused, and retried forever: on a
    cluster neither ever started. Only the gateway changes the stream and buckets; the others take them as
    they are."""
    creds = natscreds.Credentials.load(up.data / "nats-credentials.json")
    nc = await corelog.connect(natscreds.with_user(up.conn["nats"], creds.of(key)), f"test-{key}")
    try:
        await corelog.Log(nc, replicas=3).ensure()  # the embedded plane's buckets have 1
    finally:
        await nc.close()
