"""`bosun describe`'s page from an object and its timeline: causes, pending commands, pool readiness."""
from __future__ import annotations

from typing import Any

from cli.describe import Facts, gather, pending_commands, ready_by_pool, render

T = "2026-01-01T00:00:00Z"


def item(seq: int, slice_: str, type_: str, causes: list[int] | None = None, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "time": T, "slice": slice_, "type": type_, "summary": f"{type_} {seq}",
            "causes": causes or [], "traceId": f"{seq:032x}", "data": data}


TIMELINE = [
    item(1, "spec", "spec.applied"),
    item(2, "cmd", "replica.start", [1], replica="r1", pool="p/a"),
    item(3, "cmd", "replica.start", [1], replica="r2", pool="p/b"),
    item(4, "obs", "replica.started", [2], replica="r1", pool="p/a"),
    item(5, "obs", "replica.ready", [], replica="r1", pool="p/a"),
    item(6, "ctl.modeldeployment", "status.updated", [4, 5]),
]
OBJ = {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "demo", "generation": 1},
       "spec": {"replicas": 2},
       "status": {"phase": "Progressing", "readyReplicas": 1, "replicasByPool": {"p/a": 1, "p/b": 1},
                  "conditions": [{"type": "Ready", "status": "False", "reason": "ScalingUp",
                                  "lastTransitionSeq": 6}]}}


def test_commands_without_an_observation_naming_them_are_pending() -> None:
    assert [e["seq"] for e in pending_commands(TIMELINE)] == [3]


def test_ready_replicas_per_pool_are_folded_from_observations() -> None:
    assert ready_by_pool(TIMELINE, OBJ) == {"p/a": 1, "p/b": 0}


class FakeClient:
    def get(self, kind: str, name: str, *, namespace: str = "default") -> dict[str, Any]:
        return OBJ

    def history(self, kind: str, name: str, *, namespace: str = "default", since: int | None = None,
                types: list[str] | None = None, limit: int | None = None) -> dict[str, Any]:
        return {"items": TIMELINE[-(limit or 100):], "continue": None}

    def replicas(self, kind: str, name: str, *, namespace: str = "default") -> list[dict[str, Any]]:
        return REPLICAS


REPLICAS = [
    {"replica": "r1", "state": "ready", "node": "", "pid": 4242, "port": 35001, "devices": ["0", "1"],
     "pool": "p/a", "startedAt": "2026-01-01T00:00:10Z", "lastError": ""},
    {"replica": "r2", "state": "restarting", "node": "", "pid": None, "port": None, "devices": [], "pool": "p/b",
     "requestedAt": T, "lastError": "exited with code 3"},
    *({"replica": f"old-{i}", "state": "lost", "pid": 100 + i, "pool": "p/a", "lastError": "killed by SIGKILL"}
      for i in range(8)),
]


def test_page_shows_causes_pending_commands_pool_readiness_and_the_apply_trace() -> None:
    obj, facts = gather(FakeClient(), "modeldeployments", "demo", "chat", last=10)
    assert isinstance(facts, Facts) and facts.apply_trace == f"{1:032x}"
    page = render(obj, facts, now=1767225600.0 + 30)
    assert f"Last apply trace: {1:032x}" in page
    assert "CAUSED-BY" in page and "4,5" in page
    assert "Pending commands (not yet observed):\n  SEQ" in page and "replica.start 3" in page
    assert [line.split() for line in page.splitlines() if line.startswith("  p/b")] == [["p/b", "1", "0"]]
    assert "seq 6 (30s ago)" in page


def test_render_still_takes_a_plain_list_of_recent_events() -> None:
    assert "Recent events:" in render(OBJ, TIMELINE[:2], now=0)


def test_page_lists_replicas_with_node_pid_port_and_devices() -> None:
    obj, facts = gather(FakeClient(), "modeldeployments", "demo", "chat", last=10)
    page = render(obj, facts, now=1767225600.0 + 30)
    section = page[page.index("\nReplicas:") + 1:page.index("Recent events:")].splitlines()
    assert section[1].split() == ["REPLICA", "STATE", "NODE", "PID", "PORT", "DEVICES", "POOL", "AGE", "LAST", "ERROR"]
    assert section[2].split() == ["r1", "ready", "-", "4242", "35001", "0,1", "p/a", "20s"]
    assert section[3].split()[:8] == ["r2", "restarting", "-", "-", "-", "-", "p/b", "30s"]
    assert "exited with code 3" in section[3]
    assert len(section) == 4 + 5  # the live ones, then only the latest ended ones
