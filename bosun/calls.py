"""Each client method as data: the HTTP call it makes (`Call`) and how its answer reads. Pure, so the
synchronous and the asynchronous client are the same API over two transports."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bosun.errors import Invalid

DEFAULT_NAMESPACE = "default"
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    """None: the client's default."""


@dataclass(frozen=True)
class Applied:
    """The answer to a write: `result` is created, configured, unchanged, deleted or deleting."""

    kind: str
    namespace: str
    name: str
    result: str
    resource_version: int
    generation: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, address: tuple[str, str, str], body: dict[str, Any]) -> Applied:
        return cls(*address, result=str(body.get("result", "")), resource_version=int(body.get("resourceVersion", 0)),
                   generation=int(body.get("generation", 0)), raw=body)


def params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def resource(kind: str, namespace: str, name: str) -> str:
    return f"/v1/namespaces/{namespace}/{kind}/{name}"


def manifest_of(manifest: Manifest | str | bytes) -> Manifest:
    """A manifest as a dict: given as one, or as the YAML/JSON text of one document."""
    if isinstance(manifest, dict):
        return manifest
    import yaml

    try:
        doc = yaml.safe_load(manifest)
    except yaml.YAMLError as e:
        raise Invalid(400, "Malformed", f"malformed YAML: {' '.join(str(e).split())}") from e
    if not isinstance(doc, dict):
        raise Invalid(400, "Malformed", "a manifest must be one YAML/JSON object")
    return doc


def address(doc: Any, namespace: str | None = None) -> tuple[str, str, str]:
    """(kind, namespace, name) of a manifest, for its URL; the server validates the rest."""
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or not doc["kind"]:
        raise Invalid(400, "Invalid", "every manifest needs a kind")
    meta = _metadata(doc)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise Invalid(400, "Invalid", f"a {doc['kind']} manifest has no metadata.name")
    return doc["kind"], str(meta.get("namespace") or namespace or DEFAULT_NAMESPACE), name


def _metadata(doc: Manifest) -> dict[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def version_of(doc: Manifest) -> str | None:
    """`metadata.resourceVersion` of a manifest (what `bosun get -o yaml` wrote): its If-Match."""
    value = _metadata(doc).get("resourceVersion")
    return None if value is None or value == "" else str(value)


def apply(manifest: Manifest | str | bytes, namespace: str | None, if_match: int | str | None,
          force: bool) -> tuple[Call, tuple[str, str, str]]:
    doc = manifest_of(manifest)
    where = address(doc, namespace)
    match = None if force else (if_match if if_match is not None else version_of(doc))
    headers = {"If-Match": str(match)} if match is not None else {}
    return Call("PUT", resource(*where), json=doc, headers=headers), where


def delete(kind: str, name: str, namespace: str, if_match: int | str | None) -> Call:
    headers = {"If-Match": str(if_match)} if if_match is not None else {}
    return Call("DELETE", resource(kind, namespace, name), headers=headers)


def retry(kind: str, name: str, namespace: str) -> Call:
    return Call("POST", resource(kind, namespace, name) + "/retry")


def bundle(refs: list[str], everything: bool, up_to: int | None) -> Call:
    return Call("GET", "/v1/bundle", params(ref=refs or None, all="true" if everything else None, upTo=up_to),
                timeout=600.0)


def get(kind: str, name: str, namespace: str, at: int | None, at_time: str | None,
        min_version: int | None) -> Call:
    return Call("GET", resource(kind, namespace, name), params(at=at, atTime=at_time, minVersion=min_version))


def page(kind: str, namespace: str | None, selector: str | None, phase: str | None, limit: int | None,
         at: int | None, at_time: str | None, token: str | None) -> Call:
    path = f"/v1/namespaces/{namespace}/{kind}" if namespace else f"/v1/{kind}"
    return Call("GET", path, params(labelSelector=selector, phase=phase, limit=limit, at=at, atTime=at_time,
                                    **{"continue": token}))


def replicas(kind: str, name: str, namespace: str) -> Call:
    return Call("GET", resource(kind, namespace, name) + "/replicas")


def history(kind: str, name: str, namespace: str, since: int | None, types: list[str] | None,
            limit: int | None) -> Call:
    return Call("GET", resource(kind, namespace, name) + "/history",
                params(since=since, limit=limit, type=",".join(types) if types else None))


def watch(kind: str | None, namespace: str | None, selector: str | None, phase: str | None, refs: list[str],
          since: int | None, timeout: float | None, bookmarks: bool) -> Call:
    """`timeout`: the server ends the stream then (whole seconds, rounded up)."""
    return Call("GET", "/v1/watch", params(
        kind=kind, namespace=namespace, labelSelector=selector, phase=phase, ref=refs or None,
        resourceVersion=since, bookmarks="true" if bookmarks else None,
        timeoutSeconds=None if timeout is None else max(0, math.ceil(timeout))))
