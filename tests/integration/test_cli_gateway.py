"""The CLI against a real gateway (uvicorn + projector in this loop; click runs in a worker thread)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from projections import projector
from tests.conftest import eventually
from tests.integration.test_gateway_support import TOKEN

BOSUN = str(Path(sys.executable).parent / "bosun")
MANIFESTS = """\
kind: GpuPool
metadata: {name: pool-a, namespace: infra}
spec: {region: us-west-2, gpu: a100, capacity: 8, namespaces: ["*"]}
---
kind: ModelDeployment
metadata: {name: chat, namespace: demo, labels: {app: chat}}
spec:
  model: llama-3-8b
  replicas: 2
  placement: {region: us-west-2, gpu: a100}
"""


@pytest.fixture
async def data_dir(nats_url: str, tmp_path: Path) -> AsyncIterator[Path]:
    """A data dir whose connection.json points at a live gateway, as `bosun up` would write it."""
    from gateway.server import serve

    data = tmp_path / "data"
    data.mkdir()
    (data / "admin.token").write_text(TOKEN)
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    proj = asyncio.create_task(projector.serve(nats_url, data / "db", stop=stop))
    gw = asyncio.create_task(serve(nats_url, data / "db", stop=stop, token_file=data / "admin.token",
                                   on_ready=ready.set_result))
    try:
        url = await asyncio.wait_for(ready, 20)
        (data / "connection.json").write_text(json.dumps({"http": url, "nats": nats_url,
                                                          "tokenFile": str(data / "admin.token")}))
        yield data
    finally:
        stop.set()
        await asyncio.wait_for(gw, 20)
        await asyncio.wait_for(proj, 20)


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def bosun(data: Path, *args: str, stdin: str | None = None) -> Result:
    """The real `bosun` executable in a subprocess (the gateway logs to this process's stdout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    proc = await asyncio.create_subprocess_exec(BOSUN, "--data", str(data), *args, env=env,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    return Result(proc.returncode or 0, out.decode(), err.decode())


async def test_apply_get_diff_delete(data_dir: Path, tmp_path: Path) -> None:
    file = tmp_path / "m.yaml"
    file.write_text(MANIFESTS)
    r = await bosun(data_dir, "apply", "-f", str(file))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["gpupool/pool-a created", "modeldeployment/chat created"]
    r = await bosun(data_dir, "apply", "-f", "-", stdin=MANIFESTS)
    assert r.stdout.splitlines() == ["gpupool/pool-a unchanged", "modeldeployment/chat unchanged"]

    async def listed() -> Result | None:
        got = await bosun(data_dir, "get", "md", "-n", "demo")
        return got if "chat" in got.stdout else None

    table = (await eventually(listed)).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "MODEL", "READY", "POOLS", "AGE"]
    obj = json.loads((await bosun(data_dir, "get", "modeldeployment/chat", "-n", "demo", "-o", "json")).stdout)
    assert obj["metadata"]["name"] == "chat" and obj["spec"]["replicas"] == 2
    names = await bosun(data_dir, "get", "deployments", "-A", "-o", "name")
    assert names.stdout.strip() == "modeldeployment/chat"

    file.write_text(MANIFESTS.replace("replicas: 2", "replicas: 4"))
    r = await bosun(data_dir, "diff", "-f", str(file))
    assert r.exit_code == 1, r.output
    assert "modeldeployment/chat (demo): update" in r.stdout and "$.spec.replicas: 2 -> 4" in r.stdout
    r = await bosun(data_dir, "apply", "-f", str(file))
    assert "modeldeployment/chat configured" in r.stdout
    assert (await bosun(data_dir, "diff", "-f", str(file))).exit_code == 0

    r = await bosun(data_dir, "history", "md/chat", "-n", "demo", "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["items"]
    r = await bosun(data_dir, "describe", "md/chat", "-n", "demo")
    assert r.exit_code == 0 and "Name:             chat" in r.stdout and "Recent events:" in r.stdout

    r = await bosun(data_dir, "delete", "md/chat", "-n", "demo")
    assert r.exit_code == 0 and r.stdout.strip() == "modeldeployment/chat deleted"


async def test_errors_print_code_and_details(data_dir: Path) -> None:
    bad = MANIFESTS.replace("replicas: 2", "replicas: -1")
    r = await bosun(data_dir, "apply", "-f", "-", stdin=bad)
    assert r.exit_code == 1
    assert "error: Invalid:" in r.stderr and "$.spec.replicas" in r.stderr
    r = await bosun(data_dir, "get", "widgets")
    assert r.exit_code == 1 and "error: UnknownKind" in r.stderr
    r = await bosun(data_dir, "--token", "nope", "get", "md")
    assert r.exit_code == 1 and r.stderr.startswith("error: Unauthorized")
    r = await bosun(data_dir, "get", "md/missing", "-n", "demo")
    assert r.exit_code == 1 and "error: NotFound" in r.stderr


async def test_cluster_scoped_kinds_are_listed_without_a_namespace_and_read_ready(data_dir: Path) -> None:
    role = "kind: Role\nmetadata: {name: viewer}\nspec: {rules: [{verbs: [get], kinds: ['*'], namespaces: ['*']}]}\n"
    assert (await bosun(data_dir, "apply", "-f", "-", stdin=role)).exit_code == 0

    async def listed() -> Result | None:
        r = await bosun(data_dir, "get", "roles")  # no -A: a Role has no namespace to filter on
        return r if r.exit_code == 0 and "viewer" in r.stdout else None

    got = await eventually(listed, timeout=20)
    header, row = got.stdout.splitlines()[:2]
    assert header.split()[:2] == ["NAME", "PHASE"] and row.split()[:2] == ["viewer", "Ready"], got.stdout
