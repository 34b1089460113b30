"""The write fast path (gateway/http/asgi.py) answers exactly as the Litestar handlers it stands in front of.

A trailing slash sends the same request to Litestar's route, so every case is asked both ways.
"""
from __future__ import annotations

from typing import Any

import msgspec
import pytest

from core import subjects
from core.audit import AuditRecord
from core.names import Ref
from tests.integration.test_gateway_support import AUTH, Env, deployment, env, path  # noqa: F401

MD = "modeldeployments"
JSON = {**AUTH, "Content-Type": "application/json"}


def both(url: str) -> tuple[str, str]:
    """(fast path, Litestar) forms of one resource URL."""
    return url, url + "/"


def same(fast: Any, slow: Any) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert fast.content == slow.content


@pytest.mark.parametrize(("body", "headers"), [
    (b"{}", {}),  # no credentials: 401, body never read
    (b"{}", {"Authorization": "Bearer wrong"}),
    (b'{"kind": ', JSON),
    (b"{}", {**AUTH, "Content-Type": "text/plain"}),
    (msgspec.json.encode(deployment("chat", replicas=-1)), JSON),
    (msgspec.json.encode(deployment("other")), JSON),
    (msgspec.json.encode(deployment("chat")), {**JSON, "If-Match": "abc"}),
    (b'{"kind": "ModelDeployment", "pad": "' + b"x" * (1 << 20) + b'"}', JSON),
], ids=["anonymous", "bad-token", "malformed", "media-type", "invalid", "mismatch", "bad-if-match", "too-large"])
async def test_refusals_are_identical(env: Env, body: bytes, headers: dict[str, str]) -> None:
    before = await env.last_seq()
    fast, slow = [await env.client.put(u, content=body, headers=headers) for u in both(path("demo", MD, "chat"))]
    same(fast, slow)
    assert fast.status_code >= 400 and set(fast.json()["error"]) == {"code", "message", "details"}
    assert await env.last_seq() == before


async def test_unknown_kind_and_delete_of_nothing_are_identical(env: Env) -> None:
    fast, slow = [await env.client.put(u, json={"kind": "Widget"}, headers=AUTH)
                  for u in both(path("demo", "widgets", "w"))]
    same(fast, slow)
    fast, slow = [await env.client.delete(u, headers=AUTH) for u in both(path("demo", MD, "nothing"))]
    same(fast, slow)
    assert fast.status_code == 404


async def test_apply_and_delete_answer_alike(env: Env) -> None:
    for name, url in zip(("fast", "slow"), both(path("demo", MD, "{}")), strict=True):
        created = await env.client.put(url.format(name), json=deployment(name), headers=AUTH)
        assert created.status_code == 202 and created.json()["result"] == "created"
        assert created.headers["content-type"] == "application/json"
        again = await env.client.put(url.format(name), json=deployment(name), headers=AUTH)
        assert again.json() == {**created.json(), "result": "unchanged"}
        deleted = await env.client.delete(url.format(name), headers=AUTH)
        assert deleted.status_code == 202 and deleted.json()["result"] == "deleted"


async def test_yaml_and_if_match_through_the_fast_path(env: Env) -> None:
    doc = b"kind: ModelDeployment\nmetadata: {name: y}\nspec:\n  model: m\n  replicas: 1\n" \
          b"  placement: {region: us-west-2, gpu: a100}\n"
    r = await env.client.put(path("demo", MD, "y"), content=doc, headers={**AUTH, "Content-Type": "application/yaml"})
    assert r.status_code == 202, r.text
    rv = r.json()["resourceVersion"]
    stale = await env.client.put(path("demo", MD, "y"), json=deployment("y", replicas=3),
                                 headers={**AUTH, "If-Match": str(rv - 1)})
    assert stale.status_code == 409
    ok = await env.client.put(path("demo", MD, "y"), json=deployment("y", replicas=3),
                              headers={**AUTH, "If-Match": f'"{rv}"'})
    assert ok.status_code == 202 and ok.json()["generation"] == 2


async def test_a_bug_is_a_500_in_the_error_shape(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(_intent: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(env.gw.admission, "handle", broken)
    fast, slow = [await env.client.put(u, json=deployment("chat"), headers=AUTH)
                  for u in both(path("demo", MD, "chat"))]
    same(fast, slow)
    assert fast.status_code == 500 and fast.json()["error"]["code"] == "Internal"


async def test_writes_are_timed_under_the_route_template(env: Env) -> None:
    await env.client.put(path("demo", MD, "timed"), json=deployment("timed"), headers=AUTH)
    await env.client.put(path("demo", MD, "timed") + "/", json=deployment("timed"), headers=AUTH)
    metrics = (await env.client.get("/metrics")).text
    line = ('bosun_gateway_request_duration_seconds_count{method="PUT",'
            'route="/v1/namespaces/{ns:str}/{kind:str}/{name:str}",status="202"}')
    count = next(float(x.rsplit(" ", 1)[1]) for x in metrics.splitlines() if x.startswith(line))
    assert count >= 2


async def test_audit_record_follows_the_append_it_reports(env: Env) -> None:
    r = await env.client.put(path("demo", MD, "audited"), json=deployment("audited"), headers=AUTH)
    rv = r.json()["resourceVersion"]
    refused = await env.client.put(path("demo", MD, "audited"), json=deployment("audited", replicas=-1),
                                   headers=AUTH)
    assert refused.status_code == 422
    await env.gw.admission.drain()
    records = [m async for m in env.log.read(subjects.audit("demo"))]
    decoded = [msgspec.json.decode(m.data, type=AuditRecord) for m in records]
    assert [(d.name, d.decision, d.resource_version) for d in decoded[-2:]] == [
        ("audited", "allowed", rv), ("audited", "invalid", None)]
    assert records[-2].seq > rv
    spec = await env.log.last(subjects.spec(Ref("modeldeployment", "demo", "audited")))
    assert spec is not None and spec.seq == rv  # the refusal wrote nothing but its audit record


async def test_only_the_canonical_write_paths_take_the_fast_path(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.http import asgi

    taken: list[str] = []
    headers_of = asgi.headers_of
    monkeypatch.setattr(asgi, "headers_of", lambda scope: taken.append(scope["path"]) or headers_of(scope))
    await env.client.put(path("demo", MD, "p"), json=deployment("p"), headers=AUTH)
    await env.client.delete(path("demo", MD, "p"), headers=AUTH)
    await env.client.put(path("demo", MD, "p") + "/", json=deployment("p"), headers=AUTH)
    await env.client.get(path("demo", MD, "p"), headers=AUTH)
    await env.client.put(path("demo", MD, "p") + "/history", headers=AUTH)
    assert taken == [path("demo", MD, "p")] * 2
