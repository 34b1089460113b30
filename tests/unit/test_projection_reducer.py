"""The pure reducer: given stored messages, then the resource row and its API object."""
from __future__ import annotations

from actors.modeldeployment.events import ScaleUpStarted
from core import codec, subjects
from core import headers as H
from core.events import Condition, DeletionRequested, Event, FinalizerRemoved, SpecApplied, StatusUpdated
from core.log import StoredMessage
from core.names import Ref
from core.replicas import ReplicaReady, StartReplica
from projections import reducer
from projections.reducer import Row, fold, to_api

REF = Ref("modeldeployment", "team-a", "chat")
FINALIZER = "deployments.bosun.dev/replicas"
SPEC = {"model": "llama-3-8b", "replicas": 2}


def msg(seq: int, subject: str, event: Event, hdrs: dict[str, str] | None = None) -> StoredMessage:
    when = 1_700_000_000.0 + seq
    return StoredMessage(seq, subject, codec.event_headers(event, when, **(hdrs or {})), codec.encode(event), when)


def spec_msg(seq: int, event: Event) -> StoredMessage:
    return msg(seq, subjects.spec(REF), event, {H.PRINCIPAL: "alice"})


def ctl_msg(seq: int, event: Event) -> StoredMessage:
    return msg(seq, subjects.ctl(REF, "deployments"), event)


def run(messages: list[StoredMessage], row: Row | None = None) -> Row | None:
    for m in messages:
        row = fold(row, m, reducer.decode(m))
    return row


def ready(status: str, reason: str, message: str = "") -> Condition:
    return Condition(type="Ready", status=status, reason=reason, message=message)


def created(seq: int = 1, replicas: int = 2) -> StoredMessage:
    return spec_msg(seq, SpecApplied(generation=1, spec={**SPEC, "replicas": replicas}, labels={"app": "chat"},
                                     created=True))


def test_created_object_before_any_status_is_pending() -> None:
    obj = to_api(run([created(7)]))  # type: ignore[arg-type]
    assert obj == {
        "kind": "ModelDeployment",
        "metadata": {"name": "chat", "namespace": "team-a", "labels": {"app": "chat"}, "generation": 1,
                     "resourceVersion": 7, "createdAt": "2023-11-14T22:13:27.000Z", "finalizers": [FINALIZER]},
        "spec": {"model": "llama-3-8b", "replicas": 2},
        "status": {"phase": "Pending", "observedGeneration": 0, "conditions": []},
    }


def test_spec_update_bumps_generation_and_resource_version_but_keeps_created_at() -> None:
    row = run([created(1), spec_msg(5, SpecApplied(generation=2, spec={**SPEC, "replicas": 4}))])
    meta = to_api(row)["metadata"]  # type: ignore[arg-type]
    assert (meta["generation"], meta["resourceVersion"], meta["createdAt"]) == (2, 5, "2023-11-14T22:13:21.000Z")
    assert meta["labels"] == {}
    assert to_api(row)["spec"]["replicas"] == 4  # type: ignore[arg-type]


def test_status_comes_only_from_status_updated_on_a_ctl_slice() -> None:
    status = StatusUpdated(observed_generation=1, phase="Progressing", conditions=(ready("False", "ScalingUp"),),
                           fields={"readyReplicas": 1, "phase": "ignored"})
    row = run([created(1), ctl_msg(2, status), msg(3, subjects.obs(REF), status)])
    assert to_api(row)["status"] == {  # type: ignore[arg-type]
        "phase": "Progressing", "observedGeneration": 1, "readyReplicas": 1,
        "conditions": [{"type": "Ready", "status": "False", "reason": "ScalingUp", "message": "",
                        "lastTransitionSeq": 2}],
    }
    assert row is not None and row.last_seq == 2


def test_observations_commands_and_narrative_change_nothing() -> None:
    row = run([created(1)])
    after = run([msg(2, subjects.obs(REF), ReplicaReady(replica="r1", pool="infra/a")),
                 msg(3, subjects.cmd("sim", REF), StartReplica(replica="r1", pool="infra/a", gpus=1, model="m",
                                                                generation=1)),
                 ctl_msg(4, ScaleUpStarted(from_replicas=0, to_replicas=2))], row)
    assert after is row


def test_last_transition_seq_moves_only_when_status_or_reason_changes() -> None:
    def status(*conds: Condition) -> StatusUpdated:
        return StatusUpdated(observed_generation=1, phase="Progressing", conditions=conds)

    sched = Condition(type="Scheduled", status="True", reason="Placed")
    row = run([created(1),
               ctl_msg(10, status(ready("False", "ScalingUp", "0/2"), sched)),
               ctl_msg(20, status(ready("False", "ScalingUp", "1/2"), sched)),  # message only: keeps 10
               ctl_msg(30, status(ready("True", "Converged", "2/2"), sched))])
    seqs = {c["type"]: c["lastTransitionSeq"] for c in to_api(row)["status"]["conditions"]}  # type: ignore[arg-type]
    assert seqs == {"Ready": 30, "Scheduled": 10}
    row = run([ctl_msg(40, status(ready("True", "Converged", "2/2")))], row)
    row = run([ctl_msg(50, status(ready("True", "Converged"), sched))], row)  # Scheduled re-appears
    seqs = {c["type"]: c["lastTransitionSeq"] for c in to_api(row)["status"]["conditions"]}  # type: ignore[arg-type]
    assert seqs == {"Ready": 30, "Scheduled": 50}


