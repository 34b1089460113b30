"""`POST /v1/namespaces/{ns}/{kind}/{name}/retry`: ask a quarantined or failed resource to decide again."""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from gateway.admission.admit import Accepted
from gateway.http.glue import gateway, respond
from gateway.http.writes import RESOURCE, intent_of


@post(RESOURCE + "/retry", status_code=202, summary="Lift a quarantine: decide again (202 once in the log)")
async def retry_resource(request: Request[Any, Any, Any], ns: str, kind: str, name: str) -> Response[Accepted]:
    return respond(await gateway(request).admission.handle(intent_of(request, "retry", kind, ns, name)))


ROUTES = [retry_resource]
