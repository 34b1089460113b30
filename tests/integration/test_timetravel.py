"""Environment-wide time travel, the diff between two sequences, export and incident bundles (HTTP + CLI)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from core import bundles
from projections.reducer import rfc3339
from tests.integration.test_cli_gateway import MANIFESTS, bosun, data_dir  # noqa: F401
from tests.integration.test_gateway_support import AUTH, Env, deployment, env  # noqa: F401


async def _put(e: Env, doc: dict[str, object]) -> int:
    meta = doc["metadata"]
    assert isinstance(meta, dict)
    r = await e.client.put(f"/v1/namespaces/{meta['namespace']}/modeldeployments/{meta['name']}", json=doc,
                           headers=AUTH)
    assert r.status_code == 202, r.text
    return int(r.json()["resourceVersion"])


async def test_environment_as_of_a_sequence_and_the_diff_between_two(env: Env) -> None:
    first = await _put(env, deployment("chat", replicas=2, labels={"app": "chat"}))
    await _put(env, deployment("batch", ns="other", replicas=1))
    middle = await env.log.last_seq()
    middle_time = await env.log.last("bosun.ev.modeldeployment.other.batch.spec")
    await _put(env, deployment("chat", replicas=5, labels={"app": "chat"}))
    await _put(env, deployment("late", replicas=1))
    end = await env.log.last_seq()

    r = await env.client.get("/v1/modeldeployments", params={"at": first}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert [o["metadata"]["name"] for o in r.json()["items"]] == ["chat"]
    r = await env.client.get("/v1/modeldeployments", params={"at": middle}, headers=AUTH)
    assert [(o["metadata"]["name"], o["spec"]["replicas"]) for o in r.json()["items"]] == [("chat", 2),
                                                                                            ("batch", 1)]
    r = await env.client.get("/v1/namespaces/demo/modeldeployments",
                             params={"at": end, "labelSelector": "app=chat"}, headers=AUTH)
    assert [(o["metadata"]["name"], o["spec"]["replicas"]) for o in r.json()["items"]] == [("chat", 5)]

    assert middle_time is not None
    instant = rfc3339(middle_time.time + 0.0005)
    r = await env.client.get("/v1/namespaces/demo/modeldeployments/chat", params={"atTime": instant},
                             headers=AUTH)
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 2, r.text
    r = await env.client.get("/v1/modeldeployments", params={"atTime": "yesterday"}, headers=AUTH)
    assert r.status_code == 400

    r = await env.client.get("/v1/diff", params={"from": middle, "to": end}, headers=AUTH)
    assert r.status_code == 200, r.text
    items = {(i["namespace"], i["name"]): i for i in r.json()["items"]}
    assert set(items) == {("demo", "chat"), ("demo", "late")}
    assert items[("demo", "late")]["action"] == "created"
    chat = items[("demo", "chat")]
    assert chat["action"] == "modified"
    assert {"path": "$.spec.replicas", "from": 2, "to": 5} in chat["diff"]
    r = await env.client.get("/v1/diff", params={"from": middle, "to": end, "namespace": "other"},
                             headers=AUTH)
    assert r.json()["items"] == []

    r = await env.client.get("/v1/bundle", params={"ref": "modeldeployment/demo/chat"}, headers=AUTH)
    assert r.status_code == 200, r.text
    head, messages = bundles.from_bytes(r.content)
    assert head.refs == ("modeldeployment/demo/chat",) and len(messages) == 2
    assert all(m.headers.get("Bosun-Type") == "spec.applied" for m in messages)
    r = await env.client.get("/v1/bundle", headers=AUTH)
    assert r.status_code == 400
    r = await env.client.get("/v1/bundle", params={"all": "true"})
    assert r.status_code == 401


async def test_cli_get_at_export_diff_and_history_bundle(
        data_dir: Path, tmp_path: Path) -> None:
    r = await bosun(data_dir, "apply", "-f", "-", stdin=MANIFESTS)
    assert r.exit_code == 0, r.output
    r = await bosun(data_dir, "history", "md/chat", "-n", "demo", "-o", "json")
    before = max(int(e["seq"]) for e in json.loads(r.stdout)["items"])
    r = await bosun(data_dir, "apply", "-f", "-", stdin=MANIFESTS.replace("replicas: 2", "replicas: 3"))
    assert "configured" in r.stdout

    r = await bosun(data_dir, "get", "md", "-A", "--at", str(before), "-o", "json")
    assert r.exit_code == 0, r.output
    assert [o["spec"]["replicas"] for o in json.loads(r.stdout)["items"]] == [2]
    r = await bosun(data_dir, "export", "--at", str(before))
    assert r.exit_code == 0, r.output
    docs = list(yaml.safe_load_all(r.stdout))
    assert {d["kind"] for d in docs} == {"GpuPool", "ModelDeployment"}
    chat = next(d for d in docs if d["kind"] == "ModelDeployment")
    assert chat["metadata"] == {"name": "chat", "namespace": "demo", "labels": {"app": "chat"}}
    assert chat["spec"]["replicas"] == 2 and "status" not in chat
    r = await bosun(data_dir, "diff", "--from", str(before))
    assert r.exit_code == 0, r.output
    assert "modeldeployment/chat (demo): modified" in r.stdout and "$.spec.replicas: 2 -> 3" in r.stdout

    bundle = tmp_path / "chat.bundle"
    r = await bosun(data_dir, "history", "md/chat", "-n", "demo", "--export", str(bundle))
    assert r.exit_code == 0 and bundle.exists(), r.output
    nowhere = tmp_path / "no-data"
    r = await bosun(nowhere, "replay", "--from-file", str(bundle))
    assert r.exit_code == 0 and "spec.applied" in r.stdout, r.output
    r = await bosun(nowhere, "replay", "--check", "--from-file", str(bundle))
    assert r.exit_code == 0 and "0 divergences" in r.stdout, r.output
    r = await bosun(data_dir, "replay", "--check", "--all")
    assert r.exit_code == 0 and "0 divergences" in r.stdout, r.output
    r = await bosun(data_dir, "replay", "md/chat", "-n", "demo", "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["state"]["spec"]["replicas"] == 3, r.output
