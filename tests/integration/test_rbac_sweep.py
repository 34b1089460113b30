"""RBAC on every route, swept: every operation of the live OpenAPI document, as principals without rights.

Generated from `/openapi.json` of a real `bosun up --policy`, over HTTP: a route added later is swept the day
it is documented, with no test to write. Each operation is sent twice — with only its required parameters,
and with every parameter that names a namespace, kind, resource or ref pointed at the target namespace —
by each stranger:

- `anonymous`: no token at all -> 401;
- `nobody`: a known Principal with no RoleBinding -> 401, 403 or 404;
- `neighbour`: a Principal with every verb on every kind, in another namespace only -> 401, 403 or 404;

and no answer may carry data of the target namespace (markers only the seeded resources hold). The admin
sends the same requests that have no effect (reads, dry runs), so a refusal is known to come from RBAC and
not from a malformed request; the writes' refusals are checked to have written nothing.

`Door` is the seam for the other half: the same strangers against every NATS subject a client may touch
(intents, and the rest once the identities work lands) is a second `Door` over the same cases.
"""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import pytest
import yaml

from tests.integration.test_up_support import Up, http_get, wait_for

TARGET, ELSEWHERE = "target", "elsewhere"
MODEL, LABEL, POOL = "marker-model-5e81", "marker-label-c9d2", "marker-pool-7f3a"
MARKERS = (MODEL, LABEL, POOL)
"""Strings only the target namespace's resources (and the pool they use) hold: never in a stranger's answer."""
TOKENS = {"nobody": "nobody-token-1c7e5a90b2", "neighbour": "neighbour-token-4d8b1f63ae"}
STRANGERS = (None, "nobody", "neighbour")
POLICY = {
    "principals": [{"name": n, "tokenSha256": hashlib.sha256(t.encode()).hexdigest()} for n, t in TOKENS.items()],
    "roles": [{"name": "owner", "rules": [{"verbs": ["*"], "kinds": ["*"], "namespaces": [ELSEWHERE]}]}],
    "bindings": [{"principal": "neighbour", "role": "owner"}],
}
DEPLOYMENT = {"kind": "ModelDeployment", "metadata": {"name": "secret-md", "namespace": TARGET,
                                                      "labels": {"team": LABEL}},
              "spec": {"model": MODEL, "replicas": 1, "placement": {"region": "us-west-2", "gpu": "a100"}}}
PATH_VALUES = {"ns": TARGET, "kind": "modeldeployments", "name": "secret-md", "replica": "secret-md-1"}
TARGETING = {"namespace": TARGET, "kind": "modeldeployment", "name": "secret-md",
             "ref": f"modeldeployment/{TARGET}/secret-md", "principal": "admin"}
"""Query parameters that point an operation at the target (the rest keep their defaults)."""
NO_EFFECT = {"GET", "HEAD"}
DRY = {"/v1/diff", "/v1/plan", "/v1/policy/test", "/v1/revert"}
"""POST routes that change nothing (the revert is sent with `dryRun`): the admin may send them too."""
DISCOVERY = {"/v1/kinds", "/v1/access/review"}
"""Routes any authenticated principal may use, rights or not: what kinds the plane serves (like Kubernetes'
discovery) and what the caller itself may do (its SelfSubjectAccessReview), never a resource. Strangers
may get 200 there, but no marker; anonymous still gets 401."""


@dataclass
class Case:
    method: str
    path: str
    """The concrete path (parameters filled in)."""
    template: str
    query: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    public: bool = False

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}{'?' + urlencode(self.query) if self.query else ''}"


class Door(Protocol):
    """How a case reaches Bosun: answers (status, body text)."""

    def send(self, case: Case, token: str | None) -> tuple[int, str]: ...


