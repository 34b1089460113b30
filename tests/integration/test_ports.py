"""Free ports are picked outside the kernel's range for outgoing connections' own ports, so a busy machine's
next connection cannot take one between its pick and its bind (`bosun up --cluster 3` exited once on that)."""
from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from core import ports


def test_a_picked_port_is_free_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    picked = ports.free_ports(20)
    assert len(set(picked)) == 20 and all(ports.LOWEST <= p < low for p in picked), picked
    for port in picked:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        picks, real = iter([port, port]), random.randrange
        monkeypatch.setattr(random, "randrange", lambda a, b: next(picks, None) or real(a, b))
        assert ports.free_port() != port
