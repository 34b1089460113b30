"""The event loop every component and benchmark runs on."""
from __future__ import annotations

import asyncio
from collections.abc import Callable


def factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it is, with uvicorn[standard]); None: asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
