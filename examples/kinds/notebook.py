"""A Notebook: one replica on GPUs of a named pool, held until the notebook is deleted, then given back."""
from msgspec import Struct
from msgspec.structs import replace

import bosun


class NotebookSpec(Struct, frozen=True, forbid_unknown_fields=True):
    image: str
    pool: str  # "<namespace>/<name>" of a GpuPool
    gpus: int = 1


class Notebook(Struct, frozen=True):
    claim: bosun.Claim = bosun.Claim()  # the GPUs it asked the pool for, holds, or retries for
    started: int = 0  # replicas started (ids grow across incarnations)
    replica: str = ""  # the one running
    ready: bool = False


Nb = bosun.Resource[NotebookSpec, Notebook]


def evolve(r: Nb, e: bosun.Event) -> Notebook:
    s = replace(r.state, claim=r.state.claim.fold(r.ref.token, e))
    match e:
        case bosun.StartReplica(replica=replica):
            return replace(s, started=s.started + 1, replica=replica)
        case bosun.ReplicaReady():
            return replace(s, ready=True)
        case bosun.ReplicaStopped() | bosun.ReplicaLost():
            return replace(s, replica="", ready=False)
    return s


def decide(r: Nb, now: float, ctx: bosun.Context) -> bosun.Decision:
    s, spec, me = r.state, r.spec, r.ref
    if r.deleting and s.replica:  # stop the replica, give the GPUs back, then let the notebook go
        stop = r.order("sim", bosun.StopReplica(replica=s.replica, pool=spec.pool), f"stop/{s.replica}")
        return say(r, "Deleting", f"stopping {s.replica}", bosun.Decision(commands=(stop,)))
    if r.deleting:
        give = s.claim.give_back(me, spec.pool) or bosun.Decision(events=r.release())
        return say(r, "Deleting", f"giving back {s.claim.held} GPU", give)
    wait = s.claim.hold(me, spec.pool, spec.gpus, now)
    if wait is not None:  # asking the pool, or retrying a refusal after a backoff
        return say(r, wait.phase, wait.message, wait.decision)
    if not s.replica:
        start = bosun.StartReplica(replica=f"{me.name}-{s.started + 1}", pool=spec.pool, gpus=spec.gpus,
                                   model=spec.image, generation=r.generation)
        run = r.order("sim", start, f"start/{start.replica}")
        return say(r, "Progressing", f"starting {start.replica}", bosun.Decision(commands=(run,)))
    return say(r, "Ready" if s.ready else "Progressing", f"{s.replica} on {spec.pool}", bosun.Decision())


def say(r: Nb, phase: str, message: str, d: bosun.Decision) -> bosun.Decision:
    """`d` with the notebook's status first (the runtime appends it only when it changed)."""
    ready = bosun.Condition(type="Ready", status=str(phase == "Ready"), reason=phase, message=message)
    return replace(d, events=(r.status_update(phase, ready), *d.events))


NOTEBOOK = bosun.Kind(name="Notebook", spec=NotebookSpec, state=Notebook, evolve=evolve, decide=decide,
                      events=(bosun.ClaimRetrying,), finalizers=("notebooks.bosun.dev/gpu",),
                      usage=lambda spec: bosun.Usage(gpus_per_replica=spec.gpus, pool=spec.pool),
                      reborn=lambda s: Notebook(claim=s.claim.renewed(), started=s.started))
