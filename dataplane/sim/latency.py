"""Seeded start-up latency: the same seed and replica always take the same time to become ready.

Determinism matters more than realism here: a test or benchmark re-run with the same seed must see the
same readiness order, so the jitter is a hash of (seed, resource, replica), never a shared RNG whose
draws would depend on the order commands happen to arrive in.
"""
from __future__ import annotations

import hashlib

JITTER_LOW = 0.5
JITTER_HIGH = 1.5


def unit(seed: int, *key: str) -> float:
    """A deterministic pseudo-random number in [0, 1) for `key` under `seed`."""
    digest = hashlib.blake2b("/".join((str(seed), *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def ready_delay(latency: float, seed: int, token: str, replica: str) -> float:
    """Seconds from start to ready: `latency` scaled by a seeded factor in [0.5, 1.5)."""
    if latency <= 0:
        return 0.0
    return latency * (JITTER_LOW + (JITTER_HIGH - JITTER_LOW) * unit(seed, token, replica))
