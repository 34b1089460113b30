"""The autoscaler never beyond quota or budget, against real nats-server, the real controller host and the
sim driver's synthetic load: a Quota lowered after the deployment was admitted stops it (ScalingLimited,
QuotaExceeded, used / wanted / limit), raising it lets it scale up again, less load scales down; a pool
price raised stops it at the budget (BudgetExceeded); two deployments share one Quota; the history shows
the autoscaler's decisions and why, and `replay --check --all` reproduces every decision."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import msgspec

from actors.autoscaler.kind import AUTOSCALER
from actors.controller import DEFAULT, Registry
from actors.decisions import Decision
from analysis import replay, replaysource
from core.events import Condition
from core.log import Log
from core.names import Ref
from core.scale import ScaleSet
from dataplane.sim.load import set_load
from tests.conftest import eventually
from tests.integration.test_autoscaler import DEP, at, autoscaled, plane, recommendations
from tests.integration.test_controller import POOL, Running, apply, status
from tests.simworld import deployment_spec, pool_spec

QUOTA = Ref("quota", "team-a", "limits")
OTHER = Ref("modeldeployment", "team-a", "batch")
__all__ = ["plane"]


async def limited(log: Log, ref: Ref, reason: str) -> Condition | None:
    st = await status(log, ref)
    return next((c for c in (st.conditions if st else ()) if c.type == "ScalingLimited" and c.reason == reason),
                None)


async def unlimited(log: Log, ref: Ref) -> bool:
    st = await status(log, ref)
    return bool(st and not any(c.type == "ScalingLimited" for c in st.conditions))


async def scaled(log: Log, ref: Ref, desired: int) -> bool:
    st = await status(log, ref)
    return bool(st and st.fields.get("desiredReplicas") == desired and st.fields.get("readyReplicas") == desired)


async def replay_check_all(log: Log, refs: list[Ref]) -> tuple[int, list[replay.Divergence]]:
    _last, messages = await replaysource.collect(log, refs)
    routed = replay.route(replay.decode(m) for m in messages)
    checked, found = 0, []
    for ref in sorted(routed):
        n, divs = replay.check(ref, routed[ref])
        checked += n
        found += divs
    return checked, found


async def test_stops_at_a_lowered_quota_and_scales_again_when_raised(plane: Running, log: Log,
                                                                    tmp_path: Path) -> None:
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, QUOTA, {"limits": {"gpus": 8}}, 1)
    await apply(log, DEP, autoscaled(scaleDownStabilizationSeconds=0), 1)
    await eventually(lambda: at(log, 1, 1))
    set_load(tmp_path, "team-a", "chat", 240)
    await eventually(lambda: at(log, 5, 5))

    await apply(log, QUOTA, {"limits": {"gpus": 3}}, 2)  # lowered after admission: the ledger takes back
    cond = await eventually(lambda: limited(log, DEP, "QuotaExceeded"))
    assert cond.message == ("autoscaler wants 5 replicas; 3 allowed by quota gpus: used 0, wanted 5, limit 3")
    await eventually(lambda: at(log, 3, 3))

    async def said_why() -> list[Any]:
        return [r for r in await recommendations(log) if "limited by quota gpus" in r.reason]

    why = (await eventually(said_why))[0]
    assert why.replicas == 3 and why.reason.startswith("stopped at quota, scale down")

    await apply(log, QUOTA, {"limits": {"gpus": 8}}, 3)  # raised: scales up again
    await eventually(lambda: at(log, 5, 5))
    await eventually(lambda: unlimited(log, DEP))
    set_load(tmp_path, "team-a", "chat", 90)  # less load: scales down
    await eventually(lambda: at(log, 2, 2))

    await plane.stop_all()
    checked, found = await replay_check_all(log, [DEP, QUOTA, POOL])
    assert checked > 10 and found == []


async def test_stops_at_budget_when_a_pool_price_is_raised(plane: Running, log: Log, tmp_path: Path) -> None:
    await apply(log, POOL, {**pool_spec(8), "pricePerGpuHour": 1.0}, 1)
    await apply(log, QUOTA, {"limits": {"costPerHour": 6.0}}, 1)
    await apply(log, DEP, autoscaled(), 1)
    await eventually(lambda: at(log, 1, 1))
    set_load(tmp_path, "team-a", "chat", 240)
    await eventually(lambda: at(log, 5, 5))

    await apply(log, POOL, {**pool_spec(8), "pricePerGpuHour": 2.0}, 2)
    set_load(tmp_path, "team-a", "chat", 230)  # the autoscaler's next decision prices at the new rate
    cond = await eventually(lambda: limited(log, DEP, "BudgetExceeded"))
    assert cond.message == ("autoscaler wants 5 replicas; 3 allowed by budget costPerHour: used 0, wanted 10, "
                            "limit 6")
    await eventually(lambda: at(log, 3, 3))
    await plane.stop_all()
    checked, found = await replay_check_all(log, [DEP, QUOTA, POOL])
    assert checked > 5 and found == []


async def test_two_deployments_share_one_quota(plane: Running, log: Log, tmp_path: Path) -> None:
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, QUOTA, {"limits": {"replicas": 6}}, 1)
    await apply(log, DEP, autoscaled(scaleDownStabilizationSeconds=0), 1)
    await apply(log, OTHER, autoscaled(scaleDownStabilizationSeconds=0), 1)
    await eventually(lambda: at(log, 1, 1))
    set_load(tmp_path, "team-a", "chat", 200)
    await eventually(lambda: at(log, 4, 4))
    set_load(tmp_path, "team-a", "batch", 250)
    cond = await eventually(lambda: limited(log, OTHER, "QuotaExceeded"))
    assert cond.message == ("autoscaler wants 5 replicas; 2 allowed by quota replicas: used 4, wanted 9, limit 6")
    await eventually(lambda: scaled(log, OTHER, 2))
    set_load(tmp_path, "team-a", "chat", 40)  # the first scales down: the second gets the room
    await eventually(lambda: scaled(log, OTHER, 5))
    await eventually(lambda: unlimited(log, OTHER))
    assert await scaled(log, DEP, 1)
    await plane.stop_all()
    checked, found = await replay_check_all(log, [DEP, OTHER, QUOTA, POOL])
    assert checked > 10 and found == []


async def test_a_deployment_without_autoscaling_counts_against_the_quota(plane: Running, log: Log,
                                                                        tmp_path: Path) -> None:
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, QUOTA, {"limits": {"gpus": 5}}, 1)
    await apply(log, OTHER, deployment_spec(2), 1)
    await eventually(lambda: scaled(log, OTHER, 2))
    await apply(log, DEP, autoscaled(), 1)
    await eventually(lambda: at(log, 1, 1))
    set_load(tmp_path, "team-a", "chat", 240)
    cond = await eventually(lambda: limited(log, DEP, "QuotaExceeded"))
    assert cond.message == "autoscaler wants 5 replicas; 3 allowed by quota gpus: used 2, wanted 7, limit 5"
    await eventually(lambda: at(log, 3, 3))
    await apply(log, OTHER, deployment_spec(1), 2)  # the fixed deployment shrinks: the autoscaler gets the room
    await eventually(lambda: at(log, 4, 4))
    await plane.stop_all()
    checked, found = await replay_check_all(log, [DEP, OTHER, QUOTA, POOL])
    assert checked > 10 and found == []


async def test_replay_check_reports_a_divergent_autoscaler_decision(plane: Running, log: Log,
                                                                    tmp_path: Path) -> None:
    """A build whose autoscaler decides differently from the recorded history is caught, and named."""
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, DEP, autoscaled(), 1)
    await eventually(lambda: at(log, 1, 1))
    set_load(tmp_path, "team-a", "chat", 140)
    await eventually(lambda: at(log, 3, 3))
    await plane.stop_all()
    _last, messages = await replaysource.collect(log, [DEP])
    routed = replay.route(replay.decode(m) for m in messages)
    assert replay.check(DEP, routed[DEP])[1] == []

    def one_more(state: Any, now: float, ctx: Any) -> Decision:
        d = AUTOSCALER.compiled.decide(state, now, ctx)
        return msgspec.structs.replace(d, events=tuple(
            msgspec.structs.replace(e, replicas=e.replicas + 1) if isinstance(e, ScaleSet) else e for e in d.events))

    broken = Registry()
    for ctrl in DEFAULT.controllers():  # today's kinds, but a broken autoscaler
        broken.add(ctrl)
    broken.add_companion(dataclasses.replace(AUTOSCALER.compiled, decide=one_more))
    checked, found = replay.check(DEP, routed[DEP], broken)
    assert found and {d.controller for d in found} == {"autoscaler"}
    assert all(d.ref == DEP for d in found) and checked > len(found)
    assert any(w.type == "scale.set" for d in found for w in d.now)
