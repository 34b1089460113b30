"""A Notebook: one replica on GPUs of a named pool, held until the notebook is deleted, then given back."""
from __future__ import annotations

from msgspec import Struct
from msgspec.structs import replace

from bosun import (
    Claim,
    ClaimRetrying,
    Condition,
    Context,
    Decision,
    Event,
    Kind,
    Order,
    ReplicaLost,
    ReplicaReady,
    ReplicaStopped,
    Resource,
    StartReplica,
    StopReplica,
    Usage,
)


class NotebookSpec(Struct, frozen=True, forbid_unknown_fields=True):
    image: str
    pool: str  # "<namespace>/<name>" of a GpuPool
    gpus: int = 1


class Notebook(Struct, frozen=True):
    claim: Claim = Claim()  # the GPUs it asked the pool for, holds, or retries for
    started: int = 0  # replicas started (ids grow across incarnations)
    running: bool = False
    ready: bool = False


def evolve(r: Resource[NotebookSpec, Notebook], e: Event) -> Notebook:
    s = replace(r.state, claim=r.state.claim.fold(r.ref.token, e))
    match e:
        case StartReplica():
            return replace(s, started=s.started + 1, running=True)
        case ReplicaReady():
            return replace(s, ready=True)
        case ReplicaStopped() | ReplicaLost():
            return replace(s, running=False, ready=False)
    return s


def decide(r: Resource[NotebookSpec, Notebook], now: float, ctx: Context) -> Decision:
    s, spec, me = r.state, r.spec, r.ref
    replica = f"{me.name}-{s.started}"
    if r.deleting:  # stop the replica, give the GPUs back, then let the notebook go
        if s.running:
            stop = Order("sim", StopReplica(replica=replica, pool=spec.pool), f"{me.token}/stop/{replica}")
            return Decision(events=(status(r, "Deleting", f"stopping {replica}"),), commands=(stop,))
        give = s.claim.give_back(me, spec.pool) or Decision(events=r.release())
        return replace(give, events=(status(r, "Deleting", f"giving back {s.claim.held} GPU"), *give.events))
    wait = s.claim.hold(me, spec.pool, spec.gpus, now, ctx)
    if wait is not None:  # asking the pool, or retrying a refusal after a backoff
        return replace(wait.decision, events=(*wait.decision.events, status(r, wait.phase, wait.message)))
    if not s.running:
        start = StartReplica(replica=f"{me.name}-{s.started + 1}", pool=spec.pool, gpus=spec.gpus,
                             model=spec.image, generation=r.generation)
        return Decision(events=(status(r, "Progressing", f"starting {start.replica}"),),
                        commands=(Order("sim", start, f"{me.token}/start/{start.replica}"),))
    return Decision(events=(status(r, "Ready" if s.ready else "Progressing", f"{replica} on {spec.pool}"),))


def status(r: Resource[NotebookSpec, Notebook], phase: str, message: str) -> Event:
    ready = Condition(type="Ready", status=str(phase == "Ready"), reason=phase, message=message)
    return r.status_update(phase, ready)


NOTEBOOK = Kind(name="Notebook", spec=NotebookSpec, state=Notebook, evolve=evolve, decide=decide,
                events=(ClaimRetrying,), finalizers=("notebooks.bosun.dev/gpu",),
                usage=lambda spec: Usage(gpus_per_replica=spec.gpus, pool=spec.pool),
                reborn=lambda s: Notebook(claim=s.claim.renewed(), started=s.started))
