"""A start never uses capacity the deployment has asked its pool to take back (found by `chaos.asked`).

The chaos rounds' allocation checker saw, in the log, a deployment scale 2 -> 1 -> 3: it stopped a replica,
asked the pool to release one GPU, and — before the answer — started a replica on the grant it still
held. The pool granted the release in log order, so it counted one GPU fewer than ran, free to grant to
another deployment (only the sim's own refusal kept the data plane whole).
"""
from __future__ import annotations

from actors.capacity import CapacityGranted, CapacityRequested
from core.events import SpecApplied
from core.replicas import ReplicaReady, ReplicaStarted, ReplicaStopped, StartReplica, StopReplica
from tests.unit.test_modeldeployment import DEP, DEPLOYMENT, fold, pools

KEY = "infra/usw2-a100"


def spec(replicas: int) -> dict[str, object]:
    return {"model": "m", "replicas": replicas, "placement": {"region": "us-west-2", "gpu": "a100"}}


def started(rid: str) -> list[object]:
    return [StartReplica(replica=rid, pool=KEY, gpus=1, model="m", generation=1),
            ReplicaStarted(replica=rid, pool=KEY), ReplicaReady(replica=rid, pool=KEY)]


def test_no_start_on_a_grant_whose_release_is_unanswered() -> None:
    state = fold(SpecApplied(generation=1, spec=spec(2), created=True),
                 CapacityRequested(request_id=1, requester=DEP.token, pool=KEY, gpus=2),
                 CapacityGranted(request_id=1, requester=DEP.token, pool=KEY, gpus=2),
                 *started("chat-1"), *started("chat-2"),
                 SpecApplied(generation=2, spec=spec(1)), StopReplica(replica="chat-1", pool=KEY),
                 ReplicaStopped(replica="chat-1", pool=KEY),
                 CapacityRequested(request_id=2, requester=DEP.token, pool=KEY, gpus=1),  # the release
                 SpecApplied(generation=3, spec=spec(3)))
    d = DEPLOYMENT.decide(state, 0.0, pools(free=4))
    assert not [o for o in d.commands if isinstance(o.command, StartReplica)], "started on a grant given back"

    answered = DEPLOYMENT.evolve(state, CapacityGranted(request_id=2, requester=DEP.token, pool=KEY, gpus=1))
    d = DEPLOYMENT.decide(answered, 0.0, pools(free=4))
    assert not d.commands
    assert [m.event for m in d.messages] == [CapacityRequested(request_id=3, requester=DEP.token, pool=KEY,
                                                               gpus=3)], "asks for what it needs instead"