def test_identical_status_is_a_no_op() -> None:
    status = StatusUpdated(observed_generation=1, phase="Ready", conditions=(ready("True", "Converged"),))
    row = run([created(1), ctl_msg(2, status)])
    assert run([ctl_msg(3, status)], row) is row


def test_deletion_waits_for_finalizers_then_the_row_disappears() -> None:
    row = run([created(1), spec_msg(4, DeletionRequested(generation=2))])
    meta = to_api(row)["metadata"]  # type: ignore[arg-type]
    assert meta["deletionRequested"] is True and meta["finalizers"] == [FINALIZER]
    assert (meta["generation"], meta["resourceVersion"]) == (2, 4)
    assert run([ctl_msg(5, FinalizerRemoved(finalizer="someone-else"))], row) is row
    assert run([ctl_msg(6, FinalizerRemoved(finalizer=FINALIZER))], row) is None
    assert run([msg(6, subjects.obs(REF), FinalizerRemoved(finalizer=FINALIZER))], row) is row  # not a ctl slice


def test_finalizer_removed_before_deletion_is_ignored() -> None:
    row = run([created(1)])
    assert run([ctl_msg(2, FinalizerRemoved(finalizer=FINALIZER))], row) is row


def test_kind_without_finalizers_disappears_at_deletion_request() -> None:
    pool = Ref("gpupool", "infra", "a")
    # every shipped kind holds a finalizer: a row with none pending is what a finalizer-less kind folds to
    row = Row(kind="gpupool", namespace="infra", name="a", finalizers=())
    gone = msg(3, subjects.spec(pool), DeletionRequested(generation=1))
    assert fold(row, gone, reducer.decode(gone)) is None


def test_events_after_deletion_do_not_resurrect_and_created_starts_fresh() -> None:
    status = StatusUpdated(observed_generation=1, phase="Ready", conditions=(ready("True", "Converged"),))
    gone = run([created(1), ctl_msg(2, status), spec_msg(3, DeletionRequested(generation=2)),
                ctl_msg(4, FinalizerRemoved(finalizer=FINALIZER)), ctl_msg(5, status)])
    assert gone is None
    again = run([spec_msg(9, SpecApplied(generation=1, spec=SPEC, created=True))], gone)
    obj = to_api(again)  # type: ignore[arg-type]
    assert obj["metadata"]["resourceVersion"] == 9 and "deletionRequested" not in obj["metadata"]
    assert obj["status"] == {"phase": "Pending", "observedGeneration": 0, "conditions": []}
    assert obj["metadata"]["createdAt"] == "2023-11-14T22:13:29.000Z"


def test_created_true_on_a_deleting_row_starts_fresh() -> None:
    row = run([created(1), spec_msg(2, DeletionRequested(generation=2)),
               spec_msg(3, SpecApplied(generation=1, spec=SPEC, created=True))])
    assert row is not None and not row.deletion_requested and row.generation == 1 and row.created_at == 1_700_000_003.0


def test_undecodable_and_foreign_messages_leave_the_row_alone() -> None:
    row = run([created(1)])
    broken = StoredMessage(2, subjects.ctl(REF, "deployments"), {H.TYPE: "status.updated"}, b"{not json", 0.0)
    assert reducer.decode(broken) is None
    assert fold(row, broken, None) is row
    unknown = StoredMessage(3, "bosun.ev.nosuchkind.ns.x.spec", {}, codec.encode(
        SpecApplied(generation=1, spec={}, created=True)), 0.0)
    assert reducer.decode(unknown) is None
    assert fold(None, unknown, None) is None


def test_time_travel_prefix_equals_live_fold() -> None:
    messages = [created(1), ctl_msg(2, StatusUpdated(observed_generation=1, phase="Ready")),
                spec_msg(3, SpecApplied(generation=2, spec=SPEC))]
    at_2 = run(messages[:2])
    assert to_api(at_2)["metadata"]["generation"] == 1  # type: ignore[arg-type]
    assert to_api(at_2)["status"]["phase"] == "Ready"  # type: ignore[arg-type]


def test_rfc3339_has_milliseconds_in_utc() -> None:
    assert reducer.rfc3339(0.0) == "1970-01-01T00:00:00.000Z"
    assert reducer.rfc3339(1_700_000_000.1239) == "2023-11-14T22:13:20.123Z"


def test_a_kind_without_a_controller_reads_ready_at_its_generation() -> None:
    """Nothing reconciles a Role: it is in effect once admitted, so it must not stay Pending forever."""
    import actors  # noqa: F401 - registers the governance kinds

    role = Ref("role", "_cluster", "viewer")
    spec = {"rules": [{"verbs": ["get"], "kinds": ["*"], "namespaces": ["*"]}]}
    first = msg(3, subjects.spec(role), SpecApplied(generation=1, spec=spec, created=True))
    again = msg(9, subjects.spec(role), SpecApplied(generation=2, spec=spec))
    status = to_api(run([first, again]))["status"]  # type: ignore[arg-type]
    assert (status["phase"], status["observedGeneration"]) == ("Ready", 2)
