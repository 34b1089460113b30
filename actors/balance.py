"""How partitions are shared among controller hosts (pure): each live host holds about P/N of them.

Read off the lease board (the `bosun-leases` bucket): `p.<n>` keys are partition leases, `host.<id>`
keys are the hosts' presence records (also what `GET /v1/controllers` shows). Both carry their own expiry
time, so a dead host's partitions are free once its leases pass it, whatever the bucket's TTL.
"""
from __future__ import annotations

import math

import msgspec


class Lease(msgspec.Struct):
    host: str
    expires: float


class Presence(msgspec.Struct):
    """One controller host as the ops view shows it; `expires` is when it counts as gone."""

    hostId: str
    partitions: list[int]
    leaseExpiresAt: float
    lag: int
    actors: int
    expires: float
    scope: str = ""
    """The host's kinds scope (`actors.scope`): "" for the main host (every kind not run apart)."""
    kinds: list[str] = []
    """The kinds whose actors it runs."""


_lease = msgspec.json.Decoder(Lease)
_presence = msgspec.json.Decoder(Presence)


def lease_of(value: bytes) -> Lease:
    """A lease value; a bare host id (written by versions before expiring leases) never expires by
    itself: the bucket's TTL removes it."""
    try:
        return _lease.decode(value)
    except msgspec.DecodeError:
        return Lease(value.decode(errors="replace"), math.inf)


def presences(board: dict[str, bytes], now: float) -> list[Presence]:
    """The live hosts of the board, by id."""
    out = []
    for key, value in board.items():
        if not key.startswith("host."):
            continue
        try:
            p = _presence.decode(value)
        except msgspec.DecodeError:
            continue
        if p.expires > now:
            out.append(p)
    return sorted(out, key=lambda p: p.hostId)


def all_presences(board: dict[str, bytes], now: float) -> list[Presence]:
    """The live hosts of every scope (keys `host.<id>` and `<scope>.host.<id>`), by scope then id; the
    scope is the key's (what the host leases under), whatever the record says."""
    out = []
    for key, value in board.items():
        scope, sep, _ = key.partition(".host.") if not key.startswith("host.") else ("", "host.", "")
        if not sep or "." in scope:
            continue
        try:
            p = _presence.decode(value)
        except msgspec.DecodeError:
            continue
        if p.expires > now:
            p.scope = scope
            out.append(p)
    return sorted(out, key=lambda p: (p.scope, p.hostId))


def fair_share(partitions: int, hosts: int) -> int:
    """The most partitions one host should hold: ceil(P/N) (so N hosts always cover all P)."""
    return math.ceil(partitions / max(1, hosts))


def free(board: dict[str, bytes], partitions: int, now: float) -> set[int]:
    """Partitions nobody holds a live lease on."""
    held = set()
    for p in range(partitions):
        value = board.get(f"p.{p}")
        if value is not None and lease_of(value).expires > now:
            held.add(p)
    return set(range(partitions)) - held


def held_by(board: dict[str, bytes], host: str, partitions: int) -> set[int]:
    """Partitions whose lease on the board names `host`, live or not: a host starting over takes these back."""
    return {p for p in range(partitions) if (v := board.get(f"p.{p}")) is not None and lease_of(v).host == host}


def next_expiry(board: dict[str, bytes], me: str, now: float) -> float | None:
    """The earliest time a live lease or presence of another host runs out: when a dead host's partitions
    become free (a live host renews long before), so the owners look again exactly then, not a renewal later."""
    times = []
    for key, value in board.items():
        try:
            if key.startswith("p."):
                lease = lease_of(value)
                host, expires = lease.host, lease.expires
            elif key.startswith("host."):
                p = _presence.decode(value)
                host, expires = p.hostId, p.expires
            else:
                continue
        except msgspec.DecodeError:
            continue
        if host != me and now < expires < math.inf:
            times.append(expires)
    return min(times, default=None)


def excess(owned: set[int], share: int) -> set[int]:
    """What to hand off to get down to `share`: the highest-numbered partitions."""
    return set(sorted(owned)[share:])
