"""What a plan tells the user, derived purely from the fork's start and end states and its timeline.

Per resource: the predicted phase and the reason of its Ready condition, its timeline (events and
commands in order, its own subjects plus what it sent), the capacity each pool is left with, and which
other resources the change touched (e.g. a pool whose free GPUs drop, a deployment that gets replaced).
"""
from __future__ import annotations

from typing import Any

import msgspec

from actors.capacity import PoolView
from actors.controller import Controller
from actors.partitions import resource_token
from analysis.whatif.fork import Entry
from analysis.whatif.registry import controller_for
from core.events import StatusUpdated
from core.names import Ref


class Step(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    seq: int
    at: float
    """Virtual seconds after the manifests were applied."""
    slice: str
    type: str
    summary: str
    resource: str
    """`kind/namespace/name` of the subject the message is on."""
    by: str = ""
    """Who writes it: `intent`, `driver` or the writing actor's `kind/namespace/name`."""


class Predicted(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    phase: str = ""
    ready: bool = False
    reason: str = ""
    message: str = ""
    fields: dict[str, Any] = {}


class PoolLeft(msgspec.Struct, frozen=True, rename="camel"):
    pool: str
    capacity: int
    allocated_before: int
    allocated_after: int
    free_before: int
    free_after: int
    cost_per_hour_before: float | None = None
    cost_per_hour_after: float | None = None


class Affected(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    kind: str
    namespace: str
    name: str
    phase_before: str = ""
    phase_after: str = ""
    changes: list[str] = []
    """Summaries of what the change made happen to this resource (not counting status updates)."""
    timeline: list[Step] = []
    """Everything the fork appended on its subjects, status updates included."""


def predicted(ref: Ref, state: Any) -> Predicted:
    ctrl = controller_for(ref.kind)
    status = ctrl.status_of(state) if ctrl is not None and state is not None else None
    if status is None:
        return Predicted()
    ready = next((c for c in status.conditions if c.type == "Ready"), None)
    return Predicted(phase=status.phase, ready=ready is not None and ready.status == "True",
                     reason=ready.reason if ready else "", message=ready.message if ready else "",
                     fields=dict(status.fields))


def steps_of(ref: Ref, timeline: list[Entry]) -> list[Step]:
    """The resource's story on the fork: messages on its subjects, and the ones it wrote elsewhere."""
    token = ref.token
    return [step(e) for e in timeline if e.ref == ref or resource_token(e.writer) == token]


def step(e: Entry) -> Step:
    tag = type(e.event).__struct_config__.tag
    by = e.writer if e.writer in ("intent", "driver") else _writer(e.writer)
    return Step(seq=e.seq, at=e.at, slice=e.slice, type=tag if isinstance(tag, str) else type(e.event).__name__,
                summary=_summary(e), resource=str(e.ref), by=by)


def pools_left(before: dict[Ref, Any], after: dict[Ref, Any]) -> list[PoolLeft]:
    """Every pool's capacity before and after, from the views pools publish (and their price, if any)."""
    out: list[PoolLeft] = []
    for ref in sorted(set(before) | set(after)):
        ctrl = controller_for(ref.kind)
        if ctrl is None or ctrl.view_type is not PoolView:  # Quotas publish views too (their limits)
            continue
        a, b = _pool(ctrl, before.get(ref)), _pool(ctrl, after.get(ref))
        shown = b or a
        if shown is None:
            continue
        price = _price(after.get(ref) or before.get(ref))
        capacity = shown.capacity
        was, now = (a.allocated if a else 0), (b.allocated if b else 0)
        out.append(PoolLeft(pool=f"{ref.namespace}/{ref.name}", capacity=capacity, allocated_before=was,
                            allocated_after=now, free_before=a.free if a else 0, free_after=b.free if b else 0,
                            cost_per_hour_before=None if price is None else round(was * price, 6),
                            cost_per_hour_after=None if price is None else round(now * price, 6)))
    return out


def _pool(ctrl: Controller[Any], state: Any) -> PoolView | None:
    view = ctrl.view(state) if state is not None else None
    return view if isinstance(view, PoolView) else None


def affected(planned: set[Ref], before: dict[Ref, Any], after: dict[Ref, Any],
             timeline: list[Entry]) -> list[Affected]:
    """Resources not in the manifests that something on the fork happened to."""
    touched: dict[Ref, list[str]] = {}
    for e in timeline:
        if e.ref in planned or isinstance(e.event, StatusUpdated):
            continue
        touched.setdefault(e.ref, []).append(_summary(e))
    out = []
    for ref in sorted(touched):
        out.append(Affected(kind=ref.kind, namespace=ref.namespace, name=ref.name,
                            phase_before=predicted(ref, before.get(ref)).phase,
                            phase_after=predicted(ref, after.get(ref)).phase, changes=touched[ref][:50],
                            timeline=[step(e) for e in timeline if e.ref == ref]))
    return out


def _price(state: Any) -> float | None:
    """The pool's `spec.pricePerGpuHour` when it has one, else None.

    GpuPool's price defaults to 0 and is omitted when stored (`omit_defaults`): a pool that states no price
    (or 0) is unpriced here, so plans over unpriced pools report no cost rather than a cost of 0.
    """
    spec = getattr(state, "spec", None)
    price = getattr(spec, "price_per_gpu_hour", getattr(spec, "pricePerGpuHour", None))
    if not isinstance(price, (int, float)) or isinstance(price, bool) or price <= 0:
        return None
    return float(price)


def cost_per_hour(ref: Ref, states: dict[Ref, Any]) -> float | None:
    """What `ref` would spend per hour: the GPUs each priced pool has allocated to it, times the price."""
    total, priced = 0.0, False
    for pool, state in states.items():
        ctrl = controller_for(pool.kind)
        price = _price(state) if ctrl is not None and ctrl.publishes_view else None
        held = getattr(state, "allocations", None)
        if price is None or held is None:
            continue
        priced = True
        total += int(held.get(ref.token, 0)) * price
    return round(total, 6) if priced else None


def _writer(key: str) -> str:
    """An actor key as shown: the resource, plus the companion controller that wrote it (autoscaler)."""
    token = resource_token(key)
    return str(Ref.parse(token)) + (f" ({key[len(token) + 1:]})" if key != token else "")


def _summary(e: Entry) -> str:
    try:
        return e.event.summary()
    except Exception:  # noqa: BLE001 - a summary is for humans; never let it break a plan
        return type(e.event).__name__
