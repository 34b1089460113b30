"""The OpenAPI document as the wire really is, so clients can be generated from it.

Litestar derives paths, parameters and success bodies from the handlers, but documents its own
`{status_code, detail}` for 400 and nothing else. Every refusal of this API is `{"error": {...}}` and can
come from middleware (431, 413) as well as from a handler, so the error responses are added here to every
operation, generically: routes other modules add later get them too. Also added: the request bodies the
write routes read raw (JSON or YAML manifests), the headers they read (`If-Match`, `Last-Event-ID`) and
bearer authentication; and every kind served: `<Kind>` (the object), `<Kind>Manifest` (what a write takes,
its spec schema generated from the kind's msgspec type, `gateway.schemas`), so editors can validate files.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from core.kinds import KindInfo
from gateway import schemas
from gateway.errors import ErrorBody

_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Your name for this request: a resend with the same key (same principal, same "
                   "body) while its write is still the resource's last answers that write's 202 "
                   "instead of applying again or 409",
}

ERRORS = {
    400: "Malformed request: syntax, a parameter, a header or a document over the bounds",
    401: "No or unknown bearer token",
    403: "Forbidden by policy, or over quota",
    404: "No such resource, kind or route",
    405: "Method not allowed on this route",
    409: "Conflict: If-Match mismatch, being deleted, or too many concurrent writers",
    413: "Body over 1 MiB",
    415: "Content type is neither JSON nor YAML",
    422: "Schema validation failed (details name the fields)",
    431: "Request headers over the limits",
    503: "The log is unavailable (or, on /readyz, not ready)",
}
PUBLIC = {"/healthz", "/readyz"}
"""Routes that need no bearer token."""
_MANIFEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "kind": {"type": "string"},
        "apiVersion": {"type": "string"},
        "metadata": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {"type": "object"},
    },
}


def _bodies(manifest: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        ("put", "/v1/namespaces/{ns}/{kind}/{name}"): {
            "required": True,
            "content": {
                "application/json": {"schema": manifest},
                "application/yaml": {"schema": {"type": "string"}},
            },
        },
        ("post", "/v1/diff"): {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [manifest, {"type": "array", "items": manifest}]}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        },
    }
_HEADERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("put", "/v1/namespaces/{ns}/{kind}/{name}"): [
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "Apply only if the resource's resourceVersion is still this one (409 otherwise)",
        },
        _IDEMPOTENCY_KEY,
    ],
    ("delete", "/v1/namespaces/{ns}/{kind}/{name}"): [
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "Delete only if the resource's resourceVersion is still this one",
        },
        _IDEMPOTENCY_KEY,
    ],
    ("get", "/v1/watch"): [
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "Resume after this event id (a stream sequence)",
        }
    ],
}


_EVENT = {
    "type": "object",
    "description": "One Server-Sent Event (`GET /v1/watch`)",
    "properties": {
        "event": {"type": "string", "enum": ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]},
        "id": {"type": "string", "description": "The stream sequence of the change"},
        "data": {"type": "string", "description": "JSON: the object; `{}` for BOOKMARK; `{error}` for ERROR"},
    },
}
_MEDIA = {("get", "/v1/watch"): ("text/event-stream", _EVENT)}
"""Success bodies Litestar cannot type (streams): media type, and the schema of each event."""


def complete(document: dict[str, Any], kinds: list[KindInfo] | None = None) -> dict[str, Any]:
    """`document` (Litestar's) with the error responses, bodies, headers and security of the wire, and the
    schemas of `kinds`."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    found = components.setdefault("schemas", {})
    (error_schema,), defs = msgspec.json.schema_components(
        [ErrorBody], ref_template="#/components/schemas/{name}"
    )
    found.update(defs)
    manifest = _MANIFEST
    if kinds:
        found.update(schemas.components(kinds))
        manifest = {"oneOf": [{"$ref": f"#/components/schemas/{k.name}Manifest"} for k in kinds]}
    components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    doc["security"] = [{"bearer": []}]
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            _complete_operation(method, path, op, error_schema, manifest)
    return doc


def _complete_operation(method: str, path: str, op: dict[str, Any], error_schema: dict[str, Any],
                        manifest: dict[str, Any]) -> None:
    responses = op["responses"]
    for status, description in ERRORS.items():
        responses[str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": error_schema}},
        }
    if path in PUBLIC:
        op["security"] = []
    media = _MEDIA.get((method, path))
    ok = responses.get("200")
    if media is not None and isinstance(ok, dict):
        ok["content"] = {media[0]: {"schema": media[1]}}
    body = _bodies(manifest).get((method, path))
    if body is not None and "requestBody" not in op:
        op["requestBody"] = body
    names = {p.get("name", "").lower() for p in op.get("parameters", [])}
    extra = [h for h in _HEADERS.get((method, path), []) if h["name"].lower() not in names]
    if extra:
        op.setdefault("parameters", []).extend(extra)
