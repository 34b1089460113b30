"""The audit hook: every admission decision — allowed, unchanged, denied, invalid — passes through `audit`.

For now it is a structured log line; a later issue persists records to the log for `GET /v1/audit`.
Never pass tokens here: only the principal's name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from gateway.metrics import ADMISSIONS

Result = Literal["allowed", "unchanged", "denied", "invalid", "conflict", "unavailable"]
_log = structlog.get_logger("bosun.audit")


@dataclass(frozen=True)
class Record:
    action: str  # "apply" | "delete"
    kind: str
    namespace: str
    name: str
    principal: str | None
    result: Result
    status: int
    code: str = ""
    reason: str = ""
    resource_version: int | None = None
    trace_id: str = ""


def audit(record: Record) -> None:
    ADMISSIONS.labels(record.action, record.result).inc()
    log = _log.bind(kind=record.kind, namespace=record.namespace, name=record.name)
    log.info("admission", action=record.action, principal=record.principal, result=record.result,
             status=record.status, code=record.code, reason=record.reason,
             resource_version=record.resource_version, trace_id=record.trace_id)


def result_of(status: int) -> Result:
    if status in (401, 403):
        return "denied"
    if status == 409:
        return "conflict"
    if status >= 500:
        return "unavailable"
    return "invalid"
