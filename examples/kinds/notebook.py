"""A new kind in < 50 lines: a Notebook holds one GPU in a pool (through the pool's ledger) and runs there."""
from __future__ import annotations

import msgspec
from msgspec.structs import replace

from actors.capacity import PROTOCOL, CapacityGranted, CapacityRequested, answers_for
from actors.controller import Controller, register
from actors.decisions import Context, Decision, Message, Order
from core.events import Condition, Event, SpecApplied, StatusUpdated
from core.kinds import KindInfo
from core.names import Ref
from core.replicas import ReplicaReady, StartReplica


class NotebookSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    image: str
    pool: str  # "<namespace>/<name>" of a GpuPool


class Notebook(msgspec.Struct, frozen=True):
    ref: Ref
    spec: NotebookSpec | None = None
    generation: int = 0
    asked: bool = False
    granted: bool = False
    started: bool = False
    ready: bool = False
    status: StatusUpdated | None = None


def evolve(s: Notebook, e: Event) -> Notebook:
    match e:
        case SpecApplied(generation=g, spec=spec):
            return replace(s, spec=msgspec.convert(spec, NotebookSpec), generation=g)
        case CapacityRequested() | StartReplica() | ReplicaReady():
            flag = {"capacity.requested": "asked", "replica.start": "started"}
            return replace(s, **{flag.get(e.__struct_config__.tag, "ready"): True})  # type: ignore[arg-type]
        case _ if any(isinstance(a, CapacityGranted) for a in answers_for(e, s.ref.token)):
            return replace(s, granted=True)
        case StatusUpdated():
            return replace(s, status=e)
    return s


def decide(s: Notebook, now: float, ctx: Context) -> Decision:
    if s.spec is None:
        return Decision()
    pool, me = Ref("gpupool", *s.spec.pool.split("/")), s.ref.token
    ask = () if s.asked else (Message(pool, CapacityRequested(request_id=1, requester=me, pool=s.spec.pool, gpus=1),
                                      f"{me}/capacity"),)
    start = () if s.started or not s.granted else (Order("sim", StartReplica(
        replica=f"{s.ref.name}-1", pool=s.spec.pool, gpus=1, model=s.spec.image, generation=s.generation), f"{me}/start"),)  # noqa: E501
    st = StatusUpdated(observed_generation=s.generation, phase="Ready" if s.ready else "Progressing",
                       conditions=(Condition(type="Ready", status=str(s.ready)),))
    return Decision(events=() if st == s.status else (st,), messages=ask, commands=start)


register(Controller(info=KindInfo(name="Notebook", plural="notebooks", spec_type=NotebookSpec, events=PROTOCOL,
                                  controller="notebooks"), state_type=Notebook, initial=lambda ref: Notebook(ref=ref),
                    evolve=evolve, decide=decide, status_of=lambda s: s.status))
