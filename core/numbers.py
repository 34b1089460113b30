"""Finite numbers: the float types every spec, observation and command field is declared with.

Why: msgspec encodes NaN and ±Infinity as JSON `null`, which its own decoder then refuses for a `float`.
A non-finite number that got into a stored body was a poison message: written once, undecodable ever
after (a driver's outbox, an actor's evolve, admission's quota snapshot). A bound on each side refuses
NaN (it fails every comparison) and both infinities wherever a body is decoded or converted (HTTP, YAML,
NATS, the log), so nothing non-finite gets past a door.
"""
from __future__ import annotations

import sys
from typing import Annotated

from msgspec import Meta

LARGEST = sys.float_info.max
Finite = Annotated[float, Meta(ge=-LARGEST, le=LARGEST)]
"""Any finite float."""
NonNegative = Annotated[float, Meta(ge=0, le=LARGEST)]
"""A finite float >= 0 (times, rates, loads, prices)."""

