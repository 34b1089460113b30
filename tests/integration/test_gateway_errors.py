"""Every bad input answers the structured error with the right status — and the stream stays unchanged."""
from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_gateway_support import AUTH, Env, deployment, env, path  # noqa: F401

MD = "modeldeployments"
JSON = {**AUTH, "Content-Type": "application/json"}
YAML = {**AUTH, "Content-Type": "application/yaml"}

CASES: list[tuple[str, str, bytes, dict[str, str], int, str | None]] = [
    ("malformed json", "chat", b'{"kind": "ModelDeployment", "spec": {', JSON, 400, None),
    ("sniffed malformed json", "chat", b'{"kind": ', AUTH, 400, None),
    ("yaml error", "chat", b"kind: ModelDeployment\nspec: [unclosed\n", YAML, 400, None),
    ("not an object", "chat", b"[1, 2]", JSON, 400, None),
    ("two documents", "chat", b"kind: ModelDeployment\n---\nkind: ModelDeployment\n", YAML, 400, None),
    ("wrong content type", "chat", b"{}", {**AUTH, "Content-Type": "text/plain"}, 415, None),
    ("unknown top-level field", "chat", None, JSON, 422, "$.bogus"),
    ("kind mismatch", "chat", None, JSON, 400, "$.kind"),
    ("name mismatch", "other", None, JSON, 400, "$.metadata.name"),
    ("negative replicas", "chat", None, JSON, 422, "$.spec.replicas"),
    ("autoscaling min > max", "chat", None, JSON, 422, "$.spec.autoscaling.min"),
    ("unknown spec field", "chat", None, JSON, 422, "$.spec.color"),
    ("missing spec", "chat", None, JSON, 422, "$.spec"),
    ("bad label", "chat", None, JSON, 422, "$.metadata.labels.bad key"),
]


def body_for(case: str) -> dict[str, Any]:
    doc = deployment("chat")
    match case:
        case "unknown top-level field":
            doc["bogus"] = 1
        case "kind mismatch":
            doc["kind"] = "GpuPool"
        case "name mismatch":
            pass
        case "negative replicas":
            doc["spec"]["replicas"] = -1
        case "autoscaling min > max":
            doc["spec"]["autoscaling"] = {"min": 5, "max": 2}
        case "unknown spec field":
            doc["spec"]["color"] = "blue"
        case "missing spec":
            del doc["spec"]
        case "bad label":
            doc["metadata"]["labels"] = {"bad key": "x"}
    return doc


@pytest.mark.parametrize(("case", "name", "raw", "headers", "status", "field"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input(env: Env, case: str, name: str, raw: bytes | None, headers: dict[str, str], status: int,
                         field: str | None) -> None:
    import msgspec

    before = await env.last_seq()
    data = raw if raw is not None else msgspec.json.encode(body_for(case))
    r = await env.client.put(path("demo", MD, name), content=data, headers=headers)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["message"]
    if field is not None:
        assert field in [d["field"] for d in error["details"]], error
    assert await env.last_seq() == before


@pytest.mark.parametrize("name", ["a.b", "a*", "a>", "a b", "Chat", "-x", "x" * 64])
async def test_bad_names_are_422_on_metadata_name(env: Env, name: str) -> None:
    before = await env.last_seq()
    r = await env.client.put(path("demo", MD, name), json=deployment(name), headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "$.metadata.name"
    bad_ns = await env.client.put(path(name, MD, "ok"), json=deployment("ok", ns=name), headers=AUTH)
    assert bad_ns.status_code == 422 and bad_ns.json()["error"]["details"][0]["field"] == "$.metadata.namespace"
    assert await env.last_seq() == before


async def test_unknown_kind_is_404(env: Env) -> None:
    before = await env.last_seq()
    r = await env.client.put(path("demo", "widgets", "w"), json={"kind": "Widget", "spec": {}}, headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "UnknownKind"
    assert (await env.client.get("/v1/widgets", headers=AUTH)).status_code == 404
    assert await env.last_seq() == before


async def test_oversized_body_is_413(env: Env) -> None:
    before = await env.last_seq()
    big = b'{"kind": "ModelDeployment", "pad": "' + b"x" * (1 << 20) + b'"}'
    r = await env.client.put(path("demo", MD, "chat"), content=big, headers=JSON)
    assert r.status_code == 413 and r.json()["error"]["code"] == "TooLarge"
    assert await env.last_seq() == before


async def test_yaml_body_is_accepted(env: Env) -> None:
    doc = b"kind: ModelDeployment\nmetadata: {name: y, namespace: demo}\nspec:\n  model: m\n  replicas: 1\n" \
          b"  placement: {region: us-west-2, gpu: a100}\n"
    r = await env.client.put(path("demo", MD, "y"), content=doc, headers=YAML)
    assert r.status_code == 202, r.text
    sniffed = await env.client.put(path("demo", MD, "y"), content=doc, headers=AUTH)
    assert sniffed.status_code == 202 and sniffed.json()["result"] == "unchanged"


async def test_framework_errors_use_the_error_shape(env: Env) -> None:
    r = await env.client.get("/nope", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    r = await env.client.post(path("demo", MD, "chat"), headers=AUTH)
    assert r.status_code == 405 and r.json()["error"]["code"] == "MethodNotAllowed"
    r = await env.client.get(path("demo", MD) + "?limit=abc", headers=AUTH)
    assert r.status_code == 400 and set(r.json()["error"]) == {"code", "message", "details"}
