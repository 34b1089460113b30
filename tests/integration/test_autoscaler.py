"""The autoscaler against real nats-server, the real controller host and the sim driver's synthetic load:
it follows load up at once, down only after its window, stops at max, and the deployment's history
interleaves the observations, the autoscaler's decisions and the deployment's own."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from actors import serving as controller
from actors.autoscaler.events import ScaleRecommended
from analysis import replay, replaysource
from cli.main import main
from core import codec
from core import headers as H
from core.log import Log
from core.names import Ref
from dataplane.sim import driver as sim
from dataplane.sim.load import set_load
from tests.conftest import REGISTRY, eventually
from tests.integration.test_controller import POOL, Running, apply, status
from tests.simworld import pool_spec

DEP = Ref("modeldeployment", "team-a", "chat")


def autoscaled(**bounds: Any) -> dict[str, Any]:
    return {"model": "llama-3-8b", "replicas": 1, "placement": {"region": "us-west-2", "gpu": "a100"},
            "autoscaling": {"min": 1, "max": 5, "targetLoadPerReplica": 50, "scaleDownStabilizationSeconds": 1.5,
                            **bounds}}


@pytest.fixture
async def plane(nats_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    running = Running()
    running.start("controller", lambda stop: controller.serve(nats_url, stop=stop, idle_seconds=1.0))
    running.start("sim", lambda stop: sim.serve(nats_url, tmp_path, stop=stop, latency=0.02, relist_interval=0.3))
    yield running
    await running.stop_all()


async def at(log: Log, desired: int, ready: int | None = None) -> bool:
    st = await status(log, DEP)
    return bool(st and st.fields.get("desiredReplicas") == desired and
                (ready is None or (st.phase == "Ready" and st.fields.get("readyReplicas") == ready)))


async def recommendations(log: Log) -> list[ScaleRecommended]:
    info = REGISTRY.kind("modeldeployment")
    return [e for m in [m async for m in log.read(f"bosun.ev.{DEP.token}.ctl.autoscaler")]
            if isinstance(e := codec.decode(info, m.data, m.headers), ScaleRecommended)]


async def test_follows_load_up_down_and_stops_at_max(plane: Running, log: Log, tmp_path: Path) -> None:
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, DEP, autoscaled(), 1)
    await eventually(lambda: at(log, 1, 1))

    cli = CliRunner().invoke(main, ["driver", "sim", "set-load", "md/chat", "-n", "team-a", "--rps", "240",
                                    "--data", str(tmp_path)])
    assert cli.exit_code == 0, cli.output
    await eventually(lambda: at(log, 5, 5))

    set_load(tmp_path, "team-a", "chat", 1000)

    async def limited() -> bool:
        st = await status(log, DEP)
        return bool(st and any(c.type == "ScalingLimited" and c.message ==
                               "autoscaler wants 20 replicas; 5 allowed by autoscaling.max 5" for c in st.conditions))

    await eventually(limited)
    set_load(tmp_path, "team-a", "chat", 60)

    async def held() -> list[ScaleRecommended]:
        return [r for r in await recommendations(log) if r.load == 60]

    first = (await eventually(held))[0]
    assert first.raw == 2 and first.replicas == 5 and "held by the scale-down window" in first.reason
    await eventually(lambda: at(log, 2, 2))
    st = await status(log, DEP)
    assert st is not None and not any(c.type == "ScalingLimited" for c in st.conditions)


async def test_history_interleaves_observations_and_both_controllers(plane: Running, log: Log,
                                                                     tmp_path: Path) -> None:
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, DEP, autoscaled(), 1)
    await eventually(lambda: at(log, 1, 1))
    set_load(tmp_path, "team-a", "chat", 140)
    await eventually(lambda: at(log, 3, 3))
    story = [(m.seq, m.subject.rsplit(f"{DEP.token}.", 1)[-1], m.headers.get(H.TYPE), m.headers)
             async for m in log.read(f"bosun.ev.{DEP.token}.>")]
    start = next(i for i, (_, _, type_, _) in enumerate(story) if type_ == "load.observed")
    story = story[start:]
    wanted = ("load.observed", "autoscaler.recommended", "scale.set")
    kinds_in_order = [(slice_, type_) for _, slice_, type_, _ in story if type_ in wanted]
    assert kinds_in_order == [("obs", "load.observed"), ("ctl.autoscaler", "autoscaler.recommended"),
                              ("ctl.autoscaler", "scale.set")]
    seq_of = {type_: seq for seq, _, type_, _ in story}
    recommended = next(h for _, _, t, h in story if t == "autoscaler.recommended")
    assert str(seq_of["load.observed"]) in recommended[H.CAUSES].split(",")  # the observation that caused it
    # the deployment's answer, after the scale input: a status scaling up to 3 (behaviour 2 tells it so)
    scaled_up = next(h for seq, slice_, t, h in story if slice_ == "ctl.deployments" and t == "status.updated"
                     and seq > seq_of["scale.set"])
    assert str(seq_of["scale.set"]) in scaled_up[H.CAUSES].split(",")


async def test_replay_check_agrees_with_an_autoscaled_history(plane: Running, log: Log, tmp_path: Path) -> None:
    """The deployment's recorded decisions, scale inputs folded, are what today's decide makes."""
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, DEP, autoscaled(scaleDownStabilizationSeconds=0), 1)
    await eventually(lambda: at(log, 1, 1))
    set_load(tmp_path, "team-a", "chat", 190)
    await eventually(lambda: at(log, 4, 4))
    set_load(tmp_path, "team-a", "chat", 90)
    await eventually(lambda: at(log, 2, 2))
    await plane.stop_all()
    _last, messages = await replaysource.collect(log, [DEP])
    routed = replay.route(replay.decode(m) for m in messages)
    checked, divergences = replay.check(DEP, routed[DEP])
    assert checked > 3 and divergences == []
