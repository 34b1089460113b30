"""Spans of the gateway: one SERVER span per API request, one `admission` span per intent.

The request span continues a caller's `traceparent` when it sends one. Admission runs inside it (or,
for NATS intents, continues the intent's `traceparent`), and the spec append inside admission stamps the
event with its own span's context: the controller, the driver and the projector continue that trace.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from core import kinds, tracing
from core.names import Ref


def ref_of_path(path: str) -> Ref | None:
    """`/v1/namespaces/{ns}/{kind}/{name}[/...]` -> the resource it names (kind as its key), else None."""
    parts = path.strip("/").split("/")
    if len(parts) < 5 or parts[:2] != ["v1", "namespaces"]:
        return None
    info = kinds.resolve(parts[3])
    return Ref(info.key if info else parts[3].lower(), parts[2], parts[4])


@contextlib.contextmanager
def request_span(scope: Any) -> Iterator[Span | None]:
    path = str(scope.get("path", ""))
    if not path.startswith("/v1/"):
        yield None
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    method = str(scope.get("method", ""))
    with tracing.span(f"{method} {path}", parent=headers.get(tracing.TRACEPARENT), ref=ref_of_path(path),
                      kind=SpanKind.SERVER, attributes={"http.request.method": method, "url.path": path},
                      root=True) as sp:
        yield sp


def finish_request(sp: Span | None, method: str, route: str, status: int) -> None:
    if sp is None:
        return
    sp.update_name(f"{method} {route}")
    sp.set_attribute("http.route", route)
    sp.set_attribute("http.response.status_code", status)
    if status >= 500:
        tracing.fail(sp, f"HTTP {status}")


@contextlib.contextmanager
def admission_span(action: str, kind: str, namespace: str, name: str, traceparent: str | None
                   ) -> Iterator[Callable[[int, int | None], None]]:
    """The admission span: child of the request span when there is one, else of the intent's traceparent.

    Yields `admitted(status, resource_version)`, which records the outcome on both spans.
    """
    outer = trace.get_current_span()
    inside = outer.get_span_context().is_valid
    parent = None if inside else traceparent
    info = kinds.resolve(kind)
    ref = Ref(info.key if info else kind.lower(), namespace, name)
    with tracing.span(f"admission {action}", parent=parent, ref=ref, attributes={"bosun.action": action},
                      root=not inside) as sp:

        def admitted(status: int, resource_version: int | None) -> None:
            if resource_version is not None:
                tracing.set_seq(sp, resource_version)
                tracing.set_seq(outer, resource_version)
            sp.set_attribute("bosun.status", status)
            if status >= 400:
                tracing.fail(sp, f"refused with {status}")

        yield admitted
