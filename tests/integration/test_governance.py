"""Governance against a real log: RBAC matrix over HTTP and NATS, quotas, policy bootstrap, audit, no leaks."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import nats

from core import log as corelog
from gateway.admission.governance import governed_admission
from tests.conftest import eventually
from tests.integration.test_gateway_support import TOKEN
from tests.integration.test_governance_support import (
    POLICY,
    TOKENS,
    GovEnv,
    auth,
    governed_env,
    md,
    pool,
    write_policy,
)

PRINCIPALS = ("admin", "alice", "bob", "carol", "anonymous", "mallory")
"""mallory sends a token no Principal has."""


def expected_write(who: str, kind: str, ns: str) -> int:
    if who in ("anonymous", "mallory"):
        return 401
    if who == "admin" or (who == "alice" and kind == "modeldeployments" and ns == "team-a"):
        return 202
    return 403


async def test_write_matrix_is_the_same_over_http_and_nats(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, projector=False) as env:
        nc = await nats.connect(nats_url)
        try:
            i = 0
            for who in PRINCIPALS:
                headers = auth(who) or ({"Authorization": "Bearer not-a-token"} if who == "mallory" else {})
                for kind, body in (("modeldeployments", md), ("gpupools", pool)):
                    for ns in ("team-a", "team-b"):
                        i += 1
                        seen: dict[str, list[tuple[int, dict[str, Any]]]] = {}
                        for door in ("http", "nats"):
                            name = f"{door}-{i}"
                            manifest = body(name, ns)  # type: ignore[operator]
                            if door == "http":
                                url = f"/v1/namespaces/{ns}/{kind}/{name}"
                                put = await env.client.put(url, json=manifest, headers=headers)
                                rm = await env.client.delete(url, headers=headers)
                                got = [(put.status_code, put.json()), (rm.status_code, rm.json())]
                            else:
                                nheaders = {"Authorization": "Bearer not-a-token"} if who == "mallory" else None
                                got = [await _intent(env, nc, "apply", kind, ns, name, who, manifest, nheaders),
                                       await _intent(env, nc, "delete", kind, ns, name, who, None, nheaders)]
                            seen[door] = got
                        want = expected_write(who, kind, ns)
                        case = (who, kind, ns)
                        assert [s for s, _ in seen["http"]] == [want, want], (case, seen["http"])
                        assert [s for s, _ in seen["nats"]] == [want, want], (case, seen["nats"])
                        if want == 202:
                            assert [b["result"] for _, b in seen["http"]] == ["created", "deleted"]
                            assert [b["result"] for _, b in seen["nats"]] == ["created", "deleted"]
                        else:  # identical error bodies, code Forbidden / Unauthorized
                            assert seen["http"] == seen["nats"], case
                            code = seen["http"][0][1]["error"]["code"]
                            assert code == ("Forbidden" if want == 403 else "Unauthorized"), case
        finally:
            await nc.close()


async def _intent(env: GovEnv, nc: Any, action: str, kind: str, ns: str, name: str, who: str, body: Any,
                  headers: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
    if headers is None:
        return await env.intent(nc, action, kind, ns, name, who, body)
    import msgspec

    h = {**headers, **({"Bosun-Action": "delete"} if action == "delete" else {})}
    reply = await nc.request(f"bosun.intent.{kind}.{ns}.{name}", msgspec.json.encode(body or {}), headers=h,
                             timeout=10)
    return int(reply.headers["Bosun-Status"]), msgspec.json.decode(reply.data)


async def test_read_matrix(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path) as env:
        for ns in ("team-a", "team-b"):
            assert (await env.client.put(f"/v1/namespaces/{ns}/modeldeployments/web", json=md("web", ns),
                                         headers=auth("admin"))).status_code == 202
            await eventually(lambda u=f"/v1/namespaces/{ns}/modeldeployments/web": _ok(env, u))  # projected
        cases = {  # (who, path) -> status
            ("bob", "/v1/namespaces/team-b/modeldeployments"): 200,
            ("bob", "/v1/modeldeployments"): 200,
            ("bob", "/v1/gpupools"): 403,  # `kinds: ["*"]` never covers the governance kinds (#23)
            ("bob", "/v1/namespaces/team-a/modeldeployments/web/history"): 403,
            ("bob", "/v1/audit"): 403,
            ("alice", "/v1/namespaces/team-a/modeldeployments"): 200,
            ("alice", "/v1/namespaces/team-a/modeldeployments/web"): 200,
            ("alice", "/v1/namespaces/team-b/modeldeployments"): 403,
            ("alice", "/v1/namespaces/team-b/modeldeployments/web"): 403,
            ("alice", "/v1/modeldeployments"): 403,
            ("alice", "/v1/namespaces/team-a/gpupools"): 403,
            ("alice", "/v1/watch?namespace=team-b"): 403,
            ("alice", "/v1/audit"): 403,
            ("carol", "/v1/namespaces/team-a/modeldeployments"): 403,
            ("carol", "/v1/roles"): 403,
            ("admin", "/v1/audit"): 200,
            ("admin", "/v1/roles/deployer"): 200,
            ("admin", "/v1/namespaces/_cluster/roles"): 200,
            ("anonymous", "/v1/namespaces/team-a/modeldeployments"): 401,
        }
        for (who, url), want in cases.items():
            if url == "/v1/roles/deployer":  # cluster-scoped objects: any namespace path, or _cluster
                url = "/v1/namespaces/_cluster/roles/deployer"
                await eventually(lambda u=url: _ok(env, u))
            r = await env.client.get(url, headers=auth(who))
            assert r.status_code == want, (who, url, r.text)
            if want == 403:
                assert r.json()["error"]["code"] == "Forbidden"


async def _ok(env: GovEnv, url: str) -> bool:
    return (await env.client.get(url, headers=auth("admin"))).status_code == 200


async def test_quota_charges_the_difference_and_deletion_releases(nats_url: str, tmp_path: Path) -> None:
    policy = {**POLICY, "quotas": [{"namespace": "team-a", "limits": {"gpus": 4, "replicas": 10,
                                                                       "deployments": 3}}]}
    async with governed_env(nats_url, tmp_path, policy, projector=False) as env:
        async def put(name: str, **kw: Any) -> Any:
            return await env.client.put(f"/v1/namespaces/team-a/md/{name}", json=md(name, **kw),
                                        headers=auth("alice"))

        assert (await put("a", replicas=2)).status_code == 202
        assert (await put("b", replicas=1, gpus=2)).status_code == 202
        over = await put("c", replicas=1)
        assert over.status_code == 403
        error = over.json()["error"]
        assert error["code"] == "QuotaExceeded"
        assert {d["field"]: d["message"] for d in error["details"]} == {
            "resource": "gpus", "used": "4", "requested": "1", "limit": "4"}
        assert (await put("a", replicas=1)).status_code == 202  # shrinking is always allowed
        assert (await put("c", replicas=1)).status_code == 202
        autoscaled = await put("a", replicas=1, autoscaling={"min": 1, "max": 3})  # charged for max: 3 gpus
        assert autoscaled.status_code == 403 and autoscaled.json()["error"]["code"] == "QuotaExceeded"
        assert (await env.client.delete("/v1/namespaces/team-a/md/b", headers=auth("alice"))).status_code == 202
        assert (await put("a", replicas=1, autoscaling={"min": 1, "max": 3})).status_code == 202
        d = await put("d", replicas=0)
        assert d.status_code == 202  # 0 gpus, deployments 3/3
        e = await put("e", replicas=0)
        assert e.status_code == 403 and e.json()["error"]["details"][0]["message"] == "deployments"
        # If-Match still works under the namespace-wide check
        rv = (await put("d", replicas=0)).json()["resourceVersion"]
        stale = await env.client.put("/v1/namespaces/team-a/md/d", json=md("d", replicas=0, gpus=2),
                                     headers={**auth("alice"), "If-Match": str(rv - 1)})
        assert stale.status_code == 409


async def test_policy_bootstrapped_twice_is_unchanged(nats_url: str, tmp_path: Path, log: corelog.Log) -> None:
    path = write_policy(tmp_path / "p.yaml")
    first = await governed_admission(log, TOKEN, path)
    await first.close()
    before = await log.last_seq()
    second = await governed_admission(log, TOKEN, path)
    try:
        assert await log.last_seq() == before  # nothing appended: no spec, no audit record
        assert set(second.index.principals) == {"alice", "bob", "carol"}
        assert set(second.index.roles) == {"deployer", "viewer"} and len(second.index.bindings) == 2
        quota, _ = await log.last_per_subject(["bosun.ev.quota.team-a.*.spec"])
        assert [m.subject for m in quota] == ["bosun.ev.quota.team-a.default.spec"]
    finally:
        await second.close()


async def test_policy_changes_reach_every_gateway(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, projector=False) as env:
        other = await governed_admission(env.log, TOKEN)  # a second gateway's view, started later
        try:
            url = "/v1/namespaces/team-b/modeldeployments/x"
            assert (await env.client.put(url, json=md("x", "team-b"), headers=auth("carol"))).status_code == 403
            binding = {"kind": "RoleBinding", "metadata": {"name": "carol-deployer-b"},
                       "spec": {"principal": "carol", "role": "admin", "namespace": "team-b"}}
            r = await env.client.put("/v1/namespaces/_cluster/rolebindings/carol-deployer-b", json=binding,
                                     headers=auth("admin"))
            assert r.status_code == 202, r.text
            assert await other.index.wait_for(r.json()["resourceVersion"])
            assert await env.governed.index.wait_for(r.json()["resourceVersion"])
            assert (await env.client.put(url, json=md("x", "team-b"), headers=auth("carol"))).status_code == 202
            assert (await env.client.put("/v1/namespaces/team-a/md/x", json=md("x"),
                                         headers=auth("carol"))).status_code == 403
            assert other.admission.authorizer.denial(  # type: ignore[attr-defined]
                other.admission.authenticator.authenticate(f"Bearer {TOKENS['carol']}"), "apply",
                "ModelDeployment", subjects_ref("team-b")) is None
            gone = await env.client.delete("/v1/namespaces/_cluster/rolebindings/carol-deployer-b",
                                           headers=auth("admin"))
            assert gone.status_code == 202
            assert await other.index.wait_for(gone.json()["resourceVersion"])
            assert "carol-deployer-b" not in other.index.bindings
        finally:
            await other.close()


def subjects_ref(ns: str) -> Any:
    from core.names import Ref

    return Ref("modeldeployment", ns, "x")


async def test_audit_records_every_decision_with_filters_and_pages(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path) as env:
        await env.client.put("/v1/namespaces/team-a/md/ok", json=md("ok"), headers=auth("alice"))
        await env.client.put("/v1/namespaces/team-b/md/no", json=md("no", "team-b"), headers=auth("alice"))
        await env.client.put("/v1/namespaces/team-a/md/big", json=md("big", replicas=9, gpus=1),
                             headers=auth("alice"))
        await env.client.put("/v1/namespaces/team-a/md/bad", json=md("bad", replicas=-1), headers=auth("alice"))
        await env.client.put("/v1/namespaces/team-a/md/anon", json=md("anon"))
        nc = await nats.connect(nats_url)
        try:
            status, _ = await env.intent(nc, "apply", "md", "team-b", "viann", "bob", md("viann", "team-b"))
            assert status == 403
        finally:
            await nc.close()

        async def records(**params: Any) -> list[dict[str, Any]]:
            r = await env.client.get("/v1/audit", params=params, headers=auth("admin"))
            assert r.status_code == 200, r.text
            return r.json()["items"]  # type: ignore[no-any-return]

        alice = await eventually(lambda: _at_least(records(principal="alice"), 4))
        assert [(r["name"], r["decision"]) for r in alice] == [
            ("bad", "invalid"), ("big", "quota-exceeded"), ("no", "denied"), ("ok", "allowed")]
        ok = alice[-1]
        assert ok["verb"] == "apply" and ok["kind"] == "ModelDeployment" and ok["namespace"] == "team-a"
        assert ok["resourceVersion"] > 0 and len(ok["traceId"]) == 32 and ok["source"] == "http"
        assert alice[2]["reason"] and alice[1]["code"] == "QuotaExceeded"
        anon = await eventually(lambda: _at_least(records(decision="unauthenticated"), 1))
        assert anon[0]["principal"] == "anonymous" and anon[0]["name"] == "anon"
        viann = await eventually(lambda: _at_least(records(principal="bob"), 1))
        assert viann[0]["source"] == "nats" and viann[0]["decision"] == "denied"
        assert [r["name"] for r in await records(namespace="team-b")] == ["viann", "no"]
        assert await records(kind="md", name="ok", decision="allowed") == [ok]
        # pagination, newest first
        first = (await env.client.get("/v1/audit", params={"principal": "alice", "limit": 3},
                                      headers=auth("admin"))).json()
        assert len(first["items"]) == 3 and first["continue"]
        rest = (await env.client.get("/v1/audit", params={"principal": "alice", "limit": 3,
                                                          "continue": first["continue"]}, headers=auth("admin"))).json()
        assert [r["seq"] for r in first["items"] + rest["items"]] == [r["seq"] for r in alice]
        assert rest["continue"] is None
        # denied records never touched the resources' own subjects
        for name, ns in (("no", "team-b"), ("big", "team-a"), ("bad", "team-a"), ("anon", "team-a")):
            assert await env.log.last(f"bosun.ev.modeldeployment.{ns}.{name}.spec") is None
        assert (await env.client.get("/v1/audit", headers=auth("bob"))).status_code == 403


async def _at_least(coro: Any, n: int) -> Any:
    items = await coro
    return items if len(items) >= n else None


async def test_tokens_never_leak(nats_url: str, tmp_path: Path, capfd: Any) -> None:
    async with governed_env(nats_url, tmp_path) as env:
        for who in ("alice", "bob", "carol", "admin"):
            await env.client.put("/v1/namespaces/team-a/md/t", json=md("t"), headers=auth(who))
            await env.client.put("/v1/namespaces/team-a/md/t", json=md("t", replicas=-5), headers=auth(who))
            r = await env.client.put("/v1/namespaces/team-a/md/t", json=md("t"),
                                     headers={"Authorization": f"Bearer {TOKENS[who]}x"})
            assert all(t not in r.text for t in TOKENS.values())
        last = await env.log.last_seq()
        await eventually(lambda: _caught_up(env, last))
        stored = []
        async for m in env.log.read("bosun.>"):
            stored.append(m.data + repr(m.headers).encode())
        assert len(stored) >= 12
        dbs = [p.read_bytes() for p in env.db_dir.iterdir() if p.is_file()]
        out, err = capfd.readouterr()
        for token in TOKENS.values():
            assert not any(token.encode() in blob for blob in stored + dbs), token
            assert token not in out and token not in err
        with sqlite3.connect(next(env.db_dir.glob("gen-*.db"))) as db:
            assert db.execute("SELECT count(*) FROM audit").fetchone()[0] >= 12


async def _caught_up(env: GovEnv, seq: int) -> bool:
    return await env.gw.reads.checkpoint() >= seq
