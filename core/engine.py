"""What the archive and the Object Store helpers need of a connection to the engine (a `core.log.Log`).

A protocol, so `core.archive`, which `core.log` builds on, never imports `core.log` back.
"""
from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

from nats.js import JetStreamContext
from nats.js.manager import JetStreamManager

from core.replies import Replies
from core.stored import StoredMessage


class Engine(Protocol):
    js: JetStreamContext
    jsm: JetStreamManager
    replies: Replies
    replicas: int

    def direct(self, req: dict[str, Any], stream: str) -> AsyncGenerator[StoredMessage, None]:
        """The messages of one direct-get batch request to `stream` (a missing stream reads as empty)."""
        ...
