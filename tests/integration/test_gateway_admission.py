"""Admission over HTTP: the write path's contract (202 shapes, OCC, idempotence) against a real log."""
from __future__ import annotations

from core import headers as H
from core import subjects
from core.events import FinalizerRemoved, SpecApplied
from core.names import Ref
from tests.integration.test_gateway_support import AUTH, TOKEN, Env, deployment, env, path  # noqa: F401

MD = "modeldeployments"


async def test_put_without_token_is_401_and_writes_nothing(env: Env) -> None:
    before = await env.last_seq()
    r = await env.client.put(path("demo", MD, "chat"), json=deployment("chat"))
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "message", "details"}
    r = await env.client.put(path("demo", MD, "chat"), json=deployment("chat"),
                             headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"
    assert await env.last_seq() == before


async def test_reads_require_the_token(env: Env) -> None:
    for url in (path("demo", MD), path("demo", MD, "chat"), f"/v1/{MD}", path("demo", MD, "chat") + "/history"):
        r = await env.client.get(url)
        assert r.status_code == 401, url
    assert (await env.client.get("/healthz")).json() == {"status": "ok", "reasons": [], "lag": None}


async def test_put_creates_then_updates_then_unchanged(env: Env) -> None:
    r = await env.client.put(path("demo", MD, "chat"), json=deployment("chat"), headers=AUTH)
    assert r.status_code == 202
    body = r.json()
    assert body["generation"] == 1 and body["result"] == "created"
    last = await env.log.last(subjects.spec(Ref("modeldeployment", "demo", "chat")))
    assert last is not None and last.seq == body["resourceVersion"]
    assert last.headers[H.PRINCIPAL] == "admin" and last.headers[H.TRACEPARENT].startswith("00-")
    assert all(TOKEN not in value for value in last.headers.values())

    seq = await env.last_seq()
    again = await env.client.put(path("demo", MD, "chat"), json=deployment("chat"), headers=AUTH)
    assert again.status_code == 202 and again.json() == {**body, "result": "unchanged"}
    assert await env.last_seq() == seq

    r = await env.client.put(path("demo", MD, "chat"), json=deployment("chat", replicas=3), headers=AUTH)
    assert r.status_code == 202 and r.json()["generation"] == 2 and r.json()["result"] == "configured"
    assert r.json()["resourceVersion"] > body["resourceVersion"]


async def test_stored_spec_is_normalized(env: Env) -> None:
    manifest = deployment("chat", gpusPerReplica=1, autoscaling={"min": 1, "max": 4})
    r = await env.client.put(path("demo", MD, "chat"), json=manifest, headers=AUTH)
    assert r.status_code == 202
    last = await env.log.last(subjects.spec(Ref("modeldeployment", "demo", "chat")))
    import msgspec

    event = msgspec.json.decode(last.data, type=SpecApplied)  # type: ignore[union-attr]
    assert event.spec == {"model": "llama-3-8b", "replicas": 2, "placement": {"region": "us-west-2", "gpu": "a100"},
                          "autoscaling": {"min": 1, "max": 4, "targetLoadPerReplica": 50.0}}
    assert event.created is True


async def test_if_match_current_then_stale(env: Env) -> None:
    rv = (await env.client.put(path("demo", MD, "web"), json=deployment("web"), headers=AUTH)).json()["resourceVersion"]
    ok = await env.client.put(path("demo", MD, "web"), json=deployment("web", replicas=3),
                              headers={**AUTH, "If-Match": str(rv)})
    assert ok.status_code == 202
    seq = await env.last_seq()
    stale = await env.client.put(path("demo", MD, "web"), json=deployment("web", replicas=4),
                                 headers={**AUTH, "If-Match": str(rv)})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "Conflict"
    assert await env.last_seq() == seq
    bad = await env.client.put(path("demo", MD, "web"), json=deployment("web", replicas=4),
                               headers={**AUTH, "If-Match": "abc"})
    assert bad.status_code == 400


async def test_kind_names_are_case_insensitive_singular_plural_short(env: Env) -> None:
    for i, kind in enumerate(("ModelDeployment", "modeldeployment", "MODELDEPLOYMENTS", "md")):
        r = await env.client.put(path("demo", kind, f"k{i}"), json=deployment(f"k{i}"), headers=AUTH)
        assert r.status_code == 202, (kind, r.json())
    r = await env.client.put(path("infra", "gpupools", "pool-a"),
                             json={"kind": "gpupool", "metadata": {"name": "pool-a"},
                                   "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 8,
                                            "namespaces": ["*"]}}, headers=AUTH)
    assert r.status_code == 202


async def test_delete_flow(env: Env) -> None:
    url = path("demo", MD, "gone")
    assert (await env.client.delete(url, headers=AUTH)).status_code == 404
    created = (await env.client.put(url, json=deployment("gone"), headers=AUTH)).json()
    r = await env.client.delete(url, headers=AUTH)
    assert r.status_code == 202 and r.json()["generation"] == created["generation"]
    assert r.json()["result"] == "deleted" and r.json()["resourceVersion"] > created["resourceVersion"]
    seq = await env.last_seq()
    again = await env.client.delete(url, headers=AUTH)
    assert again.status_code == 202 and again.json()["resourceVersion"] == r.json()["resourceVersion"]
    assert await env.last_seq() == seq
    busy = await env.client.put(url, json=deployment("gone", replicas=5), headers=AUTH)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "BeingDeleted"

    ref = Ref("modeldeployment", "demo", "gone")
    await env.log.append(subjects.ctl(ref, "deployments"),
                         FinalizerRemoved(finalizer="deployments.bosun.dev/replicas", generation=1))
    assert (await env.client.delete(url, headers=AUTH)).status_code == 404
    back = await env.client.put(url, json=deployment("gone"), headers=AUTH)
    assert back.status_code == 202 and back.json()["generation"] == 2 and back.json()["result"] == "created"
    last = await env.log.last(subjects.spec(ref))
    import msgspec

    assert msgspec.json.decode(last.data, type=SpecApplied).created  # type: ignore[union-attr]


async def test_delete_with_stale_if_match_is_409(env: Env) -> None:
    url = path("demo", MD, "x")
    rv = (await env.client.put(url, json=deployment("x"), headers=AUTH)).json()["resourceVersion"]
    await env.client.put(url, json=deployment("x", replicas=4), headers=AUTH)
    r = await env.client.delete(url, headers={**AUTH, "If-Match": str(rv)})
    assert r.status_code == 409
