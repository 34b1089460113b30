"""Each component as its own process (`bosun controller`, ...) against a real nats-server: it joins the log
and exits cleanly (code 0) on SIGTERM, as it must under `bosun up`, systemd or compose."""
from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path

import nats
import pytest

from core import natsserver
from tests.integration.test_up_support import BOSUN, http_get, wait_for

STANDALONE = {
    "controller": ["controller", "--partitions", "4"],
    "projector": ["projector"],
    "driver-sim": ["driver", "sim", "--latency", "0.01", "--seed", "7", "--relist-interval", "0.5"],
}


async def stream_exists(url: str) -> bool:
    nc = await nats.connect(url)
    try:
        names = await nc.jsm().streams_info()
        return any(s.config.name == "BOSUN" for s in names)
    finally:
        await nc.close()


def spawn(args: list[str], url: str, data: Path, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[str]:
    env = {"BOSUN_NATS_URL": url, "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([BOSUN, *args, "--data", str(data)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, pass_fds=pass_fds)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


@pytest.mark.parametrize("name", sorted(STANDALONE))
def test_component_runs_standalone_and_stops_cleanly_on_sigterm(
        name: str, nats_server: natsserver.Server, tmp_path: Path) -> None:
    url = nats_server.url()
    proc = spawn(STANDALONE[name], url, tmp_path / "data")
    try:
        wait_for(lambda: proc.poll() is None and asyncio.run(stream_exists(url)), 30,
                 f"{name} to create the BOSUN stream")
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert '"component stopped"' in out or "component stopped" in out


def test_gateway_serves_on_an_inherited_socket(nats_server: natsserver.Server, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    data = tmp_path / "data"
    proc = spawn(["gateway", "--fd", str(listener.fileno())], nats_server.url(), data,
                 pass_fds=(listener.fileno(),))
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200, 60,
                 "the gateway to answer on the socket it was handed")
        assert (data / "admin.token").stat().st_mode & 0o777 == 0o600
    finally:
        code, out = stop(proc)
        listener.close()
    assert code == 0, out


def test_component_without_nats_url_is_a_usage_error(tmp_path: Path) -> None:
    r = subprocess.run([BOSUN, "controller", "--data", str(tmp_path)], capture_output=True, text=True,
                       timeout=60, env={"PATH": "/usr/bin:/bin"}, check=False)
    assert r.returncode == 2
    assert "--nats" in r.stderr


def test_kill_replica_with_nothing_to_kill_fails_and_unknown_kind_is_refused(tmp_path: Path) -> None:
    r = subprocess.run([BOSUN, "driver", "sim", "kill-replica", "modeldeployments/web", "-n", "demo",
                        "--data", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1 and r.stdout == "" and "no running replica" in r.stderr
    r = subprocess.run([BOSUN, "driver", "sim", "kill-replica", "teapot/web", "-n", "demo", "--data",
                        str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "unknown kind" in r.stderr
