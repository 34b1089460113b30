"""`bosun up --controllers 2`: two supervised controller hosts per scope share the partitions (issue #11).

With a kind loaded through BOSUN_KINDS (the Notebook example: a controller process of its own, #12),
`GET /v1/controllers` lists every host of both scopes with its partitions and kinds. A host that stops
answering (SIGSTOP) is taken over by the other one, and gets a share back once it resumes (its stale
leases are refused: it drops them); a host killed with -9 is restarted by the supervisor and the
partitions are shared again. Work keeps converging through both.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bosun import BosunError, Client
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

ROOT = Path(__file__).parents[2]
DEADLINE = 60.0
POOL = {"kind": "GpuPool", "metadata": {"name": "a100", "namespace": "infra"},
        "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 64, "namespaces": ["*"]}}

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BOSUN_KINDS", "examples.kinds.notebook")
        mp.setenv("PYTHONPATH", str(ROOT))
        mp.setenv("BOSUN_LEASE_TTL", "2")
        up = Up(tmp_path_factory.mktemp("controllers") / "data", "--controllers", "2").start(timeout=120)
        try:
            yield up
        finally:
            up.stop()


def hosts(up: Up) -> list[dict[str, Any]]:
    code, body = http_get(f"{up.url}/v1/controllers", up.token)
    return body["items"] if code == 200 else []


def shared(up: Up, scope: str, n: int) -> bool:
    """`n` live hosts of `scope` hold all 16 partitions between them, each some."""
    return _shared([i for i in hosts(up) if i["scope"] == scope], n)


def _shared(items: list[dict[str, Any]], n: int) -> bool:
    held = sorted(p for i in items for p in i["partitions"])
    return len(items) == n and held == list(range(16)) and all(i["partitions"] for i in items)


def both_shared(up: Up) -> list[dict[str, Any]]:
    """One listing in which 2 main and 2 notebook hosts each share their scope's 16 partitions ([] if not
    yet): the assertions read that same listing (leases taken over under a loaded box's 2 s TTL move on)."""
    items = hosts(up)
    return items if all(_shared([i for i in items if i["scope"] == s], 2) for s in ("", "notebook")) else []


def deployment(name: str) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": name, "namespace": "team-a"},
            "spec": {"model": "llama-3-8b", "replicas": 2, "gpusPerReplica": 1,
                     "placement": {"region": "us-west-2", "gpu": "a100"}}}


def ready(c: Client, name: str) -> bool:
    try:
        return bool((c.get("ModelDeployment", name, namespace="team-a")["status"] or {}).get("phase") == "Ready")
    except BosunError:
        return False


def pid_of(up: Up, child: str) -> int:
    return up.pids()[child]


def test_every_host_of_every_scope_is_listed_with_its_partitions_and_kinds(plane: Up) -> None:
    items = wait_for(lambda: both_shared(plane), DEADLINE, "2 + 2 hosts sharing 16")
    assert {i["scope"] for i in items} == {"", "notebook"}
    assert all(i["kinds"] == ["notebook"] for i in items if i["scope"] == "notebook"), items
    main = [i for i in items if i["scope"] == ""]
    assert all("modeldeployment" in i["kinds"] and "notebook" not in i["kinds"] for i in main), items
    assert len({i["hostId"] for i in main}) == 2
    assert all(i["leaseExpiresAt"] > 0 and i["lag"] >= 0 for i in items), items
    shown = subprocess.run([BOSUN, "--data", str(plane.data), "get", "controllers"], capture_output=True,
                           text=True, timeout=30, check=False)
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    assert sorted(r[0] for r in rows) == ["main", "main", "notebook", "notebook"], shown.stdout
    assert {r[1] for r in rows if r[0] == "main"} == {i["hostId"] for i in main}, shown.stdout


def test_a_stopped_host_is_taken_over_and_rejoins(plane: Up) -> None:
    wait_for(lambda: shared(plane, "", 2), DEADLINE, "two main hosts sharing 16")
    pid = pid_of(plane, "controller-2")
    with Client.local(plane.data) as c:
        c.apply(POOL, namespace="infra")
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: shared(plane, "", 1), DEADLINE, "the other host holding all 16")
            for n in range(6):
                c.apply(deployment(f"while-stopped-{n}"), namespace="team-a")
            wait_for(lambda: all(ready(c, f"while-stopped-{n}") for n in range(6)), DEADLINE, "deployments Ready")
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: shared(plane, "", 2), DEADLINE, "the resumed host getting a share back")
        assert pid_of(plane, "controller-2") == pid, "it resumed: no restart was needed"


def test_a_host_killed_with_9_is_restarted_and_shares_again(plane: Up) -> None:
    wait_for(lambda: shared(plane, "", 2), DEADLINE, "two main hosts sharing 16")
    pid = pid_of(plane, "controller")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_of(plane, "controller") != pid, DEADLINE, "the supervisor restarting it")
    with Client.local(plane.data) as c:
        c.apply(POOL, namespace="infra")  # whichever test runs first (random order) brings the pool
        for n in range(6):
            c.apply(deployment(f"after-kill-{n}"), namespace="team-a")
        wait_for(lambda: all(ready(c, f"after-kill-{n}") for n in range(6)), DEADLINE, "deployments Ready")
    wait_for(lambda: shared(plane, "", 2), DEADLINE, "two main hosts sharing 16 again")
    components = json.loads((plane.data / "run" / "components.json").read_text())
    assert components["controller"]["restarts"] >= 1, components
    assert components["controller-2"]["restarts"] == 0, components
