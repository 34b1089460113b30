"""`bosun up --sim-nodes N`: the simulated nodes' component and their Node resources.

The component (`bosun driver sim-nodes`) joins, beats and runs every simulated node under its own NATS user,
whose rights name those nodes one by one (`core.natsusers.sim_nodes_role`). Like `bosun node join`, the
supervisor declares each Node through the gateway as the admin (only those absent: a Node's spec belongs to
its users, so a cordon survives a restart), once the gateway answers, on a thread of its own.
"""
from __future__ import annotations

import threading
from pathlib import Path

import httpx
import structlog

from core import natsusers, nodes
from core.names import CLUSTER_NS
from supervisor.children import Child

log = structlog.get_logger("bosun.up")
RETRY = 1.0
PAGE = 1000


def roles(count: int) -> tuple[natsusers.Role, ...]:
    """The NATS user of `count` simulated nodes' component (none for 0)."""
    return (natsusers.sim_nodes_role(nodes.sim_names(count)),) if count else ()


def children(data: str, count: int, gpus: int, latency: float | None, seed: int | None) -> list[Child]:
    """The component serving `count` simulated nodes (none for 0)."""
    if not count:
        return []
    return [Child("driver-sim-nodes", ["driver", "sim-nodes", "--data", data, "--count", str(count), "--gpus",
                                       str(gpus), *(["--latency", str(latency)] if latency is not None else []),
                                       *(["--seed", str(seed)] if seed is not None else [])])]


def declare(url: str, token_file: Path, count: int, stopping: threading.Event) -> None:
    """Apply every simulated node's Node that does not exist yet; retried until done or `stopping`."""
    names = nodes.sim_names(count)
    while not stopping.is_set():
        try:
            with httpx.Client(base_url=url, timeout=30,
                              headers={"Authorization": f"Bearer {token_file.read_text().strip()}"}) as http:
                existing = _existing(http)
                missing = [n for n in names if n not in existing]
                for name in missing:
                    if stopping.is_set():
                        return
                    r = http.put(f"/v1/namespaces/{CLUSTER_NS}/nodes/{name}",
                                 json={"kind": "Node", "metadata": {"name": name}, "spec": {}})
                    r.raise_for_status()
            log.info("simulated nodes declared", nodes=count, new=len(missing))
            return
        except (httpx.HTTPError, OSError) as e:
            log.warning("simulated nodes not declared yet", error=str(e) or type(e).__name__)
            stopping.wait(RETRY)


def _existing(http: httpx.Client) -> set[str]:
    names: set[str] = set()
    token: str | None = None
    while True:
        r = http.get("/v1/nodes", params={"limit": PAGE, **({"continue": token} if token else {})})
        r.raise_for_status()
        body = r.json()
        names.update(item["metadata"]["name"] for item in body.get("items") or [])
        token = body.get("continue")
        if not token:
            return names


def start_declaring(url: str, token_file: Path, count: int, stopping: threading.Event) -> threading.Thread | None:
    if not count:
        return None
    thread = threading.Thread(target=declare, args=(url, token_file, count, stopping), name="sim-nodes",
                              daemon=True)
    thread.start()
    return thread
