"""Spans of the gateway: one SERVER span per API request, one `admission` span per intent.

The request span continues a trusted caller's `traceparent` (the admin's: operators' own tooling); anyone
else's starts a new trace linked to theirs, so no tenant can graft its work onto another's trace. Admission
runs inside it (or, for NATS intents, follows the same rule for the intent's `traceparent`), and the spec
append inside admission stamps the event with its own span's context: the controller, the driver and the
projector continue that trace.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from actors.controller import DEFAULT, Registry
from core import tracing
from core.names import Ref

_FROM_SCOPE: Any = object()


def ref_of_path(path: str, registry: Registry = DEFAULT) -> Ref | None:
    """`/v1/namespaces/{ns}/{kind}/{name}[/...]` -> the resource it names (kind as its key), else None."""
    parts = path.strip("/").split("/")
    if len(parts) < 5 or parts[:2] != ["v1", "namespaces"]:
        return None
    info = registry.resolve(parts[3])
    return Ref(info.key if info else parts[3].lower(), parts[2], parts[4])


@contextlib.contextmanager
def request_span(scope: Any, traceparent: Any = _FROM_SCOPE, registry: Registry = DEFAULT,
                 trusted: bool = False) -> Iterator[Span | None]:
    """The SERVER span of an API request (None outside `/v1/`): continuing `traceparent` (default: the
    request's header) when the caller is `trusted`, else a new trace linked to it."""
    path = str(scope.get("path", ""))
    if not path.startswith("/v1/"):
        yield None
        return
    if traceparent is _FROM_SCOPE:
        traceparent = _header(scope, b"traceparent")
    method = str(scope.get("method", ""))
    parent, links = inbound(traceparent, trusted)
    with tracing.span(f"{method} {path}", parent=parent, links=links, ref=ref_of_path(path, registry),
                      kind=SpanKind.SERVER, attributes={"http.request.method": method, "url.path": path},
                      root=True) as sp:
        yield sp


def inbound(traceparent: str | None, trusted: bool) -> tuple[str | None, tuple[str, ...]]:
    """(parent, links) for a caller's `traceparent`: its child when trusted, else a link from a new trace."""
    if not traceparent:
        return None, ()
    return (traceparent, ()) if trusted else (None, (traceparent,))


def _header(scope: Any, name: bytes) -> str | None:
    """The last value of header `name` (lower-case), as a dict of the headers would keep it."""
    found = None
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            found = value
    return None if found is None else found.decode("latin-1")


def finish_request(sp: Span | None, method: str, route: str, status: int) -> None:
    if sp is None:
        return
    sp.update_name(f"{method} {route}")
    sp.set_attribute("http.route", route)
    sp.set_attribute("http.response.status_code", status)
    if status >= 500:
        tracing.fail(sp, f"HTTP {status}")


@contextlib.contextmanager
def admission_span(action: str, kind: str, namespace: str, name: str, traceparent: str | None,
                   registry: Registry = DEFAULT, trusted: bool = False
                   ) -> Iterator[Callable[[int, int | None], None]]:
    """The admission span: child of the request span when there is one, else of the intent's traceparent
    (a trusted caller's; anyone else's is linked from a new trace).

    Yields `admitted(status, resource_version)`, which records the outcome on both spans.
    """
    outer = trace.get_current_span()
    inside = outer.get_span_context().is_valid
    parent, links = (None, ()) if inside else inbound(traceparent, trusted)
    info = registry.resolve(kind)
    ref = Ref(info.key if info else kind.lower(), namespace, name)
    with tracing.span(f"admission {action}", parent=parent, links=links, ref=ref,
                      attributes={"bosun.action": action}, root=not inside) as sp:

        def admitted(status: int, resource_version: int | None) -> None:
            if resource_version is not None:
                tracing.set_seq(sp, resource_version)
                tracing.set_seq(outer, resource_version)
            sp.set_attribute("bosun.status", status)
            if status >= 400:
                tracing.fail(sp, f"refused with {status}")

        yield admitted
