"""`POST /v1/access/review`: may I? The caller asks which of a few verbs RBAC grants it, on what.

The dashboard offers an action (scale, retry, delete, logs) only when the server says the token may do it,
instead of offering everything and showing refusals. Like Kubernetes' SelfSubjectAccessReview it answers
for the caller only, so it discloses nothing the caller could not learn by trying; nothing is audited (a
page asks on every view), and the answer is advice: every real request is still authorized on its own.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, post
from msgspec import Meta

from actors.controller import Registry
from core.names import CLUSTER_NS, Ref, name_problem
from gateway.http.glue import gateway

ReviewVerb = Literal["get", "list", "watch", "apply", "delete", "history", "audit", "logs", "diff"]
MAX_CHECKS = 50


class Check(msgspec.Struct, frozen=True, kw_only=True):
    verb: ReviewVerb
    kind: Annotated[str, Meta(min_length=1, max_length=63)]
    namespace: Annotated[str, Meta(max_length=63)] = ""
    """Empty: every namespace (a collection read)."""
    name: Annotated[str, Meta(max_length=253)] = ""


class Review(msgspec.Struct, frozen=True, kw_only=True):
    checks: Annotated[list[Check], Meta(min_length=1, max_length=MAX_CHECKS)]


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    verb: str
    kind: str
    namespace: str
    name: str
    allowed: bool
    reason: str = ""


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    principal: str
    results: list[Verdict]


@post("/v1/access/review", status_code=200, summary="Which of these verbs may the caller use (RBAC, self only)")
async def review(request: Request[Any, Any, Any], data: Review) -> Answer:
    gw = gateway(request)
    caller = gw.principal(request.headers.get("authorization"))
    results = []
    for check in data.checks:
        reason = _denial(gw.authorizer, caller, check, gw.registry)
        results.append(Verdict(verb=check.verb, kind=check.kind, namespace=check.namespace, name=check.name,
                               allowed=reason is None, reason=reason or ""))
    return Answer(principal=caller.name, results=results)


def _denial(authorizer: Any, caller: Any, check: Check, registry: Registry) -> str | None:
    info = registry.resolve(check.kind)
    if info is None:
        return f"unknown kind {check.kind!r}"
    for label, value in (("namespace", check.namespace), ("name", check.name)):
        problem = name_problem(value) if value else None
        if problem:
            return f"{label}: {problem}"
    if info.cluster_scoped:
        ref: Ref | None = Ref(info.key, CLUSTER_NS, check.name)
    else:
        ref = Ref(info.key, check.namespace, check.name) if check.namespace else None
    denial: str | None = authorizer.denial(caller, check.verb, info.name, ref)
    return denial


ROUTES = [review]
