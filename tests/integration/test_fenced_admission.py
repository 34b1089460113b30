"""Issue #23 through the gateway's doors (HTTP and NATS intents, real nats-server, real SQLite): running code
is a permission, poison numbers are refused, governance kinds stay governed, and the small holes are shut.

Every test here is an attack that worked before the fix (except where a docstring says otherwise).
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from core import subjects
from core.events import SpecApplied
from core.names import Ref
from projections import pages
from tests.conftest import eventually
from tests.integration.test_controller import Running
from tests.integration.test_governance_support import POLICY, TOKENS, GovEnv, auth, governed_env, md, pool

TOKENS.update({"dave": "dave-token-91ac0d3e57", "erin": "erin-token-7be2f40c19"})
SANDBOX_POLICY: dict[str, Any] = {
    **POLICY,
    "principals": [{"name": n, "tokenSha256": hashlib.sha256(TOKENS[n].encode()).hexdigest()}
                   for n in ("alice", "bob", "carol", "dave", "erin")],
    "roles": [
        *POLICY["roles"],
        {"name": "runner", "rules": [{"verbs": ["get", "list", "apply", "delete", "exec"],
                                      "kinds": ["ModelDeployment"], "namespaces": ["team-a"]}]},
        {"name": "ns-admin", "rules": [{"verbs": ["*"], "kinds": ["*"], "namespaces": ["team-a"]}]},
        {"name": "pool-admin", "rules": [{"verbs": ["*"], "kinds": ["GpuPool", "Quota"], "namespaces": ["*"]}]},
    ],
    "bindings": [*POLICY["bindings"], {"principal": "dave", "role": "runner"},
                 {"principal": "carol", "role": "ns-admin"}, {"principal": "erin", "role": "pool-admin"}],
    "quotas": [{"namespace": "team-a", "limits": {"gpus": 8, "replicas": 10, "costPerHour": 1000}}],
}
RUNS = {"command": ["python3", "-c", "pass"]}


async def put(env: GovEnv, who: str, doc: dict[str, Any], **headers: str) -> Any:
    ns = doc["metadata"].get("namespace", "_cluster")
    plural = {"ModelDeployment": "modeldeployments", "GpuPool": "gpupools", "Quota": "quotas"}[doc["kind"]]
    return await env.client.put(f"/v1/namespaces/{ns}/{plural}/{doc['metadata']['name']}", json=doc,
                                headers={**auth(who), **headers})


# ---- 1. running code is a permission -------------------------------------------------------------------


async def test_setting_command_or_env_needs_exec(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY, projector=False) as env:
        plain = await put(env, "alice", md("plain"))
        assert plain.status_code == 202, plain.text  # `apply` alone still deploys what runs no command
        for name, extra in (("cmd", RUNS), ("env", {"env": {"MODE": "fast"}})):
            r = await put(env, "alice", md(name, **extra))
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "Forbidden" and "exec" in r.json()["error"]["message"]
        ran = await put(env, "dave", md("cmd", **RUNS))
        assert ran.status_code == 202, ran.text
        # Scaling what someone with `exec` set is not setting code: `apply` is enough...
        scaled = await put(env, "alice", md("cmd", replicas=2, **RUNS))
        assert scaled.status_code == 202, scaled.text
        # ...but changing the command is.
        other = await put(env, "alice", md("cmd", replicas=2, command=["sh", "-c", "id"]))
        assert other.status_code == 403, other.text
        planned = await env.client.post("/v1/plan", json=[md("planned", **RUNS)], headers=auth("alice"))
        item = planned.json()["items"][0]  # a plan judges as admission would
        assert item["action"] == "refused" and item["error"]["code"] == "Forbidden", planned.text
        dry = await env.client.post("/v1/diff?verb=apply", json=[md("dry", **RUNS), md("cmd", replicas=3, **RUNS)],
                                    headers=auth("alice"))  # the set dry run of `bosun apply`, the same way
        refused, scaled_again = dry.json()["items"]
        assert refused["action"] == "invalid" and refused["error"]["code"] == "Forbidden", dry.text
        assert "exec" in refused["error"]["message"] and scaled_again["action"] == "update", dry.text
        nc = await nats.connect(nats_url)
        try:
            status, body = await env.intent(nc, "apply", "modeldeployments", "team-a", "vianats", "alice",
                                            md("vianats", **RUNS))
            assert status == 403 and body["error"]["code"] == "Forbidden"
        finally:
            await nc.close()


@pytest.mark.parametrize("name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PATH", "PYTHONHOME",
                                  "BOSUN_NATS_URL", "CUDA_VISIBLE_DEVICES", "BASH_ENV"])
async def test_loader_and_interpreter_hijack_variables_are_refused(nats_url: str, tmp_path: Path,
                                                                  name: str) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY, projector=False) as env:
        r = await put(env, "admin", md("hijack", env={name: "/tmp/evil.so"}, **RUNS))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"] == f"$.spec.env.{name}"


# ---- 3. poison values are refused --------------------------------------------------------------------


YAML_POISON = [
    ("targetLoadPerReplica", ".inf"), ("targetLoadPerReplica", ".nan"), ("targetLoadPerReplica", "1.0e+999"),
    ("startupSeconds", ".inf"), ("terminationGracePeriodSeconds", "-.inf"),
]


def yaml_md(name: str, field: str, value: str) -> bytes:
    where = f"  autoscaling: {{min: 1, max: 3, {field}: {value}}}\n" if field == "targetLoadPerReplica" else \
        f"  {field}: {value}\n"
    return (f"kind: ModelDeployment\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  model: m\n"
            f"  replicas: 1\n  placement: {{region: us-west-2, gpu: a100}}\n{where}").encode()


@pytest.mark.parametrize("field,value", YAML_POISON)
async def test_infinite_and_nan_numbers_are_refused_over_http_and_nats(nats_url: str, tmp_path: Path,
                                                                      field: str, value: str) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY, projector=False) as env:
        r = await env.client.put("/v1/namespaces/team-a/modeldeployments/poison",
                                 content=yaml_md("poison", field, value),
                                 headers={**auth("admin"), "Content-Type": "application/yaml"})
        assert r.status_code == 422, r.text
        assert field in r.json()["error"]["details"][0]["field"]
        nc = await nats.connect(nats_url)
        try:
            reply = await nc.request("bosun.intent.modeldeployments.team-a.poison", yaml_md("poison", field, value),
                                     headers={**auth("admin"), "Content-Type": "application/yaml"}, timeout=10)
            assert reply.headers["Bosun-Status"] == "422", reply.data
        finally:
            await nc.close()
        # Nothing of it reached the log, and the namespace keeps admitting (it used to answer 500 after).
        assert await env.log.last(subjects.spec(Ref("modeldeployment", "team-a", "poison"))) is None
        assert (await put(env, "admin", md("after"))).status_code == 202


async def test_json_out_of_range_numbers_are_refused(nats_url: str, tmp_path: Path) -> None:
    """`1e999` in JSON: refused (msgspec >= 0.19 refuses it while parsing; older ones decoded it to inf, which
    the finite types now refuse as well). Also a pool's `pricePerGpuHour: .inf` in YAML."""
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY, projector=False) as env:
        body = json.dumps(md("big")).replace('"replicas": 1', '"replicas": 1, "startupSeconds": 1e999')
        r = await env.client.put("/v1/namespaces/team-a/modeldeployments/big", content=body.encode(),
                                 headers={**auth("admin"), "Content-Type": "application/json"})
        assert r.status_code in (400, 422) and r.json()["error"]["code"] in ("Malformed", "Invalid"), r.text
        nc = await nats.connect(nats_url)
        try:
            reply = await nc.request("bosun.intent.modeldeployments.team-a.big", body.encode(),
                                     headers={**auth("admin"), "Content-Type": "application/json"}, timeout=10)
            assert reply.headers["Bosun-Status"] in ("400", "422"), reply.data
        finally:
            await nc.close()
        yml = b"kind: GpuPool\nmetadata: {name: p, namespace: infra}\nspec: {region: r, gpu: g, capacity: 1,\n" \
              b"  pricePerGpuHour: .inf}\n"
        r = await env.client.put("/v1/namespaces/infra/gpupools/p", content=yml,
                                 headers={**auth("admin"), "Content-Type": "application/yaml"})
        assert r.status_code == 422, r.text


