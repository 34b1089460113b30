"""The deployment's decide steps on their own: which surplus replicas go first, and the recorded Context
the replay decodes (today's and the first shape, which held only GpuPool views)."""
from __future__ import annotations

from typing import Any

from actors.capacity import PoolView
from actors.decisions import Context, decode_context
from actors.modeldeployment.kind import MODELDEPLOYMENT
from core import codec
from core.events import SpecApplied
from core.replicas import ReplicaReady, StartReplica, StopReplica
from tests.simworld import deployment_spec
from tests.unit.test_modeldeployment import POOL, fold, pools

DEPLOYMENT: Any = MODELDEPLOYMENT.compiled  # the deployment's actor, as the runtime runs it

KEY = "infra/usw2-a100"


def _running(replicas: int, ready: set[int], spec_replicas: int) -> Any:
    events: list[object] = [SpecApplied(generation=1, spec=deployment_spec(replicas), created=True)]
    for i in range(1, replicas + 1):
        events.append(StartReplica(replica=f"chat-{i}", pool=KEY, gpus=1, model="llama-3-8b", generation=1))
        if i in ready:
            events.append(ReplicaReady(replica=f"chat-{i}", pool=KEY))
    events.append(SpecApplied(generation=2, spec=deployment_spec(spec_replicas)))
    return fold(*events)


def _stopped(state: Any) -> list[str]:
    d = DEPLOYMENT.decide(state, 0.0, pools(free=0))
    return [o.command.replica for o in d.commands if isinstance(o.command, StopReplica)]


def test_scale_down_stops_not_ready_replicas_first_then_the_oldest() -> None:
    assert _stopped(_running(4, ready={1, 2, 3, 4}, spec_replicas=2)) == ["chat-1", "chat-2"]
    assert _stopped(_running(4, ready={1, 2}, spec_replicas=1)) == ["chat-3", "chat-4", "chat-1"]


def test_recorded_context_decodes_to_the_views_decide_read() -> None:
    view = PoolView(ref=POOL, region="us-west-2", gpu="a100", capacity=8, allocated=3)
    recorded = codec.encode_json(Context(views={"gpupool": (view,)}))
    assert decode_context(recorded, {"gpupool": PoolView}).of("gpupool") == (view,)
    first_shape = b'{"pools":[' + codec.encode_json(view) + b"]}"
    assert decode_context(first_shape, {"gpupool": PoolView}) == Context(views={"gpupool": (view,)})
