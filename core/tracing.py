"""OpenTelemetry for every component: setup from the standard `OTEL_*` variables, and W3C trace context
in and out of NATS header dicts.

`setup(component)` installs an SDK tracer provider. Exporters follow `OTEL_TRACES_EXPORTER`
(`otlp` = OTLP/HTTP honouring `OTEL_EXPORTER_OTLP_*`, `console`, `none`; default `none`), the service
name follows `OTEL_SERVICE_NAME` (default `bosun-<component>`). With no exporter no SDK is installed: `span` then
makes non-recording spans with fresh ids, so trace context still propagates through the log and log
lines still carry trace ids, but nothing is recorded or sent (a few microseconds per span).

`span(...)` is the one way Bosun code opens a span: it takes the parent as a `traceparent` string (what
rides on events), links to other traceparents, stamps the `bosun.*` identity attributes, and binds the
same identity plus `trace_id` into the log context (`merge_log_fields`) so every log line inside carries them.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from core.names import Ref
from core.settings import Settings

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_provider: Any = None
_tracer = trace.get_tracer("bosun")
_NO_PARENT = otel_context.Context()
_ids = RandomIdGenerator()
_sdk = False
_UNKNOWN = object()
_fields: ContextVar[Mapping[str, Any]] = ContextVar(
    "bosun_span_fields", default={})  # noqa: B039 - never mutated: set() replaces it
"""The current span's log fields: one context variable, merged into log lines by `merge_log_fields`."""


def setup(component: str, settings: Settings | None = None) -> None:
    """Install the process's tracer provider (once); exporters from `OTEL_TRACES_EXPORTER` (read into
    `settings` at the component's entry; default: none)."""
    global _provider
    if _provider is not None:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    settings = settings or Settings()
    if settings.otel_sdk_disabled.lower() == "true":
        return
    names = _exporters(settings.otel_traces_exporter)
    if not names:  # nothing to export: no SDK at all, `span` propagates ids only (see _id_only)
        return
    service = settings.otel_service_name or f"bosun-{component}"
    provider = TracerProvider(resource=Resource.create({"service.name": service, "bosun.component": component}))
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider


def _exporters(raw: str) -> list[str]:
    return [n.strip().lower() for n in raw.split(",") if n.strip() and n.strip().lower() != "none"]


def shutdown() -> None:
    """Flush and stop the exporters (on a clean component stop)."""
    if _provider is not None:
        with contextlib.suppress(Exception):
            _provider.shutdown()


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The OTel context of a `traceparent` header value, or None when absent/malformed."""
    sc = span_context_of(traceparent)
    return None if sc is None else trace.set_span_in_context(NonRecordingSpan(sc))


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """A W3C `traceparent` (version 00) as a remote SpanContext, or None when absent/malformed."""
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) != 4 or parts[0] != "00" or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))


def traceparent_of(sp: Span | None = None) -> str | None:
    """The W3C `traceparent` of `sp` (default: the current span), or None when there is no valid span."""
    sp = sp or trace.get_current_span()
    known = getattr(sp, "traceparent", None)
    if known is not None:
        return known  # type: ignore[no-any-return]
    sc = sp.get_span_context()
    if not sc.is_valid:
        return None
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Put the current span's trace context into `headers` (kept as is when there is no valid span)."""
    tp = traceparent_of()
    if tp is not None:
        headers[TRACEPARENT] = tp
    return headers


def identity(ref: Ref | None = None, seq: int | None = None, **extra: Any) -> dict[str, Any]:
    """The `bosun.*` span attributes of a resource (and a stream sequence)."""
    attrs: dict[str, Any] = {}
    if ref is not None:
        attrs.update({"bosun.kind": ref.kind, "bosun.namespace": ref.namespace, "bosun.name": ref.name})
    if seq is not None:
        attrs["bosun.seq"] = seq
    attrs.update({f"bosun.{k}": v for k, v in extra.items() if v is not None})
    return attrs


def span(name: str, *, parent: str | None = None, links: Iterable[str] = (), ref: Ref | None = None,
         seq: int | None = None, kind: SpanKind = SpanKind.INTERNAL, start_time: int | None = None,
         attributes: Mapping[str, Any] | None = None, root: bool = False) -> AbstractContextManager[Span]:
    """A span that is current inside the block, child of `parent` (a traceparent) or else of the current span.

    `root=True` with no `parent` starts a new trace even inside another span. Log lines inside the block
    carry kind/namespace/name/seq and trace_id. An exception escaping the block marks the span failed.
    """
    if not recording():
        return _IdOnly(parent, ref, seq, root)
    return _recorded(name, parent, links, ref, seq, kind, start_time, attributes, root)


