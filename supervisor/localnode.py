"""`bosun up`'s own machine as a node: the join and the agent it supervises beside the other components.

Why an agent and not only the `process` driver: a pool made of nodes (`driver: node`) can then place replicas
on this machine too, exactly as on any other, and `bosun get nodes` shows it. The `process` driver stays for
`driver: process` pools (their devices are the pool's own, their commands `bosun.cmd.process.>`); both run
replicas with the same machinery (`dataplane/agent/runner.py` is the process driver's, at other edges).

The agent gets the node's own credential, never the plane's: once the gateway answers, the supervisor runs
`bosun node join NAME -o <data>/agent/join.json` (a one-shot admin command reading the admin token from
`connection.json`, as any CLI call), then `bosun agent --join` that file in an environment without the
NATS credentials file, the admin token or the internal NATS URL (`agent_environment`).
"""
from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from core import nodes
from core.settings import VARIABLES
from supervisor.children import Child

JOIN = "node-join"
AGENT = "agent"
KEPT = frozenset({"BOSUN_LOG_LEVEL", "BOSUN_LOG_FORMAT", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME",
                  "OTEL_TRACES_EXPORTER", "BOSUN_TRACE_URL"})
"""The only Bosun settings the agent (and the join) inherit: how to log and trace, nothing that reaches NATS."""


def node_name(hostname: str) -> str:
    """A node name from a host name: its first label, lower-case, anything but `[a-z0-9-]` made `-`, at most
    `nodes.MAX_NAME` characters; `local` when nothing is left (`GPU_Box.lab` -> `gpu-box`)."""
    label = hostname.split(".", 1)[0].lower()
    name = re.sub(r"[^a-z0-9-]+", "-", label)[:nodes.MAX_NAME].strip("-")
    return name or "local"


def join_file(data: Path) -> Path:
    return data / "agent" / "join.json"


def join_args(data: Path, node: str) -> list[str]:
    """`bosun node join` for this machine: the Node (if absent), its Principal and RoleBinding, the join file
    (a second `bosun up` joins again: the token rotates)."""
    return ["--data", str(data), "node", "join", node, "-o", str(join_file(data))]


def agent_args(data: Path, node: str, gpus: str, labels: str, keep_replicas: bool) -> list[str]:
    """`bosun agent` for this machine; its records and epoch live under `<data>/agent` (apart from the process
    driver's `<data>/process`). Unless `keep_replicas`, it stops its replicas when `bosun up` stops.

    It never fences itself (`--fence-after 0`): it shares the machine with the plane, so "cut off" can only mean
    the plane itself is down (a NATS or gateway outage), and no other node would replace what it stopped."""
    return ["agent", "--join", str(join_file(data)), "--node", node, "--gpus", gpus, "--data", str(data),
            "--fence-after", "0",
            *(["--labels", labels] if labels else []), *([] if keep_replicas else ["--stop-replicas-on-exit"])]


def children(data: Path, node: str, gpus: str, labels: str, keep_replicas: bool, gateway: str,
             admin_token: Path) -> list[Child]:
    """This machine's join (once the gateway answers) and agent (once joined). The agent's token refused
    (`nodes.REFUSED_EXIT`) stops it for good when the gateway confirms the node's credential is gone
    (`revoked`); a rewritten join file starts it again."""
    return [Child(JOIN, join_args(data, node), held=True, once=True, secretless=True),
            Child(AGENT, agent_args(data, node, gpus, labels, keep_replicas), held=True, after=JOIN, secretless=True,
                  final_exits={nodes.REFUSED_EXIT: partial(revoked, gateway, admin_token, data, node)},
                  rearm=join_file(data))]


def revoked(gateway: str, admin_token: Path, data: Path, node: str) -> str:
    """Why the local node's agent, its token refused, is not restarted: the node's Principal is gone (`bosun
    node remove`) or holds another token (joined again into another file). "" when the gateway does not say
    so: NATS also refuses a connect that no gateway answers the auth callout for (one restarting), and a
    token rotated into our own join file is picked up by a restart."""
    try:
        token = str(json.loads(join_file(data).read_text())["token"])
        secret = admin_token.read_text().strip()
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    url = f"{gateway}/v1/namespaces/_cluster/principals/{nodes.principal(node)}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"}),
                                    timeout=2.0) as r:
            spec = json.loads(r.read()).get("spec") or {}
    except urllib.error.HTTPError as e:
        if e.code != 404:
            return ""
        return (f"node {node} was removed (bosun node remove {node}): its agent is not restarted. `bosun node "
                f"join {node} -o {join_file(data)}` brings it back, and so does the next `bosun up` (with "
                f"--no-node: no local node)")
    except (OSError, ValueError, AttributeError):
        return ""
    if spec.get("tokenSha256") == hashlib.sha256(token.encode()).hexdigest():
        return ""
    return (f"node {node} was joined again with a token other than {join_file(data)}'s: its agent is not "
            f"restarted (rewrite that file with `bosun node join {node} -o {join_file(data)}` to bring it back)")


def agent_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without any Bosun variable but `KEPT`: no credentials file, no token, no NATS URL (the agent
    reads its seeds and token from the join file only)."""
    return {k: v for k, v in env.items() if k not in VARIABLES or k in KEPT}