async def test_a_poisoned_spec_already_in_the_log_does_not_take_admission_down(nats_url: str,
                                                                             tmp_path: Path) -> None:
    """A spec stored before the fix (an infinite number became `null`) used to make every later apply in its
    quota-governed namespace answer 500."""
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY, projector=False) as env:
        ref = Ref("modeldeployment", "team-a", "old")
        spec = {**md("old")["spec"], "autoscaling": {"min": 1, "max": 2, "targetLoadPerReplica": None}}
        await env.log.append(subjects.spec(ref), SpecApplied(generation=1, spec=spec, created=True))
        r = await put(env, "admin", md("new"))
        assert r.status_code == 202, r.text


# ---- 4. governance kinds stay governed -----------------------------------------------------------------


async def test_a_namespace_admin_cannot_raise_its_quota_or_create_pools(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY, projector=False) as env:
        assert (await put(env, "carol", md("web"))).status_code == 202  # "*" still covers ordinary kinds
        quota = {"kind": "Quota", "metadata": {"name": "default", "namespace": "team-a"},
                 "spec": {"limits": {"gpus": 100_000_000}}}
        r = await put(env, "carol", quota)
        assert r.status_code == 403, r.text
        for p in (pool("mine", "team-a"), {**pool("proc", "team-a"), "spec": {
                "region": "us-west-2", "gpu": "a100", "driver": "process", "devices": ["0"]}}):
            r = await put(env, "carol", p)
            assert r.status_code == 403, r.text
        for kind, name in (("roles", "mine"), ("principals", "mine"), ("rolebindings", "mine")):
            r = await env.client.get(f"/v1/namespaces/_cluster/{kind}/{name}", headers=auth("carol"))
            assert r.status_code == 403, (kind, r.text)
        # A rule that names them and covers every namespace may write them.
        assert (await put(env, "erin", pool("shared", "infra"))).status_code == 202
        assert (await put(env, "erin", quota)).status_code == 202


