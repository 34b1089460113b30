"""What-if end to end against `bosun up` (real nats-server, controller, sim driver, projector, gateway
processes) through the real CLI: a plan predicts exactly what applying does, an over-committed pool is
predicted Pending with its reason, a policy test finds the denials a stricter quota would have made,
and a revert restores the earlier environment."""
from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_governance_support import POLICY, TOKENS, md, write_policy
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

LATENCY = "0.3"
"""Replica start-up of 150-450 ms: readiness reports of one deployment arrive well apart, as planned."""


@dataclass(frozen=True)
class Site:
    """A test's own corner of the shared tree: its namespace, and a pool in a region no other test uses."""

    ns: str
    pool: str
    region: str

    def deployment(self, name: str, replicas: int, gpus: int = 1) -> dict[str, Any]:
        return md(name, ns=self.ns, replicas=replicas, gpus=gpus, placement={"region": self.region, "gpu": "a100"})


PLAN, OVER, REVERT = (Site("plan", "usw1-a100", "us-west-1"), Site("over", "use1-a100", "us-east-1"),
                      Site("revert", "euw1-a100", "eu-west-1"))


def pool(capacity: int = 8, site: Site | None = None) -> dict[str, Any]:
    """The site's pool; without one, `usw2-a100` in us-west-2 (what `md` places into: other modules use it)."""
    name, region = (site.pool, site.region) if site else ("usw2-a100", "us-west-2")
    return {"kind": "GpuPool", "metadata": {"name": name, "namespace": "infra"},
            "spec": {"region": region, "gpu": "a100", "capacity": capacity, "namespaces": ["*"]}}


