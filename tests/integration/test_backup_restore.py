"""`bosun backup` of a live plane under load, `bosun restore` elsewhere (issue #26): every write acknowledged
before the backup began is in the restored plane, every history is the same through the cut, secrets are
new, and the restored plane runs (its driver reconciles what actually runs)."""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import upgrade
from tests.integration.test_up_support import BOSUN, Up, wait_for


def pool(name: str, capacity: int, region: str = "us-west-2") -> dict[str, Any]:
    return {"kind": "GpuPool", "metadata": {"name": name, "namespace": "infra"},
            "spec": {"region": region, "gpu": "a100", "capacity": capacity}}


def deployment(replicas: int) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "team-a"},
            "spec": {"model": "llama-3-8b", "replicas": replicas,
                     "placement": {"region": "eu-west-1", "gpu": "a100"}}}


def phase(api: httpx.Client, path: str) -> str | None:
    r = api.get(path)
    return r.json()["status"]["phase"] if r.status_code == 200 else None


def client(up: Up) -> httpx.Client:
    return httpx.Client(base_url=up.url, headers={"Authorization": f"Bearer {up.token}"}, timeout=30)


class Load(threading.Thread):
    """Applies as fast as the gateway answers; remembers every acknowledged write and when it was acked."""

    def __init__(self, up: Up) -> None:
        super().__init__(daemon=True)
        self.up = up
        self.stop = threading.Event()
        self.acked: list[tuple[str, int, float]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with client(self.up) as api:
            n = 0
            while not self.stop.is_set():
                n += 1
                name = f"load-{n % 6}"
                r = api.put(f"/v1/namespaces/infra/gpupools/{name}", json=pool(name, 1 + n % 40))
                if r.status_code == 202:
                    self.acked.append((name, r.json()["resourceVersion"], time.time()))
                else:
                    self.errors.append(r.text)


def bosun(*args: str, data: Path | None = None) -> str:
    extra = ["--data", str(data)] if data else []
    done = subprocess.run([BOSUN, *extra, *args], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def history(api: httpx.Client, kind: str, ns: str, name: str) -> list[tuple[int, str, str]]:
    return [(i["seq"], i["type"], i["summary"]) for i in upgrade.history(api, ns, kind, name)]


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Up]:
    plane = Up(tmp_path / "source", "--retain", "2s").start()
    yield plane
    plane.stop()


def test_backup_under_load_restores_every_acknowledged_write_and_every_history(source: Up, tmp_path: Path) -> None:
    with client(source) as api:
        assert api.put("/v1/namespaces/infra/gpupools/euw1", json=pool("euw1", 4, "eu-west-1")).status_code == 202
        assert api.put("/v1/namespaces/team-a/modeldeployments/chat", json=deployment(2)).status_code == 202
        wait_for(lambda: phase(api, "/v1/namespaces/team-a/modeldeployments/chat") == "Ready", 60, "chat Ready")
        load = Load(source)
        load.start()
        try:
            wait_for(lambda: api.get("/v1/log").json()["archive"]["lastSeq"] > 0, 120, "something archived")
            began = time.time()
            out = bosun("backup", str(tmp_path / "plane.backup"), data=source.data)
            ended = time.time()  # and the load goes on past the backup's end
            wait_for(lambda: sum(at > ended for _, _, at in load.acked) >= 5, 60, "writes acked after the backup")
        finally:
            load.stop.set()
            load.join(30)
        assert not load.errors, load.errors[:3]
        cut = int(re.search(r"stream through seq (\d+)", out).group(1))  # type: ignore[union-attr]
        before = [(name, rv) for name, rv, at in load.acked if at < began]
        assert before and any(at > began for _, _, at in load.acked)  # writes before, during and after
        assert max(rv for _, rv in before) <= cut
        names = sorted({name for name, _, _ in load.acked} | {"euw1"})
        original = {name: [i for i in history(api, "gpupools", "infra", name) if i[0] <= cut] for name in names}
        chat_original = [i for i in history(api, "modeldeployments", "team-a", "chat") if i[0] <= cut]

    target = tmp_path / "restored"
    assert "restored" in bosun("restore", str(tmp_path / "plane.backup"), "--data", str(target))
    restored = Up(target).start()
    try:
        with client(restored) as api:
            wait_for(lambda: api.get("/v1/namespaces/infra/gpupools/euw1", params={"minVersion": cut}).status_code
                     == 200, 120, "the restored read model to reach the cut")
            for name in names:
                seen = [i for i in history(api, "gpupools", "infra", name) if i[0] <= cut]
                assert seen == original[name], name
                assert {rv for n, rv in before if n == name} <= {s for s, t, _ in seen if t == "spec.applied"}
            assert [i for i in history(api, "modeldeployments", "team-a", "chat") if i[0] <= cut] == chat_original
            # the newest acknowledged write is each pool's resourceVersion, and If-Match still means it
            newest = dict(before)
            for name, rv in newest.items():
                current = api.get(f"/v1/namespaces/infra/gpupools/{name}").json()["metadata"]["resourceVersion"]
                assert current >= rv
            name = next(iter(newest))
            current = api.get(f"/v1/namespaces/infra/gpupools/{name}").json()["metadata"]["resourceVersion"]
            ok = api.put(f"/v1/namespaces/infra/gpupools/{name}", json=pool(name, 99),
                         headers={"If-Match": str(current)})
            assert ok.status_code == 202, ok.text
            # the restored plane runs: its own driver reconciles what actually runs here
            wait_for(lambda: phase(api, "/v1/namespaces/team-a/modeldeployments/chat") == "Ready", 90,
                     "chat Ready in the restored plane")
        # secrets are not copied: a new admin token and new NATS users
        assert restored.token != source.token
        creds = json.loads((target / "nats-credentials.json").read_text())
        old = json.loads((source.data / "nats-credentials.json").read_text())
        assert creds["gateway"]["password"] != old["gateway"]["password"]
        assert not list(target.glob("*.backup"))
    finally:
        restored.stop()


def test_restore_refuses_a_data_directory_that_holds_a_plane(source: Up, tmp_path: Path) -> None:
    bosun("backup", str(tmp_path / "b"), data=source.data)
    done = subprocess.run([BOSUN, "restore", str(tmp_path / "b"), "--data", str(source.data)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1 and "RestoreFailed" in done.stderr and "already holds a store" in done.stderr
    bad = tmp_path / "not-a-backup"
    bad.write_text("hello")
    done = subprocess.run([BOSUN, "restore", str(bad), "--data", str(tmp_path / "x")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1 and "is not a Bosun backup" in done.stderr
