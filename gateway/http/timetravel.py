"""`GET ...?at=<seq>`: a resource as of any stream sequence, folded from the log with projections' reducer.

The same pure `fold`/`to_api` the projector uses, so "now" and "as of N" can never disagree.
"""
from __future__ import annotations

import contextlib
from typing import Any

from actors.controller import DEFAULT, Registry
from core import subjects
from core.log import Log
from core.names import Ref


async def object_at(log: Log, ref: Ref, seq: int, registry: Registry = DEFAULT) -> dict[str, Any] | None:
    from projections.reducer import decode, fold, to_api

    row = None
    async with contextlib.aclosing(log.read(subjects.resource_events(ref), up_to_seq=seq)) as messages:
        async for message in messages:
            row = fold(row, message, decode(message, registry), registry)
    return None if row is None else to_api(row, registry)