def bosun(up: Up, *args: str, token: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    extra = ["--token", token] if token else []
    done = subprocess.run([BOSUN, "--data", str(up.data), *extra, *args], capture_output=True, text=True,
                          timeout=120, check=False)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def manifests(tmp: Path, name: str, *docs: dict[str, Any]) -> str:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def phase(up: Up, kind: str, ns: str, name: str) -> str:
    code, body = http_get(f"{up.url}/v1/namespaces/{ns}/{kind}/{name}", up.token)
    return str(body["status"]["phase"]) if code == 200 else f"HTTP {code}"


def history(up: Up, kind: str, ns: str, name: str, since: int) -> list[tuple[str, str, str]]:
    code, body = http_get(f"{up.url}/v1/namespaces/{ns}/{kind}/{name}/history?limit=1000", up.token)
    assert code == 200, body
    return [(i["slice"], i["type"], i["summary"]) for i in sorted(body["items"], key=lambda i: i["seq"])
            if i["seq"] > since]


def last_seq(up: Up, *refs: tuple[str, str, str]) -> int:
    return max(i["seq"] for kind, ns, name in refs
               for i in http_get(f"{up.url}/v1/namespaces/{ns}/{kind}/{name}/history?limit=1000", up.token)[1]["items"])


def mine(report: dict[str, Any], site: Site) -> list[dict[str, Any]]:
    """The plan's figures for the site's pool (the shared tree has the other tests' pools too)."""
    return [p for p in report["pools"] if p["pool"] == f"infra/{site.pool}"]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One tree for the plan and revert tests: each works in its own `Site`."""
    running = Up(tmp_path_factory.mktemp("whatif") / "data", "--latency", LATENCY).start()
    yield running
    running.stop()


def test_plan_predicts_exactly_what_applying_then_does(up: Up, tmp_path: Path) -> None:
    bosun(up, "apply", "-f", manifests(tmp_path, "pool", pool(site=PLAN)))
    wait_for(lambda: phase(up, "gpupools", "infra", PLAN.pool) == "Ready", 20, "the pool to be Ready")
    deployment = manifests(tmp_path, "embed", PLAN.deployment("embed", 2))

    report = json.loads(bosun(up, "plan", "-f", deployment, "--latency", LATENCY, "-o", "json").stdout)
    (item,) = report["items"]
    assert (item["action"], item["predicted"]["phase"], item["predicted"]["ready"]) == ("create", "Ready", True)
    assert report["quiescent"] and mine(report, PLAN) == [{
        "pool": f"infra/{PLAN.pool}", "capacity": 8, "allocatedBefore": 0, "allocatedAfter": 2, "freeBefore": 8,
        "freeAfter": 6, "costPerHourBefore": None, "costPerHourAfter": None}]
    assert [a["name"] for a in report["affected"]] == [PLAN.pool]
    assert phase(up, "modeldeployments", PLAN.ns, "embed") == "HTTP 404"  # a plan writes nothing

    base = report["basis"]["seq"]
    predicted = {ref: [(s["slice"], s["type"], s["summary"]) for s in steps if s["resource"] == name]
                 for ref, steps, name in (
                     ("embed", item["timeline"], f"modeldeployment/{PLAN.ns}/embed"),
                     ("pool", report["affected"][0]["timeline"], f"gpupool/infra/{PLAN.pool}"))}
    assert [t for _, t, _ in predicted["embed"]].count("replica.ready") == 2

    bosun(up, "apply", "-f", deployment)
    wait_for(lambda: phase(up, "modeldeployments", PLAN.ns, "embed") == "Ready", 30, "embed to be Ready")
    real: list[Any] = []

    def matches() -> bool:  # the projector may still be applying the last messages
        real[:] = history(up, "modeldeployment", PLAN.ns, "embed", base)
        return by_writer(real) == by_writer(predicted["embed"])

    with contextlib.suppress(AssertionError):
        wait_for(matches, 10, "embed's timeline to match the plan")
    if by_writer(real) != by_writer(predicted["embed"]):
        # One freedom is real: two replicas ready within one step of the actor are folded in one decision, so
        # a progress status between them may be skipped. Every other event, command and the last status agree.
        assert by_writer(settled(real)) == by_writer(settled(predicted["embed"])), (real, predicted["embed"])
    else:
        assert sorted(real) == sorted(predicted["embed"])
    real_pool = history(up, "gpupool", "infra", PLAN.pool, base)
    assert real_pool == predicted["pool"], (real_pool, predicted["pool"])


def settled(timeline: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The timeline without its intermediate status updates (the last one stays)."""
    statuses = [i for i, (_, kind, _) in enumerate(timeline) if kind == "status.updated"]
    return [e for i, e in enumerate(timeline) if e[1] != "status.updated" or i == statuses[-1]]


def by_writer(timeline: list[tuple[str, str, str]]) -> dict[str, list[tuple[str, str, str]]]:
    """Each writer's messages in order: the actor (ctl and cmd slices), the driver (obs), the user (spec).

    Their interleaving is real concurrency (the driver may report a start before the actor has appended
    the next command of the same decision); what each writer appends, and in which order, is not.
    """
    out: dict[str, list[tuple[str, str, str]]] = {}
    for entry in timeline:
        slice_ = entry[0]
        writer = "actor" if slice_.startswith("ctl.") or slice_ == "cmd" else slice_
        out.setdefault(writer, []).append(entry)
    return out


def test_plan_on_an_over_committed_pool_predicts_pending_with_the_reason(up: Up, tmp_path: Path) -> None:
    bosun(up, "apply", "-f", manifests(tmp_path, "base", pool(site=OVER), OVER.deployment("chat", 5)))
    wait_for(lambda: phase(up, "modeldeployments", OVER.ns, "chat") == "Ready", 30, "chat to be Ready")

    big = manifests(tmp_path, "big", OVER.deployment("big", 1, gpus=4))
    done = bosun(up, "plan", "-f", big, "-o", "yaml", check=False)
    assert done.returncode == 1 and f"predicted failure: modeldeployment/{OVER.ns}/big: Pending" in done.stderr
    report = yaml.safe_load(done.stdout)
    (item,) = report["items"]
    assert item["predicted"]["phase"] == "Pending"
    assert item["predicted"]["reason"] == "Unschedulable"
    assert "1 more replica(s) of 4 a100 GPU" in item["predicted"]["message"]
    assert f"{OVER.pool}: 3 free" in item["predicted"]["message"]
    assert [p["freeAfter"] for p in mine(report, OVER)] == [3]
    text = bosun(up, "plan", "-f", big, check=False).stdout
    assert "Pending" in text and f"{OVER.pool}: 3 free" in text
    assert phase(up, "modeldeployments", OVER.ns, "big") == "HTTP 404"

    bosun(up, "apply", "-f", big)  # and for real: the same phase, for the same reason
    wait_for(lambda: phase(up, "modeldeployments", OVER.ns, "big") == "Pending", 30, "big to be Pending")
    real = http_get(f"{up.url}/v1/namespaces/{OVER.ns}/modeldeployments/big", up.token)[1]["status"]
    ready = next(c for c in real["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == (item["predicted"]["reason"], item["predicted"]["message"])


@pytest.fixture
def governed(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path / "data", "--policy", str(write_policy(tmp_path / "policy.yaml"))).start()
    yield running
    running.stop()


def test_policy_test_reports_what_a_stricter_quota_and_a_new_binding_would_change(governed: Up,
                                                                                 tmp_path: Path) -> None:
    up = governed
    versions = {}
    for name, replicas in (("a", 2), ("b", 3), ("c", 2)):
        out = bosun(up, "apply", "-f", manifests(tmp_path, name, md(name, replicas=replicas)), token=TOKENS["alice"])
        assert "created" in out.stdout
        url = f"{up.url}/v1/namespaces/team-a/modeldeployments/{name}"
        versions[name] = wait_for(lambda u=url: (r := http_get(u, up.token))[0] == 200 and r[1], 10,
                                  f"{name} to be readable")
    denied = bosun(up, "delete", "md/a", "-n", "team-a", token=TOKENS["bob"], check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr
    over = bosun(up, "apply", "-f", manifests(tmp_path, "d", md("d", replicas=2)), token=TOKENS["alice"], check=False)
    assert "QuotaExceeded" in over.stderr
    wait_for(lambda: len(http_get(f"{up.url}/v1/audit?namespace=team-a", up.token)[1]["items"]) >= 5, 10,
             "the audit records")

    stricter = {"quotas": [{"namespace": "team-a", "limits": {"gpus": 4}}],
                "bindings": [{"principal": "bob", "role": "deployer"}]}
    proposal = write_policy(tmp_path / "proposal.yaml", stricter)
    report = json.loads(bosun(up, "policy", "test", str(proposal), "-o", "json").stdout)
    changed = {(c["principal"], c["verb"], c["name"], c["direction"]): c for c in report["changed"]}
    assert set(changed) == {("alice", "apply", "b", "allowed->denied"), ("bob", "delete", "a", "denied->allowed")}
    assert changed[("alice", "apply", "b", "allowed->denied")]["proposed"]["code"] == "QuotaExceeded"
    denied = changed[("alice", "apply", "b", "allowed->denied")]
    assert "gpus used 2 + requested 3 > limit 4" in denied["proposed"]["reason"]
    assert report["byPrincipal"] == {"alice": {"allowedToDenied": 1, "deniedToAllowed": 0},
                                     "bob": {"allowedToDenied": 0, "deniedToAllowed": 1}}
    assert report["byNamespace"] == {"team-a": {"allowedToDenied": 1, "deniedToAllowed": 1}}
    assert report["undetermined"] == 1  # d's refused spec was never recorded: its quota can't be re-judged

    # From c on: the namespace as it was then (a and b hold 5 GPUs), so c alone would now be refused.
    since = versions["c"]["metadata"]["resourceVersion"]
    late = json.loads(bosun(up, "policy", "test", str(proposal), "--since", str(since), "-o", "json").stdout)
    assert {(c["name"], c["direction"]) for c in late["changed"]} == {("c", "allowed->denied"),
                                                                      ("a", "denied->allowed")}
    assert "replayed" in bosun(up, "policy", "test", str(proposal)).stdout
    assert POLICY["quotas"][0]["limits"]["gpus"] == 8  # the live policy is untouched
    forbidden = bosun(up, "policy", "test", str(proposal), token=TOKENS["alice"], check=False)
    assert forbidden.returncode != 0 and "Forbidden" in forbidden.stderr


def specs(up: Up, kind: str, at: int | None = None, site: Site = REVERT) -> list[tuple[str, str, Any]]:
    """The site's resources of `kind` (its namespace's, and its pool), now or as of `at`."""
    code, body = http_get(f"{up.url}/v1/{kind}" + (f"?at={at}" if at is not None else ""), up.token)
    assert code == 200, body
    return sorted((o["metadata"]["namespace"], o["metadata"]["name"], o["spec"]) for o in body["items"]
                  if not o["metadata"].get("deletionRequested")
                  and (o["metadata"]["namespace"] == site.ns or o["metadata"]["name"] == site.pool))


def test_revert_restores_the_earlier_environment(up: Up, tmp_path: Path) -> None:
    bosun(up, "apply", "-f", manifests(tmp_path, "v1", pool(site=REVERT), REVERT.deployment("chat", 1)))
    wait_for(lambda: phase(up, "modeldeployments", REVERT.ns, "chat") == "Ready", 30, "chat to be Ready")
    point = last_seq(up, ("gpupool", "infra", REVERT.pool), ("modeldeployment", REVERT.ns, "chat"))
    before = {kind: specs(up, kind, point) for kind in ("modeldeployments", "gpupools")}

    bosun(up, "apply", "-f", manifests(tmp_path, "v2", REVERT.deployment("chat", 3), REVERT.deployment("embed", 1)))
    wait_for(lambda: phase(up, "modeldeployments", REVERT.ns, "embed") == "Ready", 30, "embed to be Ready")

    preview = json.loads(bosun(up, "revert", str(point), "--dry-run", "-o", "json").stdout)
    assert sorted((c["name"], c["action"]) for c in preview["changes"]) == [("chat", "apply"), ("embed", "delete")]
    planned = {i["name"]: i for i in preview["plan"]["items"]}
    assert planned["chat"]["action"] == "update" and planned["chat"]["predicted"]["phase"] == "Ready"
    assert planned["chat"]["predicted"]["fields"]["desiredReplicas"] == 1
    assert planned["embed"]["action"] == "delete" and planned["embed"]["predicted"]["phase"] == "Deleting"
    assert specs(up, "modeldeployments")[0][2]["replicas"] == 3  # a dry run writes nothing

    out = bosun(up, "revert", str(point), "--yes").stdout
    assert "chat apply: configured" in out and "embed delete: deleted" in out
    wait_for(lambda: all(specs(up, kind) == before[kind] for kind in before), 30, "the environment as of the point")
    wait_for(lambda: phase(up, "modeldeployments", REVERT.ns, "chat") == "Ready", 30, "chat Ready again")
    code, audit = http_get(f"{up.url}/v1/audit?name=embed&namespace={REVERT.ns}", up.token)
    assert code == 200 and any(r["verb"] == "delete" and r["decision"] == "allowed" for r in audit["items"])
