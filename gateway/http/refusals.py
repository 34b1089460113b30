"""Audit records for refused requests that never reach admission (reads, diff, watch, header limits).

Admission audits every write decision itself. Every other request the gateway refuses (401, 403, 400,
404, 413, 431, a bug's 500) also leaves a record, so "who tried what" has one answer: `GET /v1/audit`.
Successful reads are not audited (they change nothing, and there are many). The record names the
principal when the credentials are good, `anonymous` otherwise; the token itself never.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from core.audit import ANONYMOUS, UNKNOWN_NS, AuditRecord, decision_of
from gateway.errors import ApiError
from gateway.http.context import Gateway

_VERBS = {"GET": "read", "HEAD": "read", "POST": "post", "PUT": "apply", "DELETE": "delete", "PATCH": "patch"}


def principal_name(gw: Gateway, authorization: str | None) -> str:
    if not authorization:
        return ANONYMOUS
    try:
        return gw.principal(authorization).name
    except ApiError:
        return ANONYMOUS
    except Exception:  # noqa: BLE001 - a broken authenticator must not hide the refusal's record
        return ANONYMOUS


def record(
    gw: Gateway, method: str, path: str, params: Mapping[str, Any], authorization: str | None, error: ApiError
) -> None:
    """Submit the audit record of one refused HTTP request (pipelined, like admission's)."""
    namespace = str(params.get("ns") or UNKNOWN_NS)[:253]
    gw.admission.recorder.submit(
        AuditRecord(
            time=time.time(),
            principal=principal_name(gw, authorization),
            verb=_VERBS.get(method, "other"),
            kind=str(params.get("kind") or "")[:253],
            namespace=namespace,
            name=str(params.get("name") or path)[:253],
            decision=decision_of(error.status, error.code),
            reason=error.message[:1000],
            code=error.code,
            status=error.status,
            source="http",
        )
    )


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None
