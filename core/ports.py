"""Free loopback ports for servers started later (nats nodes, gateways, replicas): picked, then bound by another
process a moment after.

Why not port 0 and read it back: the kernel hands out the same range (`ip_local_port_range`, 32768-60999 on
Linux) for every outgoing connection's own port, so in the moment between picking and binding a busy machine's
next connection can take it ("address already in use": it happened under a loaded test run). A port below that
range is never handed out that way; it is checked free by binding it, and picked at random so two pickers at
once rarely meet (the cluster retries with others when they do: `core.cluster.Cluster.start`).
"""
from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20_000
"""Below the pick range: the well-known and registered ports services are commonly configured on."""


def free_port() -> int:
    """A loopback port nobody listens on right now, outside the kernel's ephemeral range when there is room."""
    low = _ephemeral_low()
    for _ in range(64):
        port = random.randrange(LOWEST, low) if low > LOWEST + 1000 else 0
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port))
                return int(s.getsockname()[1])
        except OSError:
            continue
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports."""
    ports: list[int] = []
    while len(ports) < n:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768
