"""`GET /v1/audit`: who did what, allowed or denied, and why — readable only with the `audit` verb.

Filters: principal, namespace, kind, name, decision, since (RFC 3339 or epoch seconds); newest first,
`limit`/`continue` pagination. Authorization is scoped like any read: a principal allowed to `audit`
in one namespace must ask for that namespace.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter

from core.names import Ref
from gateway.admission.validation import resolve_kind
from gateway.errors import malformed
from gateway.http.glue import gateway

Filter = Annotated[str | None, Parameter()]


@get("/v1/audit", summary="Audit records of admission decisions, newest first")
async def list_audit(request: Request[Any, Any, Any], principal: Filter = None, namespace: Filter = None,
                     kind: Filter = None, name: Filter = None, decision: Filter = None, since: Filter = None,
                     limit: Annotated[int, Parameter(query="limit", ge=1, le=1000)] = 100,
                     continue_token: Annotated[str | None, Parameter(query="continue")] = None) -> dict[str, Any]:
    gw = gateway(request)
    caller = gw.principal(request.headers.get("authorization"))
    info = resolve_kind(kind, gw.registry) if kind else None
    scope = Ref(info.key if info else "*", namespace, "") if namespace else None
    gw.allow(caller, "audit", info, scope)
    filters = {"principal": principal, "namespace": namespace, "kind": info.name if info else None,
               "name": name, "decision": decision}
    try:
        items, more = await gw.reads.audit(filters, parse_since(since), limit, continue_token)
    except ValueError as e:
        raise malformed(str(e)) from e
    return {"items": items, "continue": more}


def parse_since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise malformed(f"since must be RFC 3339 or epoch seconds, got {value!r}", "since") from e
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


ROUTES = [list_audit]