def recording() -> bool:
    """Whether an SDK tracer provider is installed (spans are recorded); sticky once true."""
    global _sdk
    if not _sdk:
        # The API's global, read directly: `get_tracer_provider()` consults os.environ on every call until
        # a provider is set, and this runs for every message. Falls back to the call if the name moves.
        provider = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)
        if provider is _UNKNOWN:
            provider = trace.get_tracer_provider()
        _sdk = isinstance(provider, SdkTracerProvider)
    return _sdk


@contextlib.contextmanager
def _recorded(name: str, parent: str | None, links: Iterable[str], ref: Ref | None, seq: int | None,
              kind: SpanKind, start_time: int | None, attributes: Mapping[str, Any] | None,
              root: bool) -> Iterator[Span]:
    ctx = context_of(parent)
    if ctx is None and root:
        ctx = _NO_PARENT
    span_links = [Link(sc) for sc in map(span_context_of, dict.fromkeys(links)) if sc is not None]
    attrs = {**identity(ref, seq), **(attributes or {})}
    with _tracer.start_as_current_span(name, context=ctx, kind=kind, links=span_links, attributes=attrs,
                                       start_time=start_time, record_exception=True,
                                       set_status_on_exception=True) as sp:
        token = _fields.set(_log_fields(sp, ref, seq))
        try:
            yield sp
        finally:
            _fields.reset(token)


class _IdSpan(NonRecordingSpan):
    """A non-recording span that knows its own traceparent (no int/hex round trips on the hot path)."""

    def __init__(self, trace_hex: str, span_hex: str, flags: str) -> None:  # no super(): lazy
        self.traceparent = f"00-{trace_hex}-{span_hex}-{flags}"
        self.trace_hex = trace_hex
        self._span_context: SpanContext | None = None

    def get_span_context(self) -> SpanContext:
        if self._span_context is None:
            _, trace_hex, span_hex, flags = self.traceparent.split("-")
            self._span_context = SpanContext(int(trace_hex, 16), int(span_hex, 16), is_remote=False,
                                             trace_flags=TraceFlags(int(flags, 16) & 1))
        return self._span_context

    def __repr__(self) -> str:
        return f"_IdSpan({self.traceparent})"


class _IdOnly:
    """No exporter: a non-recording span with fresh ids in the parent's trace (or a new one), made current
    so appends inside stamp it. Keeps propagation and log trace ids at a few microseconds per span
    (a recording span costs tens): every message the controller and projector handle opens one."""

    __slots__ = ("_fields_token", "_otel_token", "span")

    def __init__(self, parent: str | None, ref: Ref | None, seq: int | None, root: bool) -> None:
        up = _well_formed(parent)
        if up is None and not root:
            up = traceparent_of()
        if up is None:
            self.span = _IdSpan(f"{_ids.generate_trace_id():032x}", f"{_ids.generate_span_id():016x}", "01")
        else:
            self.span = _IdSpan(up[3:35], f"{_ids.generate_span_id():016x}", up[53:55])
        fields = dict(_fields.get())
        if ref is not None:
            fields["kind"], fields["namespace"], fields["name"] = ref.kind, ref.namespace, ref.name
        if seq is not None:
            fields["seq"] = seq
        fields["trace_id"] = self.span.trace_hex
        self._fields_token = _fields.set(fields)
        self._otel_token = otel_context.attach(trace.set_span_in_context(self.span))

    def __enter__(self) -> Span:
        return self.span

    def __exit__(self, *exc: object) -> None:
        otel_context.detach(self._otel_token)
        _fields.reset(self._fields_token)


def _well_formed(traceparent: str | None) -> str | None:
    """`traceparent` when it is a usable version-00 W3C value (nonzero ids), else None."""
    if not traceparent or len(traceparent) != 55:
        return None
    return traceparent if span_context_of(traceparent) is not None else None


def log_fields() -> Mapping[str, Any]:
    """The identity and trace id of the current span, as bound into every log line inside it."""
    return _fields.get()


def merge_log_fields(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's identity into the line (explicit keys win)."""
    for key, value in _fields.get().items():
        event.setdefault(key, value)
    return event


def _log_fields(sp: Span, ref: Ref | None, seq: int | None) -> dict[str, Any]:
    fields: dict[str, Any] = dict(_fields.get())
    if ref is not None:
        fields.update(kind=ref.kind, namespace=ref.namespace, name=ref.name)
    if seq is not None:
        fields["seq"] = seq
    sc = sp.get_span_context()
    if sc.is_valid:
        fields["trace_id"] = f"{sc.trace_id:032x}"
    return fields


def set_seq(sp: Span, seq: int) -> None:
    sp.set_attribute("bosun.seq", seq)


def fail(sp: Span, error: BaseException | str) -> None:
    """Mark `sp` failed without raising (a handled reconcile error)."""
    if isinstance(error, BaseException):
        sp.record_exception(error)
    sp.set_status(Status(StatusCode.ERROR, str(error)[:200]))
