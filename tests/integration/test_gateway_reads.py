"""Reads through a real projector and SQLite read model: get, minVersion, time travel, lists, history."""
from __future__ import annotations

import httpx

from tests.conftest import eventually
from tests.integration.test_gateway_support import AUTH, Env, deployment, live, path  # noqa: F401

MD = "modeldeployments"


async def test_get_list_history_time_travel(live: Env) -> None:
    c = live.client
    before = (await c.put(path("demo", MD, "early"), json=deployment("early"), headers=AUTH)).json()
    first = (await c.put(path("demo", MD, "chat"), json=deployment("chat", labels={"app": "chat"}),
                         headers=AUTH)).json()
    assert first["resourceVersion"] > before["resourceVersion"]
    await c.put(path("demo", MD, "web"), json=deployment("web", labels={"app": "web"}), headers=AUTH)
    second = (await c.put(path("demo", MD, "chat"), json=deployment("chat", replicas=5, labels={"app": "chat"}),
                          headers=AUTH)).json()

    r = await c.get(path("demo", MD, "chat") + f"?minVersion={second['resourceVersion']}", headers=AUTH)
    assert r.status_code == 200, r.text
    obj = r.json()
    assert {"kind", "metadata", "spec", "status"} <= set(obj) and obj["kind"] == "ModelDeployment"
    assert obj["metadata"]["generation"] == 2 and obj["spec"]["replicas"] == 5
    assert obj["metadata"]["resourceVersion"] == second["resourceVersion"]

    then = (await c.get(path("demo", "md", "chat") + f"?at={first['resourceVersion']}", headers=AUTH)).json()
    assert then["spec"]["replicas"] == 2 and then["metadata"]["generation"] == 1
    not_yet = await c.get(path("demo", MD, "chat") + f"?at={before['resourceVersion']}", headers=AUTH)
    assert not_yet.status_code == 404 and not_yet.json()["error"]["code"] == "NotFound"  # before it existed
    then_early = (await c.get(path("demo", MD, "early") + f"?at={before['resourceVersion']}", headers=AUTH)).json()
    assert then_early["metadata"]["generation"] == 1
    assert (await c.get(path("demo", MD, "nope"), headers=AUTH)).status_code == 404

    page = (await c.get(path("demo", MD) + "?limit=2", headers=AUTH)).json()
    assert len(page["items"]) == 2 and page["continue"]
    rest = (await c.get(path("demo", MD) + f"?limit=2&continue={page['continue']}", headers=AUTH)).json()
    assert len(rest["items"]) == 1 and rest["continue"] is None
    assert {o["metadata"]["name"] for o in [*page["items"], *rest["items"]]} == {"early", "chat", "web"}
    selected = (await c.get(f"/v1/{MD}?labelSelector=app=web", headers=AUTH)).json()
    assert [o["metadata"]["name"] for o in selected["items"]] == ["web"]
    assert (await c.get(f"/v1/{MD}?labelSelector=app in (", headers=AUTH)).status_code == 400

    hist = (await c.get(path("demo", MD, "chat") + "/history", headers=AUTH)).json()
    assert [e["seq"] for e in hist["items"]][:2] == [first["resourceVersion"], second["resourceVersion"]]
    assert all({"seq", "time", "slice", "type"} <= set(e) for e in hist["items"])
    assert hist["continue"] is None
    since = (await c.get(path("demo", MD, "chat") + f"/history?since={first['resourceVersion']}",
                         headers=AUTH)).json()
    assert [e["seq"] for e in since["items"]] == [second["resourceVersion"]]


async def test_ops_routes(live: Env) -> None:
    c = live.client
    await c.put(path("demo", MD, "chat"), json=deployment("chat"), headers=AUTH)
    async def ready() -> httpx.Response | None:  # ready once the read model caught up with the write above
        r = await c.get("/readyz")
        return r if r.status_code == 200 else None

    readyz = (await eventually(ready)).json()
    assert readyz["status"] == "ok" and readyz["reasons"] == [] and isinstance(readyz["lag"], int)
    metrics = (await c.get("/metrics")).text
    for name in ("bosun_gateway_admission_decisions_total", "bosun_gateway_request_duration_seconds",
                 "bosun_gateway_append_duration_seconds"):
        assert name in metrics
    doc = (await c.get("/openapi.json")).json()
    assert "/v1/namespaces/{ns}/{kind}/{name}" in doc["paths"]
    async def rebuild() -> httpx.Response | None:  # the projector subscribes shortly after it starts
        r = await c.post("/v1/projections/rebuild", headers=AUTH)
        return None if r.status_code == 503 else r

    rebuilt = await eventually(rebuild)
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["seq"] >= 1
