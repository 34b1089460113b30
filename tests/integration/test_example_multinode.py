"""examples/multinode/ as its README says, with real processes: `bosun up`, then `machines.sh 3` (three
`bosun agent`s standing for machines), then `bosun apply -f examples/multinode/`; the deployment is Ready spread
over the machines (<= maxPerNode each, both zones), each replica on its own node's device with BOSUN_NODE; a
stop of the script stops the agents and their replicas."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataplane.process import procs, store
from tests.integration.node_support import wait_node
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "multinode"
MACHINES = ("machine-1", "machine-2", "machine-3")


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path / "data").start()
    yield running
    running.stop()


class Script:
    """`examples/multinode/machines.sh 3 DIR` from the repository root, in its own session."""

    def __init__(self, up: Up, where: Path) -> None:
        self.where = where
        self.out = where.parent / "machines.out"
        env = {**os.environ, "BOSUN": BOSUN, "BOSUN_DATA": str(up.data)}
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen([str(EXAMPLE / "machines.sh"), "3", str(where)], cwd=ROOT, env=env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def replicas(self) -> list[procs.Found]:
        return [f for m in MACHINES for f in procs.scan(str(store.home(self.where / m / "agent")))]

    def stop(self) -> tuple[int | None, int]:
        """SIGTERM to the script only (as a Ctrl-C's end would): it stops its agents, they their replicas.
        (its exit code, how many replica processes it left)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        left = self.replicas()
        for found in left:  # only if the script failed to: a test ends what it starts
            procs.signal_group(found.identity, signal.SIGKILL)
        return code, len(left)


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def status(up: Up, path: str) -> dict[str, Any]:
    code, body = http_get(f"{up.url}/v1/namespaces/{path}", up.token)
    return dict(body.get("status") or {}) if code == 200 else {}


def test_the_multinode_example_runs_as_its_readme_says(up: Up, tmp_path: Path) -> None:
    script = Script(up, tmp_path / "machines")
    try:
        for name in MACHINES:
            wait_node(up, name, "Ready", timeout=60, totalGpus=2)
        agents = {name: environ(int(line.split("agent pid ")[1].split(",")[0]))
                  for name in MACHINES for line in script.output().splitlines() if f"machine {name} " in line}
        assert set(agents) == set(MACHINES), script.output()
        assert not [k for env in agents.values() for k in env if k in ("BOSUN_TOKEN", "BOSUN_NATS_CREDENTIALS")]
        join_file = json.loads((tmp_path / "machines" / "join-machine-1.json").read_text())
        assert join_file["node"] == "machine-1" and join_file["token"] not in (up.token, "")

        applied = subprocess.run([BOSUN, "--data", str(up.data), "apply", "-f", "examples/multinode/"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=60)
        assert applied.returncode == 0, applied.stderr
        assert wait_for(lambda: status(up, "infra/gpupools/fleet").get("capacity") == 6, 30, "the fleet's capacity")

        def ready() -> dict[str, Any] | None:
            s = status(up, "demo/modeldeployments/chat")
            return s if s.get("phase") == "Ready" and s.get("readyReplicas") == 4 else None

        chat = wait_for(ready, 90, f"chat Ready on the machines; machines:\n{script.output()}")
        by_node = chat["replicasByNode"]
        assert sum(by_node.values()) == 4 and max(by_node.values()) <= 2 and set(by_node) <= set(MACHINES), by_node
        zone = {"machine-1": "a", "machine-2": "b", "machine-3": "a"}
        assert {zone[n] for n in by_node} == {"a", "b"}, by_node  # spread: zone

        running = wait_for(lambda: r if len(r := script.replicas()) == 4 else None, 30, "4 replica processes")
        seen = []
        for found in running:
            env = environ(found.identity.pid)
            assert env["BOSUN_NODE"] in MACHINES and env["BOSUN_MODEL"] == "tiny-chat"
            seen.append((env["BOSUN_NODE"], env["CUDA_VISIBLE_DEVICES"]))
        assert len(set(seen)) == 4 and all(len(d.split(",")) == 1 for _, d in seen), seen  # never one device twice
    finally:
        code, left = script.stop()
    assert code is not None and left == 0, script.output()  # the script's stop ended its agents and replicas
    for name in MACHINES:
        wait_node(up, name, "NotReady", timeout=30)
