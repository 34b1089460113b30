"""Pure pieces around the reducer: history items, label selectors, continue tokens, batch planning."""
from __future__ import annotations

import pytest

from actors.capacity import CapacityGranted, CapacityRequested
from core import codec, subjects
from core import headers as H
from core.events import DeletionRequested, Event, FinalizerRemoved, SpecApplied, StatusUpdated
from core.log import StoredMessage
from core.names import Ref
from core.replicas import StartReplica
from projections import batches, pages, reducer, selectors, timeline

DEP = Ref("modeldeployment", "team-a", "chat")
POOL = Ref("gpupool", "infra", "a100")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def msg(seq: int, subject: str, event: Event, **hdrs: str) -> StoredMessage:
    return StoredMessage(seq, subject, codec.event_headers(event, 1_700_000_000.5, **hdrs), codec.encode(event),
                         1_700_000_000.5)


def test_spec_item_carries_principal_causes_trace_and_data() -> None:
    m = msg(3, subjects.spec(DEP), SpecApplied(generation=1, spec={"replicas": 1}, created=True),
            **{H.PRINCIPAL: "alice", H.CAUSES: "1,2", H.TRACEPARENT: f"00-{TRACE}-00f067aa0ba902b7-01"})
    entry = timeline.entry(m, reducer.decode(m))
    assert entry is not None and entry[:5] == (3, "modeldeployment", "team-a", "chat", "spec.applied")
    assert entry.item == {
        "seq": 3, "time": "2023-11-14T22:13:20.500Z", "slice": "spec", "type": "spec.applied",
        "principal": "alice", "summary": "created, generation 1", "causes": [1, 2], "traceId": TRACE,
        "data": {"type": "spec.applied", "generation": 1, "spec": {"replicas": 1}, "labels": {},
                 "created": True},
    }


def test_ctl_cmd_and_inbox_items_name_their_controller() -> None:
    ctl = msg(4, subjects.ctl(DEP, "deployments"), StatusUpdated(observed_generation=1, phase="Ready"))
    cmd = msg(5, subjects.cmd("sim", DEP), StartReplica(replica="r", pool="infra/a100", gpus=1, model="m",
                                                         generation=1), **{H.SENDER: DEP.token})
    ask = msg(6, subjects.inbox(POOL), CapacityRequested(request_id=1, requester=DEP.token, pool="infra/a100",
                                                          gpus=1), **{H.SENDER: DEP.token})
    items = [timeline.entry(m, reducer.decode(m)) for m in (ctl, cmd, ask)]
    assert [(e.item["slice"], e.item["controller"]) for e in items if e] == [
        ("ctl.deployments", "deployments"), ("cmd", DEP.token), ("inbox", DEP.token)]
    assert items[1] is not None and (items[1].kind, items[1].name) == ("modeldeployment", "chat")
    assert all(e is not None and e.item["causes"] == [] and e.item["traceId"] is None for e in items)


def test_notified_answer_stays_in_its_own_subject_timeline() -> None:
    grant = msg(7, subjects.ctl(POOL, "pools"), CapacityGranted(request_id=1, requester=DEP.token,
                                                                 pool="infra/a100", gpus=1),
                **{H.NOTIFY: DEP.token})
    entry = timeline.entry(grant, reducer.decode(grant))
    assert entry is not None and (entry.kind, entry.name) == ("gpupool", "a100")


def test_undecodable_message_still_gets_an_item() -> None:
    m = StoredMessage(8, "bosun.ev.mystery.ns.x.obs", {H.TYPE: "mystery.thing"}, b'{"a": 1}', 0.0)
    entry = timeline.entry(m, reducer.decode(m))
    assert entry is not None and entry.item["summary"] == "undecodable"
    assert (entry.type, entry.item["data"]) == ("mystery.thing", {"a": 1})
    assert timeline.entry(StoredMessage(9, "elsewhere.x", {}, b"", 0.0), None) is None


@pytest.mark.parametrize("header, expected", [
    (f"00-{TRACE}-00f067aa0ba902b7-01", TRACE), ("garbage", None), (None, None),
    ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", None), ("00-" + "z" * 32 + "-00f067aa0ba902b7-01", None)])
def test_trace_id(header: str | None, expected: str | None) -> None:
    assert timeline.trace_id(header) == expected


def test_selectors_parse_and_match() -> None:
    reqs = selectors.parse("app=chat, tier!=gpu,canary,!legacy")
    assert [r.op for r in reqs] == ["=", "!=", "exists", "!exists"]
    assert selectors.matches(reqs, {"app": "chat", "canary": "yes"})
    assert not selectors.matches(reqs, {"app": "chat", "canary": "", "tier": "gpu"})
    assert not selectors.matches(reqs, {"app": "chat", "canary": "1", "legacy": "1"})
    assert selectors.parse("app==chat") == (selectors.Requirement("app", "=", "chat"),)
    assert selectors.parse("") == () and selectors.parse(None) == ()
    for bad in ("a=b=c", "=x", "a b", "a,,b"):
        with pytest.raises(selectors.BadSelector):
            selectors.parse(bad)


def test_continue_tokens_are_bound_to_their_query() -> None:
    q = pages.fingerprint("list", "modeldeployment", None, "app=chat", None)
    token = pages.encode(pages.ListCursor(q, "team-a", "chat"))
    assert pages.decode_list(token, q) == pages.ListCursor(q, "team-a", "chat")
    with pytest.raises(pages.BadContinue):
        pages.decode_list(token, pages.fingerprint("list", "gpupool", None, None, None))
    with pytest.raises(pages.BadContinue):
        pages.decode_history(token, q, tail=False)
    with pytest.raises(pages.BadContinue):
        pages.decode_list("not-a-token!", q)


def test_batch_plan_reports_added_modified_deleted_in_order() -> None:
    fin = "deployments.bosun.dev/replicas"
    messages = [msg(1, subjects.spec(DEP), SpecApplied(generation=1, spec={}, created=True)),
                msg(2, subjects.ctl(DEP, "deployments"), StatusUpdated(observed_generation=1, phase="Ready")),
                msg(3, subjects.cmd("sim", DEP), StartReplica(replica="r", pool="p", gpus=1, model="m",
                                                               generation=1)),
                msg(4, subjects.spec(DEP), DeletionRequested(generation=2)),
                msg(5, subjects.ctl(DEP, "deployments"), FinalizerRemoved(finalizer=fin))]
    assert batches.keys_of(messages) == {DEP_KEY}
    plan = batches.plan(messages, {})
    assert [(c.seq, c.type) for c in plan.changes] == [(1, "ADDED"), (2, "MODIFIED"), (4, "MODIFIED"),
                                                      (5, "DELETED")]
    deleted = plan.changes[-1].row
    assert deleted.deletion_requested and deleted.finalizers == () and deleted.phase == "Ready"
    assert plan.rows == {DEP_KEY: None} and plan.last_seq == 5 and len(plan.timeline) == 5
    # batch boundaries do not matter
    first = batches.plan(messages[:2], {})
    second = batches.plan(messages[2:], {k: r for k, r in first.rows.items() if r is not None})
    assert [(c.seq, c.type) for c in first.changes + second.changes] == [(c.seq, c.type) for c in plan.changes]


DEP_KEY = ("modeldeployment", "team-a", "chat")
