"""The audit hook: every admission decision — allowed, unchanged, denied, invalid — passes through `audit`.

For now it is a structured log line; a later issue persists records to the log for `GET /v1/audit`.
Never pass tokens here: only the principal's name.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

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
    _decisions(record.action, record.result).inc()
    _log.info("admission", kind=record.kind, namespace=record.namespace, name=record.name, action=record.action,
              principal=record.principal, result=record.result, status=record.status, code=record.code,
              reason=record.reason, resource_version=record.resource_version, trace_id=record.trace_id)


@functools.cache
def _decisions(action: str, result: str) -> Any:
    """The counter child of one label pair (a `labels()` lookup takes a lock and validates every call)."""
    return ADMISSIONS.labels(action, result)


def result_of(status: int) -> Result:
    if status in (401, 403):
        return "denied"
    if status == 409:
        return "conflict"
    if status >= 500:
        return "unavailable"
    return "invalid"
