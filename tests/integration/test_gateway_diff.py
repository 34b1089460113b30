"""`POST /v1/diff`: a per-resource plan that agrees with what apply would do."""
from __future__ import annotations

import yaml

from tests.integration.test_gateway_support import AUTH, Env, deployment, env, path  # noqa: F401


async def test_diff_plan(env: Env) -> None:
    await env.client.put(path("demo", "md", "same"), json=deployment("same"), headers=AUTH)
    await env.client.put(path("demo", "md", "more"), json=deployment("more", labels={"app": "x"}), headers=AUTH)
    docs = [deployment("same"), deployment("more", replicas=7, labels={"app": "y"}), deployment("new"),
            deployment("bad", replicas=-3), {"kind": "Widget", "metadata": {"name": "w"}, "spec": {}}]
    before = await env.last_seq()
    r = await env.client.post("/v1/diff", content=yaml.safe_dump_all(docs).encode(),
                              headers={**AUTH, "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["action"] for i in items] == ["unchanged", "update", "create", "invalid", "invalid"]
    assert items[1]["diff"] == [{"path": "$.metadata.labels.app", "from": "x", "to": "y"},
                                {"path": "$.spec.replicas", "from": 2, "to": 7}]
    assert {"path": "$.spec.model", "from": None, "to": "llama-3-8b"} in items[2]["diff"]
    assert items[3]["error"]["details"][0]["field"] == "$.spec.replicas"
    assert items[4]["error"]["code"] == "UnknownKind"
    assert all({"kind", "namespace", "name", "action"} <= set(i) for i in items)
    assert await env.last_seq() == before


async def test_diff_accepts_json_list_and_items(env: Env) -> None:
    r = await env.client.post("/v1/diff", json={"items": [deployment("a"), deployment("b")]}, headers=AUTH)
    assert [i["action"] for i in r.json()["items"]] == ["create", "create"]
    assert (await env.client.post("/v1/diff", json=[deployment("a")])).status_code == 401
