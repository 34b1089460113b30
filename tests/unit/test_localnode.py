"""`bosun up`'s own node: its default name, its agent's arguments and its environment (no plane secret)."""
from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from core import nodes
from supervisor import localnode


@pytest.mark.parametrize(("host", "name"), [
    ("vm", "vm"), ("GPU_Box.lab.example", "gpu-box"), ("-x-", "x"), ("...", "local"), ("", "local"),
    ("a" * 80, "a" * nodes.MAX_NAME),
])
def test_a_node_name_from_any_host_name(host: str, name: str) -> None:
    assert localnode.node_name(host) == name
    msgspec.convert(localnode.node_name(host), nodes.NodeName)


def test_the_agent_stops_its_replicas_with_bosun_up_unless_it_keeps_them() -> None:
    data = Path("/d")
    args = localnode.agent_args(data, "vm", "auto", "", keep_replicas=False)
    assert args == ["agent", "--join", "/d/agent/join.json", "--node", "vm", "--gpus", "auto", "--data", "/d",
                    "--fence-after", "0", "--stop-replicas-on-exit"]  # never fences: it is the plane's machine
    kept = localnode.agent_args(data, "vm", "2", "zone=a", keep_replicas=True)
    assert "--stop-replicas-on-exit" not in kept and kept[-2:] == ["--labels", "zone=a"]
    assert localnode.join_args(data, "vm") == ["--data", "/d", "node", "join", "vm", "-o", "/d/agent/join.json"]


def test_the_agent_environment_has_no_plane_secret() -> None:
    env = {"PATH": "/bin", "HOME": "/root", "BOSUN_TOKEN": "t", "BOSUN_NATS_CREDENTIALS": "/d/creds",
           "BOSUN_NATS_URL": "nats://u:p@h:4222", "BOSUN_SERVER": "http://x", "BOSUN_LOG_LEVEL": "DEBUG"}
    assert localnode.agent_environment(env) == {"PATH": "/bin", "HOME": "/root", "BOSUN_LOG_LEVEL": "DEBUG"}


def test_the_embedded_server_listens_on_loopback_unless_told_otherwise() -> None:
    from core import natsserver

    assert 'host: "127.0.0.1"' in natsserver.config(Path("/s"), 0, None, Path("/r"))
    assert 'host: "0.0.0.0"' in natsserver.config(Path("/s"), 0, None, Path("/r"), host="0.0.0.0")
