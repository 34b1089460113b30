"""Issue #23 on a real `bosun up` (supervised process tree, real uvicorn + httptools): the quickstart's process
example runs fenced, the data directory is private, the driver holds no secret in its environment or argv,
a large request is not mistaken for a large header block, and `/metrics` names no tenant to strangers.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataplane.process import procs as process_procs
from dataplane.process import store as process_store
from tests.integration.test_http_limits import raw_request
from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for
from tests.processes import end_all

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = Up(Path(tmp_path_factory.mktemp("fenced")) / "data").start()
    yield running
    running.stop()
    end_all(running.data)  # a finaliser: nothing outlives us


def bosun(up: Up, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BOSUN, "--data", str(up.data), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def quickstart(up: Up) -> Up:
    """`bosun apply -f examples/process/` from the repository root, as the README says, until Ready."""
    applied = bosun(up, "apply", "-f", "examples/process/")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    def ready() -> Any:
        code, obj = http_get(up.url + "/v1/namespaces/demo/modeldeployments/echo", up.token)
        return code == 200 and obj["status"].get("phase") == "Ready" and obj["status"].get("readyReplicas") == 2

    wait_for(ready, 60, "the process example to be Ready with 2 replicas")
    return up


def test_the_quickstart_process_example_runs_fenced(quickstart: Up) -> None:
    up = quickstart
    replicas = list(process_procs.scan(str(process_store.home(up.data))))
    assert len(replicas) == 2
    for f in replicas:
        uid = _status_field(f.identity.pid, "Uid")
        if os.geteuid() == 0:
            assert uid != "0", f
        else:
            assert uid == str(os.geteuid())


def test_the_data_directory_and_every_file_in_it_are_private(quickstart: Up) -> None:
    up = quickstart
    assert stat.S_IMODE(up.data.stat().st_mode) == 0o700
    loose = []
    for root, dirs, files in os.walk(up.data):
        for name in [*dirs, *files]:
            p = Path(root) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                continue
            if st.st_mode & 0o077:
                loose.append(f"{oct(stat.S_IMODE(st.st_mode))} {p.relative_to(up.data)}")
    assert not loose, loose


def test_the_process_driver_keeps_no_secret_in_its_environment_or_argv(up: Up) -> None:
    pid = up.pids()["driver-process"]
    creds = json.loads((up.data / "nats-credentials.json").read_text())
    secrets_ = [v for v in _strings(creds) if len(v) >= 16]
    assert secrets_
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    for s in secrets_:
        assert s not in environ and s not in cmdline


def test_a_large_request_arriving_in_one_read_is_not_a_large_header_block(up: Up) -> None:
    """A 48-64 KiB request in one read used to be counted as header bytes: 431 after the object was written."""
    doc = {"kind": "ModelDeployment", "metadata": {"name": "wide", "namespace": "demo",
                                                   "labels": {"app": "wide"}},
           "spec": {"model": "m" * 200, "replicas": 0, "placement": {"region": "us-west-2", "gpu": "a100"},
                    "env": {f"K{i}": "v" * 1000 for i in range(50)}, "command": ["true"]}}
    body = json.dumps(doc).encode()
    assert 48 << 10 < len(body) < 64 << 10
    head = (f"PUT /v1/namespaces/demo/modeldeployments/wide HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {up.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    answer = raw_request(up, head + body, endless=False)
    assert answer.startswith(b"HTTP/1.1 202"), answer[:300]


def test_metrics_without_a_token_name_no_tenant(quickstart: Up) -> None:
    up = quickstart
    _, text = http_get(up.url + "/metrics")
    assert 'namespace="demo"' not in str(text) and "echo" not in str(text)
    _, text = http_get(up.url + "/metrics", up.token)
    assert 'name="echo"' in str(text)


def _status_field(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return line.split()[1]
    raise AssertionError(field)


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj
