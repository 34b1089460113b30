"""The autoscaler's pure core: load in, a stabilized replica count out (the HPA algorithm).

desired = ceil(load / targetLoadPerReplica) within [min, max]. Against flapping, as the Kubernetes HPA
does: over the scale-up window the *lowest* recommendation made counts, over the scale-down window the
*highest*; the current count moves up only to the former and down only to the latter, so the
count rises as soon as load stays high (window 0 by default) and falls only once load stayed low for the
whole scale-down window (300 s by default). Recommendations are kept as change points
(`ScaleRecommended` events), each valid until the next one.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import msgspec
from msgspec.structs import replace

from actors.autoscaler import asks
from actors.autoscaler.events import ScaleRecommended
from actors.decisions import Context, Decision
from actors.kind import Resource
from actors.modeldeployment.spec import Autoscaling, ModelDeploymentSpec
from actors.quotas import Asked, QuotaAnswered, QuotaRequested, fold_request, price_of, quotas_of
from core.events import Event, SpecApplied
from core.replicas import LoadObserved
from core.scale import ScaleSet

CONTROLLER_NAME = "autoscaler"


class Point(msgspec.Struct, frozen=True):
    at: float
    replicas: int


class Scaler(msgspec.Struct, frozen=True, kw_only=True):
    """What the autoscaler keeps of its deployment's spec (a companion decides before it has seen one),
    and its own memory."""

    bounds: Autoscaling | None = None
    replicas: int = 0
    """spec.replicas: where the count starts before any recommendation."""
    load: float | None = None
    history: tuple[Point, ...] = ()
    """Raw recommendations as change points, oldest first (pruned past the longest window)."""
    current: int | None = None
    """The last ScaleSet written."""
    limit: str = ""
    gpus_per_replica: int = 1
    region: str = ""
    gpu: str = ""
    quotas: Asked = Asked()
    """What the namespace's Quotas were asked and granted (`actors.autoscaler.asks`)."""


Live = Resource[ModelDeploymentSpec, Scaler]


def evolve(r: Live, event: Event) -> Scaler:
    state = r.state
    match event:
        case SpecApplied():
            spec = r.spec
            if spec.autoscaling is None and state.bounds is None:
                return state  # nothing to scale
            return replace(state, bounds=spec.autoscaling, replicas=spec.replicas,
                           gpus_per_replica=spec.gpus_per_replica, region=spec.placement.region,
                           gpu=spec.placement.gpu)
        case LoadObserved(rps=rps):
            return replace(state, load=rps)
        case ScaleRecommended(at=at, raw=raw):
            keep = _window(state.bounds)
            history = tuple(p for i, p in enumerate(state.history) if _until(state.history, i, at) > at - keep)
            return replace(state, history=(*history, Point(at, raw)))
        case ScaleSet(replicas=n, limit=limit):
            return replace(state, current=n, limit=limit)
        case QuotaRequested(requester=who, fixed=False) if who == r.ref.token:
            return replace(state, quotas=fold_request(state.quotas, event))
        case QuotaAnswered():
            return replace(state, quotas=asks.fold_answers(state.quotas, r.ref.token, event))
        case _:
            return state