async def test_prices_and_limits_have_sane_upper_bounds(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY, projector=False) as env:
        dear = {**pool("dear", "infra"), "spec": {**pool("dear", "infra")["spec"], "pricePerGpuHour": 1e300}}
        r = await put(env, "admin", dear)
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "$.spec.pricePerGpuHour"
        quota = {"kind": "Quota", "metadata": {"name": "big", "namespace": "team-b"},
                 "spec": {"limits": {"gpus": 100_000_000, "costPerHour": 1e15}}}
        assert (await put(env, "admin", quota)).status_code == 422


async def test_a_pool_that_does_not_admit_a_namespace_does_not_price_it(nats_url: str, tmp_path: Path) -> None:
    """team-a's own (priced) pool used to make team-b's apply fail QuotaExceeded."""
    policy = {**SANDBOX_POLICY, "quotas": [{"namespace": "team-b", "limits": {"costPerHour": 100}}]}
    async with governed_env(nats_url, tmp_path, policy, projector=False) as env:
        dear = {**pool("dear", "team-a"), "spec": {**pool("dear", "team-a")["spec"], "pricePerGpuHour": 1e5,
                                                   "namespaces": []}}  # its own namespace only
        assert (await put(env, "admin", dear)).status_code == 202
        r = await put(env, "admin", md("web", ns="team-b"))
        assert r.status_code == 202, r.text


# ---- 5. small holes -----------------------------------------------------------------------------------


async def test_token_hashes_are_not_readable_by_a_viewer(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY) as env:
        await eventually(lambda: _status(env, "admin", "/v1/namespaces/_cluster/principals/alice", 200))
        for url in ("/v1/namespaces/_cluster/principals/alice", "/v1/principals"):
            r = await env.client.get(url, headers=auth("bob"))
            assert r.status_code == 403, r.text
            assert "tokenSha256" not in r.text


async def test_a_plan_shows_only_pools_the_caller_may_read(nats_url: str, tmp_path: Path) -> None:
    from actors import serving
    from dataplane.sim import driver as sim_driver

    plane = Running()
    plane.start("controller", lambda stop: serving.serve(nats_url, stop=stop, idle_seconds=1.0))
    plane.start("sim", lambda stop: sim_driver.serve(nats_url, tmp_path / "sim", stop=stop, latency=0.0))
    try:
        async with governed_env(nats_url, tmp_path, SANDBOX_POLICY) as env:
            await _plan_pools(env)
    finally:
        await plane.stop_all()


