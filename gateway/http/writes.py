"""`PUT` and `DELETE` of a resource: thin adapters from an HTTP request to an admission Intent.

`gateway/http/asgi.py` answers these two routes before Litestar routes them (same contract, less CPU); the
handlers here describe them in the OpenAPI document and serve the path's other forms (a trailing slash).
"""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, put

from core import headers as H
from gateway.admission.admit import Accepted, Action, Intent
from gateway.http.glue import body_of, gateway, respond

RESOURCE = "/v1/namespaces/{ns:str}/{kind:str}/{name:str}"


def intent_of(request: Request[Any, Any, Any], action: Action, kind: str, ns: str, name: str,
              body: bytes = b"") -> Intent:
    h = request.headers
    return Intent(action=action, kind=kind, namespace=ns, name=name, body=body,
                  content_type=h.get("content-type"), authorization=h.get(H.AUTHORIZATION.lower()),
                  if_match=h.get("if-match"), traceparent=h.get(H.TRACEPARENT),
                  idempotency_key=h.get("idempotency-key"))


@put(RESOURCE, status_code=202, summary="Apply a manifest (202 once durably in the log)")
async def apply_resource(request: Request[Any, Any, Any], ns: str, kind: str, name: str) -> Response[Accepted]:
    gw = gateway(request)
    if not request.headers.get("authorization"):  # don't read (or size-check) bodies of strangers
        return respond(await gw.admission.handle(intent_of(request, "apply", kind, ns, name)))
    body = await body_of(request)
    return respond(await gw.admission.handle(intent_of(request, "apply", kind, ns, name, body)))


@delete(RESOURCE, status_code=202, summary="Request deletion (202; gone once finalizers ran)")
async def delete_resource(request: Request[Any, Any, Any], ns: str, kind: str, name: str) -> Response[Accepted]:
    return respond(await gateway(request).admission.handle(intent_of(request, "delete", kind, ns, name)))


ROUTES = [apply_resource, delete_resource]
