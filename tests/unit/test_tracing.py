"""core.tracing: W3C context in and out of header dicts, identity attributes, log binding."""
from __future__ import annotations

from core import tracing
from core.names import Ref
from tests.spans import exporter

EXPORTER = exporter()


def test_span_continues_a_traceparent_links_others_and_stamps_identity() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    ref = Ref("modeldeployment", "demo", "chat")
    with tracing.span("reconcile", parent=parent, links=[other, other, "garbage"], ref=ref, seq=42) as sp:
        headers = tracing.inject({})
        fields = tracing.log_fields()
    assert headers["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert headers["traceparent"] == tracing.traceparent_of(sp)
    assert fields["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert (fields["kind"], fields["namespace"], fields["name"], fields["seq"]) == ("modeldeployment", "demo",
                                                                                    "chat", 42)
    assert "trace_id" not in tracing.log_fields()  # unbound on exit
    done = [s for s in EXPORTER.get_finished_spans() if s.name == "reconcile"][-1]
    assert done.parent is not None and done.parent.span_id == 0xb7ad6b7169203331
    assert [link.context.trace_id for link in done.links] == [0x11111111111111111111111111111111]
    assert done.attributes is not None and done.attributes["bosun.seq"] == 42
    assert done.attributes["bosun.kind"] == "modeldeployment"


def test_root_ignores_the_current_span_and_garbage_parents_are_ignored() -> None:
    with tracing.span("outer") as outer, tracing.span("new", root=True) as inner:
        assert inner.get_span_context().trace_id != outer.get_span_context().trace_id
    with tracing.span("outer") as outer, tracing.span("child", parent="not-a-traceparent") as inner:
        assert inner.get_span_context().trace_id == outer.get_span_context().trace_id


def test_inject_keeps_headers_without_a_span() -> None:
    assert tracing.context_of(None) is None
    assert tracing.inject({"traceparent": "x"}) == {"traceparent": "x"}


def test_without_an_sdk_ids_still_propagate_and_logs_get_the_trace_id() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing._IdOnly(parent, Ref("gpupool", "infra", "a"), 3, False) as sp:
        headers = tracing.inject({})
        fields = dict(tracing.log_fields())
        with tracing._IdOnly(None, None, None, False) as child:
            assert tracing.traceparent_of().split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
            assert tracing.log_fields()["name"] == "a"  # the outer identity stays bound inside
        with tracing._IdOnly(None, None, None, True) as fresh_root:
            assert fresh_root.get_span_context().trace_id != sp.get_span_context().trace_id
    assert fields == {"kind": "gpupool", "namespace": "infra", "name": "a", "seq": 3,
                      "trace_id": "0af7651916cd43dd8448eb211c80319c"}
    assert "trace_id" not in tracing.log_fields()  # unbound on exit
    assert not sp.is_recording() and child.get_span_context().is_valid
    trace_part, span_part = headers["traceparent"].split("-")[1:3]
    assert trace_part == "0af7651916cd43dd8448eb211c80319c" and span_part != "b7ad6b7169203331"
    assert headers["traceparent"] == tracing.traceparent_of(sp)
    assert sp.get_span_context().span_id == int(span_part, 16)
    with tracing._IdOnly("garbage", None, None, False) as fresh:
        assert fresh.get_span_context().is_valid


def test_log_lines_carry_the_current_span_identity() -> None:
    event = tracing.merge_log_fields(None, "info", {"event": "x", "seq": 7})
    assert "trace_id" not in event
    with tracing.span("s", ref=Ref("gpupool", "infra", "a"), seq=3):
        event = tracing.merge_log_fields(None, "info", {"event": "x", "seq": 7})
    assert event["name"] == "a" and event["seq"] == 7 and len(event["trace_id"]) == 32  # explicit keys win
