"""Bosun on a 3-node JetStream cluster (R3 stream, buckets and consumers), every component its own process.

Started in the wrong order (components before the servers), two controller hosts share the partitions;
then the stream leader is killed with -9 mid-burst (and restarted: it catches up), or a controller host
is. Each test asserts: every accepted intent converges, no replica started twice, no pool over-allocated,
no component process exited. Timings (failover, throughput) are measured in `bosun bench cluster`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.cluster import Cluster
from tests.integration.cluster_support import Plane, consumers, replicas_current, stream_leader
from tests.integration.test_crash_burst import (
    POOL,
    Burst,
    assert_control_plane_sane,
    assert_data_plane_sane,
    converged,
    put,
)
from tests.integration.test_up_support import http_get, wait_for

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    """Components first, then the cluster: they must wait for it rather than die."""
    cluster = Cluster(tmp_path / "cluster").allocate()
    p = Plane(tmp_path / "plane", cluster)
    try:
        p.controller("a")
        p.controller("b")
        p.others()
        cluster.start()
        wait_for(p.healthy, 60, "the gateway")
        yield p
    finally:
        p.stop()
        cluster.stop()


def shared(p: Plane, hosts: set[str]) -> bool:
    items = p.controllers()
    if {i["hostId"] for i in items} != hosts:
        return False
    held = [part for i in items for part in i["partitions"]]
    return sorted(held) == list(range(16)) and all(i["partitions"] for i in items)


def same_view(p: Plane, first: str, second: str) -> bool:
    views = []
    for url in (first, second):
        try:
            code, body = http_get(f"{url}/v1/namespaces/burst/modeldeployments?limit=1000", p.token)
        except OSError:
            return False
        if code != 200:
            return False
        views.append(sorted((o["metadata"]["name"], o["metadata"]["generation"], o["status"]["phase"])
                            for o in body["items"]))
    return bool(views[0]) and views[0] == views[1]


class Up:
    """What `converged` needs of a Bosun: its URL and token."""

    def __init__(self, p: Plane) -> None:
        self.url, self.token = p.url, p.token


def lagging(p: Plane, accepted: dict[str, int]) -> dict[str, Any]:
    """What did not converge, and where each component stands: the message of a failed wait."""
    out: dict[str, Any] = {}
    for name, generation in accepted.items():
        try:
            code, obj = http_get(f"{p.url}/v1/namespaces/burst/modeldeployments/{name}", p.token)
        except OSError as e:
            out[name] = repr(e)
            continue
        if code != 200 or obj["metadata"]["generation"] < generation or obj["status"].get("phase") != "Ready":
            out[name] = (code, generation, obj.get("metadata", {}).get("generation"), obj.get("status"))
    lost = {n: [line for line in p.output(n).splitlines() if "lost in flight" in line] for n in p.procs}
    return {"not converged": out, "consumers": asyncio.run(consumers(p.cluster)), "lost deliveries": lost}


def converge(p: Plane, accepted: dict[str, int]) -> None:
    try:
        wait_for(lambda: converged(Up(p), accepted), 90, "every accepted intent to converge")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{lagging(p, accepted)}") from None


# This test once failed about one full-suite run in several (accepted intents not converging after the stream
# leader's kill -9): deliveries in flight through the killed server were lost, and the controller's
# cumulative ack then covered them. The host now notices the gap (`actors/continuity.py`); on a failure,
# `lagging` names what stalled.
def test_node_loss_mid_burst_and_restart(plane: Plane) -> None:
    wait_for(lambda: shared(plane, {"a", "b"}), 60, "two hosts sharing 16 partitions")
    assert put(plane.url, plane.token, POOL)[0] == 202
    burst = Burst(plane.url, plane.token, 30)
    burst.start()
    wait_for(lambda: len(burst.accepted) >= 5, 60, "the burst to get going")
    leader = asyncio.run(stream_leader(plane.cluster))
    assert leader is not None
    plane.cluster.kill(leader)
    burst.join(120)
    assert burst.done.is_set(), (burst.answers, plane.output("gateway"))
    assert len(burst.accepted) == 30, ("the gateway rides out the election: every apply gets its 202", burst.answers)
    converge(plane, burst.accepted)
    plane.cluster.start_node(leader)
    wait_for(lambda: asyncio.run(replicas_current(plane.cluster)), 60, "the restarted node to catch up")
    assert plane.exited() == {}, {n: plane.output(n) for n in plane.exited()}
    assert_data_plane_sane(plane.data)
    assert_control_plane_sane(plane.data, plane.cluster.url(), full=False)


def test_controller_host_kill_mid_burst(plane: Plane) -> None:
    wait_for(lambda: shared(plane, {"a", "b"}), 60, "two hosts sharing 16 partitions")
    assert put(plane.url, plane.token, POOL)[0] == 202
    burst = Burst(plane.url, plane.token, 30)
    burst.start()
    wait_for(lambda: len(burst.accepted) >= 5, 60, "the burst to get going")
    plane.kill("controller-b")
    wait_for(lambda: shared(plane, {"a"}), 60, "host a taking over the partitions of b")
    burst.join(120)
    converge(plane, burst.accepted)
    plane.controller("b")
    wait_for(lambda: shared(plane, {"a", "b"}), 60, "b rejoining and getting a share")
    second = plane.second_pair()  # its own read model, rebuilt from the log: the same view
    wait_for(lambda: same_view(plane, plane.url, second), 60, "two gateway/projector pairs to agree")
    assert plane.exited() == {}, {n: plane.output(n) for n in plane.exited()}
    assert_data_plane_sane(plane.data)
    assert_control_plane_sane(plane.data, plane.cluster.url(), full=False)