def decide(r: Live, now: float, ctx: Context) -> Decision:
    state, ref = r.state, r.ref
    b = state.bounds
    if b is not None and r.deleting:
        return Decision(messages=asks.release(state.quotas, ref, quotas_of(ctx, ref.namespace)))
    if b is None or r.deleting:
        return Decision()
    if state.load is None:  # nothing to recommend yet, but the namespace's Quotas count what it runs
        current = state.current if state.current is not None else min(max(state.replicas, b.min), b.max)
        views = quotas_of(ctx, ref.namespace)
        price = price_of(ctx, state.region, state.gpu, ref.namespace)
        return Decision(messages=asks.bound(state.quotas, ref, current, current, state.gpus_per_replica,
                                            price, views).messages)
    wanted = math.ceil(state.load / b.target_load_per_replica - 1e-9)
    raw = min(max(wanted, b.min), b.max)
    changed = not state.history or state.history[-1].replicas != raw
    history = (*state.history, Point(now, raw)) if changed else state.history
    current = state.current if state.current is not None else min(max(state.replicas, b.min), b.max)
    up = _extreme(history, now, b.up_window, min)
    down = _extreme(history, now, b.down_window, max)
    desired = min(max(current, up), down)  # up only to the lowest recent, down only to the highest recent
    desired = min(max(desired, b.min), b.max)
    limit = f"autoscaling.max {b.max}" if wanted > b.max and desired == b.max else ""
    stabilized, views = desired, quotas_of(ctx, ref.namespace)
    quota = asks.bound(state.quotas, ref, desired, current, state.gpus_per_replica,
                       price_of(ctx, state.region, state.gpu, ref.namespace), views)
    waiting = quota.replicas < desired and not quota.limit
    if quota.replicas < desired:
        desired, limit = quota.replicas, quota.limit
    events: list[Event] = []
    scale = desired != state.current or limit != state.limit
    if history is not state.history or (scale and (bool(views) or _by_quota(state.limit))):
        events.append(_recommended(state.load, raw, wanted, desired, current, now, b, limit, waiting))
    if scale:
        events.append(ScaleSet(replicas=desired, by=CONTROLLER_NAME, wanted=max(wanted, stabilized), limit=limit))
    return Decision(events=tuple(events), messages=quota.messages,
                    wake_at=_next_change(history, now, stabilized, raw, b))


def _by_quota(*limits: str) -> bool:
    return any(limit.startswith(("quota ", "budget ")) for limit in limits)


def _recommended(load: float, raw: int, wanted: int, desired: int, current: int, now: float, b: Autoscaling,
                 limit: str, waiting: bool = False) -> ScaleRecommended:
    direction = "scale up" if desired > current else "scale down" if desired < current else (
        "held by the scale-down window" if desired > raw else "held by the scale-up window" if desired < raw
        else "no change")
    if _by_quota(limit) and desired < raw:
        direction = "stopped at " + ("budget" if limit.startswith("budget ") else "quota") + (
            ", scale down" if desired < current else ", scale up" if desired > current else "")
    elif waiting:
        direction = "waiting for the quota's answer"
    return ScaleRecommended(load=load, raw=raw, wanted=wanted, replicas=desired, at=now,
                            reason=f"{direction}; {load:g} rps / {b.target_load_per_replica:g} per replica"
                                   + (f"; limited by {limit}" if limit else ""))


def _window(b: Autoscaling | None) -> float:
    return 0.0 if b is None else max(b.down_window, b.up_window)


def _until(history: tuple[Point, ...], i: int, now: float) -> float:
    """A change point holds until the next one (the latest until now)."""
    return history[i + 1].at if i + 1 < len(history) else now


def _extreme(history: tuple[Point, ...], now: float, window: float,
             pick: Callable[[list[int]], int]) -> int:
    """min/max of the recommendations in force at any time within the last `window` seconds."""
    last = len(history) - 1
    inside = [p.replicas for i, p in enumerate(history) if i == last or _until(history, i, now) > now - window]
    return pick(inside)


def _next_change(history: tuple[Point, ...], now: float, desired: int, raw: int, b: Autoscaling) -> float | None:
    """When a recommendation holding the count away from `raw` leaves its window: decide again then."""
    if desired == raw:
        return None
    window = b.down_window if desired > raw else b.up_window
    ends = [_until(history, i, now) + window for i in range(len(history) - 1)]
    later = [t for t in ends if t > now]
    return min(later) if later else None


def wants(event: Event) -> bool:
    """Only deployments that autoscale get an autoscaler actor."""
    return isinstance(event, SpecApplied) and bool(event.spec.get("autoscaling"))
