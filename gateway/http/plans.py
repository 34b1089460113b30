"""What-if routes: `POST /v1/plan`, `POST /v1/policy/test`, `POST /v1/revert` (admission's side in `whatif/`,
the fork in `analysis.whatif`).

Plan and policy test only read the log. A plan needs what `diff` needs (`get` on each manifest's
resource); a policy test replays everyone's requests, so it needs `audit` across namespaces; a revert
applies its manifests as the caller through normal admission (audited, authorized, quota-checked),
after its plan if `dryRun` is false.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.params import Parameter

from actors.capacity import POOL_KIND
from actors.controller import Registry
from analysis.whatif.planner import Settings
from core.log import Unavailable
from core.names import Ref
from gateway.admission import Intent
from gateway.admission.auth import Authorizer, Principal, grants_any
from gateway.errors import ApiError, ErrorDetail, forbidden, malformed, unavailable
from gateway.http.diff import refuse_unless_any_allowed
from gateway.http.envtravel import parse_time
from gateway.http.glue import body_of, gateway
from gateway.http.whatif import policyservice, reverts, service
from gateway.http.whatif.policytest import PolicyTestReport
from gateway.http.whatif.service import PlanReport
from gateway.offload import parse, parse_one

Req = Request[Any, Any, Any]


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """The log unreachable while reading: 503 like every other route, never a 500."""
    try:
        yield
    except Unavailable as e:
        raise unavailable(f"the log is unavailable: {e}") from e


class RevertRequest(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    seq: Annotated[int, msgspec.Meta(ge=0)]
    dry_run: bool = True


class Applied(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: str
    namespace: str
    name: str
    action: str
    status: int
    result: str = ""
    error: Any = None


class RevertReport(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    seq: int
    upto: int
    changes: list[reverts.Change]
    plan: PlanReport | None = None
    applied: list[Applied] = []


@post("/v1/plan", status_code=200, summary="Predict what applying these manifests would do (a fork of the log)")
async def plan_route(request: Req, latency: Annotated[float | None, Parameter(ge=0, le=60)] = None,
                     seed: int | None = None) -> PlanReport:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    if not grants_any(gw.authorizer, principal):  # refused before its body is read or parsed, as diff does
        raise forbidden(f"{principal.name} may not plan anything: no role is bound to it")
    docs = await parse(await body_of(request), request.headers.get("content-type"))
    refuse_unless_any_allowed(docs, principal, gw.authorizer, gw.registry)
    defaults = Settings()
    settings = Settings(latency=defaults.latency if latency is None else latency,
                        seed=defaults.seed if seed is None else seed)
    with _reading():
        report = await service.plan(gw.log, docs, principal, gw.authorizer, settings=settings)
    return readable(report, principal, gw.authorizer, gw.registry)


def readable(report: PlanReport, principal: Principal, authorizer: Authorizer, registry: Registry) -> PlanReport:
    """The plan as `principal` may see it: only the pools and the other affected resources it may `get`
    (a plan used to show every pool's capacity and allocation to anyone who could post one)."""
    def may_get(kind: str, namespace: str, name: str) -> bool:
        info = registry.resolve(kind)
        ref = Ref(info.key, namespace, name) if info is not None else None
        return info is not None and authorizer.denial(principal, "get", info.name, ref) is None

    pools = [p for p in report.pools if may_get(POOL_KIND, *p.pool.split("/", 1))]
    affected = [a for a in report.affected if may_get(a.kind, a.namespace, a.name)]
    return msgspec.structs.replace(report, pools=pools, affected=affected)


@post("/v1/policy/test", status_code=200, summary="Replay recorded requests against a proposed policy")
async def policy_test_route(request: Req, since: str | None = None) -> PolicyTestReport:
    gw = gateway(request)
    principal = gw.principal(request.headers.get("authorization"))
    gw.allow(principal, "audit", None, None)  # type: ignore[arg-type]
    proposed = policyservice.proposal(await parse_one(await body_of(request), request.headers.get("content-type")))
    seq, when = _since(since)
    with _reading():
        return await policyservice.test(gw.log, proposed, seq, when)


@post("/v1/revert", status_code=200, summary="Restore every resource changed since a sequence (new intents)")
async def revert_route(request: Req) -> RevertReport:
    gw = gateway(request)
    authorization = request.headers.get("authorization")
    principal = gw.principal(authorization)
    try:
        body = msgspec.json.decode(await body_of(request), type=RevertRequest)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise malformed(f"a revert is {{seq, dryRun}}: {e}") from e
    with _reading():
        upto, changes = await reverts.changes_since(gw.log, body.seq)
    for change in changes:  # the manifests it shows are the resources': the caller must be able to read them
        ref = reverts.ref_of(change)
        gw.allow(principal, "get", gw.registry.kind(ref.kind), ref)
    if body.dry_run:
        docs = [c.manifest for c in changes if c.manifest is not None]
        deletes = [(c.kind, reverts.ref_of(c)) for c in changes if c.action == "delete"]
        with _reading():
            report = await service.plan(gw.log, docs, principal, gw.authorizer, deletes=deletes)
        return RevertReport(seq=body.seq, upto=upto, changes=changes, plan=readable(report, principal, gw.authorizer,
                                                                                gw.registry))
    applied = [await _apply(gw.admission, change, authorization) for change in changes]
    return RevertReport(seq=body.seq, upto=upto, changes=changes, applied=applied)


async def _apply(admission: Any, change: reverts.Change, authorization: str | None) -> Applied:
    ref = reverts.ref_of(change)
    outcome = await admission.handle(Intent(
        action="delete" if change.action == "delete" else "apply",
        kind=ref.kind, namespace=ref.namespace, name=ref.name,
        body=msgspec.json.encode(change.manifest) if change.manifest is not None else b"",
        content_type="application/json", authorization=authorization))
    body = msgspec.to_builtins(outcome.body)
    return Applied(change.kind, change.namespace, change.name, change.action, outcome.status,
                   result=body.get("result", ""), error=body.get("error"))


def _since(value: str | None) -> tuple[int, float | None]:
    if value is None or not value.strip():
        return 0, None
    if value.strip().isdigit():
        return int(value), None
    try:
        return 0, parse_time(value)
    except ValueError as e:
        raise ApiError(400, "Malformed", f"since must be a stream sequence or an RFC 3339 time, got {value!r}",
                       [ErrorDetail("since", str(e))]) from e


ROUTES = [plan_route, policy_test_route, revert_route]