async def _plan_pools(env: GovEnv) -> None:
    secret = {**pool("secret-pool", "infra"), "spec": {**pool("secret-pool", "infra")["spec"], "namespaces": ["*"]}}
    assert (await put(env, "admin", secret)).status_code == 202
    await eventually(lambda: _phase(env, "/v1/namespaces/infra/gpupools/secret-pool", "Ready"))
    r = await env.client.post("/v1/plan", json=[md("web")], headers=auth("alice"))
    assert r.status_code == 200, r.text
    # Her own deployment's story may name the pool it lands on (as its status does); the pool's capacity
    # and allocation, and the pool as an affected resource, are not hers to read.
    assert r.json()["pools"] == [] and all(a["kind"] != "gpupool" for a in r.json()["affected"]), r.text
    r = await env.client.post("/v1/plan", json=[md("web")], headers=auth("admin"))
    assert [p["pool"] for p in r.json()["pools"]] == ["infra/secret-pool"]


async def test_a_callers_traceparent_starts_a_new_trace_unless_trusted(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY, projector=False) as env:
        theirs = secrets.token_hex(16)
        tp = f"00-{theirs}-{secrets.token_hex(8)}-01"
        assert (await put(env, "alice", md("traced"), traceparent=tp)).status_code == 202
        last = await env.log.last(subjects.spec(Ref("modeldeployment", "team-a", "traced")))
        assert last is not None and theirs not in last.headers["traceparent"]
        nc = await nats.connect(nats_url)
        try:
            reply = await nc.request("bosun.intent.modeldeployments.team-a.natstraced",
                                     msgspec.json.encode(md("natstraced")),
                                     headers={**auth("alice"), "traceparent": tp}, timeout=10)
            assert reply.headers["Bosun-Status"] == "202", reply.data
        finally:
            await nc.close()
        last = await env.log.last(subjects.spec(Ref("modeldeployment", "team-a", "natstraced")))
        assert last is not None and theirs not in last.headers["traceparent"]
        # The admin (operators' own tooling) is trusted: its trace continues.
        assert (await put(env, "admin", md("admins"), traceparent=tp)).status_code == 202
        last = await env.log.last(subjects.spec(Ref("modeldeployment", "team-a", "admins")))
        assert last is not None and last.headers["traceparent"].split("-")[1] == theirs


async def test_a_forged_continue_token_is_a_400(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY) as env:
        assert (await put(env, "admin", md("web"))).status_code == 202
        await eventually(lambda: _status(env, "admin", "/v1/namespaces/team-a/modeldeployments/web", 200))
        query = pages.fingerprint("history", "modeldeployment", "team-a", "web", None, "")
        for seq in (1 << 63, 1 << 64, -1):
            token = base64.urlsafe_b64encode(json.dumps(["h", query, seq, True]).encode()).decode().rstrip("=")
            r = await env.client.get(f"/v1/namespaces/team-a/modeldeployments/web/history?continue={token}",
                                     headers=auth("admin"))
            assert r.status_code == 400, (seq, r.status_code, r.text)
        audit_query = pages.fingerprint("audit", None)
        token = base64.urlsafe_b64encode(json.dumps(["h", audit_query, 1 << 63, True]).encode()).decode()
        r = await env.client.get(f"/v1/audit?continue={token.rstrip('=')}", headers=auth("admin"))
        assert r.status_code in (200, 400), r.text  # never a 500


async def test_metrics_name_no_tenant_without_a_token(nats_url: str, tmp_path: Path) -> None:
    async with governed_env(nats_url, tmp_path, SANDBOX_POLICY) as env:
        assert (await put(env, "admin", md("secret-model"))).status_code == 202
        await eventually(lambda: _status(env, "admin", "/v1/namespaces/team-a/modeldeployments/secret-model", 200))
        anonymous = await env.client.get("/metrics")
        assert anonymous.status_code == 200
        assert "secret-model" not in anonymous.text and "team-a" not in anonymous.text
        assert "bosun_gateway_request_duration_seconds" in anonymous.text
        admin = await env.client.get("/metrics", headers=auth("admin"))
        assert 'name="secret-model"' in admin.text
        alice = await env.client.get("/metrics", headers=auth("alice"))
        assert 'name="secret-model"' in alice.text  # alice may list team-a's deployments
        erin = await env.client.get("/metrics", headers=auth("erin"))  # pools and quotas only
        assert erin.status_code == 200 and "secret-model" not in erin.text


async def _phase(env: GovEnv, url: str, phase: str) -> bool:
    r = await env.client.get(url, headers=auth("admin"))
    return r.status_code == 200 and (r.json().get("status") or {}).get("phase") == phase


async def _status(env: GovEnv, who: str, url: str, want: int) -> bool:
    return (await env.client.get(url, headers=auth(who))).status_code == want
