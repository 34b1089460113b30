"""`POST /v1/diff`: manifests in, per-resource plan out — what `apply` would do, without doing it.

Each document is judged by the same `validate` as admission and compared with the log's current spec,
so "unchanged" here means exactly "apply would append nothing". It is also the server-side dry-run of a
whole set (`bosun apply` sends every document here before writing any): `?verb=apply` authorizes each
as the apply would, and a document's `metadata.resourceVersion` is checked as its If-Match would be.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, post
from litestar.params import Parameter

from actors.controller import DEFAULT, Registry
from core.log import Log
from gateway.admission import current
from gateway.admission.admit import check_if_match, parse_if_match, sets_code
from gateway.admission.auth import Authorizer, Principal, Verb, authorize, grants_any
from gateway.admission.validation import DEFAULT_NAMESPACE, validate
from gateway.errors import ApiError, ErrorInfo, forbidden
from gateway.http.glue import body_of, gateway
from gateway.offload import parse

PlanAction = Literal["create", "update", "unchanged", "invalid"]
_MISSING: Any = None


class Change(msgspec.Struct, frozen=True):
    path: str
    from_: Any = msgspec.field(name="from")
    to: Any = None


class PlanItem(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: str
    namespace: str
    name: str
    action: PlanAction
    diff: list[Change] = []
    error: ErrorInfo | None = None


class Plan(msgspec.Struct, frozen=True):
    items: list[PlanItem]


def refuse_unless_any_allowed(docs: list[Any], principal: Principal, authorizer: Authorizer,
                              registry: Registry = DEFAULT, verb: Verb = "diff") -> None:
    """Refuse (403) a request whose every document the caller may not `verb` (`diff`, or `apply` for a dry run).

    Why the whole request: judged item by item it would still answer 200 with what the route computes
    around the items — a plan's pools and predictions named a pool of a namespace the caller cannot read
    (found by the RBAC sweep, `tests/integration/test_rbac_sweep.py`). A request with at least one
    document the caller may see (or one that is merely invalid) is judged item by item, as before."""
    refusal: ApiError | None = None
    for doc in docs:
        try:
            valid = validate(doc, registry=registry)
            authorize(authorizer, principal, verb, valid.info.name, valid.ref)
        except ApiError as e:
            if e.status != 403:
                return
            refusal = refusal or e
            continue
        return
    if refusal is not None:
        raise refusal


async def plan(log: Log, docs: list[Any], principal: Principal, authorizer: Authorizer,
               registry: Registry = DEFAULT, verb: Verb = "diff") -> Plan:
    return Plan([await plan_one(log, doc, principal, authorizer, registry, verb) for doc in docs])


async def plan_one(log: Log, doc: Any, principal: Principal, authorizer: Authorizer,
                   registry: Registry = DEFAULT, verb: Verb = "diff") -> PlanItem:
    try:
        valid = validate(doc, registry=registry)
        authorize(authorizer, principal, verb, valid.info.name, valid.ref)
        if_match = parse_if_match(_version_in(doc))
    except ApiError as e:
        return _invalid(doc, e)
    now = await current.read(log, valid.info, valid.ref)
    item = PlanItem(valid.info.name, valid.ref.namespace, valid.ref.name, "create")
    desired = {"metadata": {"labels": valid.labels}, "spec": valid.spec}
    try:
        check_if_match(if_match, now)
        if verb == "apply" and sets_code(valid.info, now.spec if now.state == "live" else None, valid.spec):
            authorize(authorizer, principal, "exec", valid.info.name, valid.ref)  # as admission will
    except ApiError as e:
        return msgspec.structs.replace(item, action="invalid", error=e.body.error)
    if now.state == "deleting":
        error = ApiError(409, "BeingDeleted", "the resource is being deleted")
        return msgspec.structs.replace(item, action="invalid", error=error.body.error)
    if now.state != "live":
        return msgspec.structs.replace(item, diff=changes({}, desired))
    found = changes({"metadata": {"labels": now.labels or {}}, "spec": now.spec or {}}, desired)
    return msgspec.structs.replace(item, action="update" if found else "unchanged", diff=found)


def changes(before: Any, after: Any, path: str = "$") -> list[Change]:
    """Leaf-level differences between two JSON values (lists compare whole: their order matters)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[Change] = []
        for key in sorted(set(before) | set(after), key=str):
            out.extend(changes(before.get(key, _MISSING), after.get(key, _MISSING), f"{path}.{key}"))
        return out
    if before == after and (type(before) is type(after) or _numbers(before, after)):
        return []
    if isinstance(after, dict) and before is None:
        return changes({}, after, path)
    if isinstance(before, dict) and after is None:
        return changes(before, {}, path)
    return [Change(path, before, after)]


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _version_in(doc: dict[str, Any]) -> str | None:
    """`metadata.resourceVersion` as an If-Match header would carry it (None: absent)."""
    meta = doc.get("metadata")
    value = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return None if value is None or value == "" else str(value)


def _invalid(doc: Any, error: ApiError) -> PlanItem:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return PlanItem(str(kind or ""), str(meta.get("namespace") or DEFAULT_NAMESPACE), str(meta.get("name") or ""),
                    "invalid", error=error.body.error)


@post("/v1/diff", status_code=200, summary="Plan of what applying these manifests would do")
async def diff_route(request: Request[Any, Any, Any],
                     verb: Annotated[Literal["diff", "apply"], Parameter(query="verb")] = "diff") -> Plan:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    if not grants_any(gw.authorizer, principal):  # refused before its body is read or parsed
        raise forbidden(f"{principal.name} may not diff anything: no role is bound to it")
    docs = await parse(await body_of(request), request.headers.get("content-type"))
    refuse_unless_any_allowed(docs, principal, gw.authorizer, gw.registry, verb)
    return await plan(gw.log, docs, principal, gw.authorizer, gw.registry, verb)


ROUTES = [diff_route]