class HttpDoor:
    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, case: Case, token: str | None) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"} if case.body is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = self.url + case.path + ("?" + urlencode(case.query) if case.query else "")
        req = urllib.request.Request(url, data=case.body, method=case.method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")


def cases(doc: dict[str, Any], since: int) -> list[Case]:
    """Two cases per operation of `doc`: required parameters only, and every targeting one set."""
    found: list[Case] = []
    for template, operations in sorted(doc["paths"].items()):
        for method, op in sorted(operations.items()):
            if not isinstance(op, dict) or "responses" not in op:
                continue
            params = op.get("parameters", [])
            path = template
            for p in params:
                if p["in"] == "path":
                    path = path.replace("{" + p["name"] + "}", PATH_VALUES[p["name"]])
            required = {p["name"]: _required(p["name"]) for p in params if p["in"] == "query" and p.get("required")}
            targeting = {**required, **{p["name"]: TARGETING[p["name"]] for p in params
                                        if p["in"] == "query" and p["name"] in TARGETING}}
            if template == "/v1/watch":  # the initial state, then the stream ends
                required["timeoutSeconds"] = targeting["timeoutSeconds"] = "0"
            public = op.get("security") == []
            body = _body(method.upper(), template, since) if "requestBody" in op or template in DRY else None
            for query in ([required, targeting] if targeting != required else [required]):
                found.append(Case(method.upper(), path, template, dict(query), body, public))
    return found


def _required(name: str) -> str:
    return {"from": "0"}.get(name, TARGETING.get(name, "x"))


def _body(method: str, template: str, since: int) -> bytes:
    if template == "/v1/revert":
        return json.dumps({"seq": since, "dryRun": True}).encode()
    if template == "/v1/policy/test":
        return json.dumps({"roles": [], "bindings": []}).encode()
    if template == "/v1/access/review":
        return json.dumps({"checks": [{"verb": v, "kind": "modeldeployment", "namespace": TARGET, "name": "secret-md"}
                                      for v in ("get", "logs", "delete")]}).encode()
    return json.dumps(DEPLOYMENT).encode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Up, int]]:
    """`bosun up` with the strangers' policy; the target namespace seeded; the sequence before it."""
    root = Path(tmp_path_factory.mktemp("rbac"))
    (root / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    up = Up(root / "data", "--policy", str(root / "policy.yaml")).start()
    try:
        since = _put(up, {"kind": "GpuPool", "metadata": {"name": POOL, "namespace": "infra"},
                          "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 4}})
        _put(up, DEPLOYMENT)
        wait_for(lambda: http_get(f"{up.url}/v1/namespaces/{TARGET}/modeldeployments/secret-md", up.token)[0] == 200,
                 60, "the seeded deployment in the read model")
        yield up, since
    finally:
        up.stop()


def _put(up: Up, manifest: dict[str, Any]) -> int:
    md = manifest["metadata"]
    plural = manifest["kind"].lower() + "s"
    req = urllib.request.Request(f"{up.url}/v1/namespaces/{md['namespace']}/{plural}/{md['name']}",
                                 data=json.dumps(manifest).encode(), method="PUT",
                                 headers={"Authorization": f"Bearer {up.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 202
        return int(json.loads(r.read())["resourceVersion"])


def _state(up: Up) -> tuple[Any, ...]:
    """What a refused write must not change: the target's object and the names in both namespaces."""
    _, obj = http_get(f"{up.url}/v1/namespaces/{TARGET}/modeldeployments/secret-md", up.token)
    names = tuple(sorted(o["metadata"]["name"] for ns in (TARGET, ELSEWHERE)
                         for o in http_get(f"{up.url}/v1/namespaces/{ns}/modeldeployments", up.token)[1]["items"]))
    return obj["metadata"]["resourceVersion"], obj["metadata"]["generation"], obj["spec"], names


def test_every_operation_refuses_strangers_and_shows_them_nothing(live: tuple[Up, int]) -> None:
    up, since = live
    code, doc = http_get(up.url + "/openapi.json")
    assert code == 200
    swept = cases(doc, since)
    assert {c.template for c in swept} >= {"/v1/cost", "/v1/controllers", "/v1/projections/rebuild",
                                          "/v1/namespaces/{ns}/{kind}/{name}/retry", "/v1/revert"}
    door: Door = HttpDoor(up.url)
    tokens = {None: None, **TOKENS}
    before = _state(up)
    failures: list[str] = []
    checked = 0
    valid: set[str] = set()
    for case in swept:
        if case.public:
            continue
        if case.method in NO_EFFECT or case.template in DRY:  # what the admin gets: is it a valid request?
            status, body = door.send(case, up.token)
            assert status not in (401, 403), f"{case.name} as admin: {status} {body[:200]}"
            if status in (400, 422):
                continue  # malformed for everyone: strangers may be told so (its targeting form is swept)
        valid.add(f"{case.method} {case.template}")
        for who in STRANGERS:
            status, body = door.send(case, tokens[who])
            checked += 1
            allowed = (401,) if who is None else (200, 401, 403, 404) if case.template in DISCOVERY else (401, 403, 404)
            leaked = [m for m in MARKERS if m in body]
            if status not in allowed or leaked:
                leaks = f"leaks {leaked} " if leaked else ""
                failures.append(f"{case.name} as {who or 'anonymous'}: {status} {leaks}{body[:200]}")
    assert not failures, "\n".join(failures)
    operations = {f"{c.method} {c.template}" for c in swept if not c.public}
    assert valid == operations, f"no valid request was swept for {operations - valid}"
    assert checked >= 3 * len(operations) >= 3 * 18
    assert _state(up) == before, "a refused write changed something"
