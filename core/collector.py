"""The garbage collector's settings for Bosun's long-running components (issue 27).

Python collects its youngest generation every 700 net allocations of container objects. An asyncio
component allocates futures, tasks, handles, messages and events by the thousand per second, most of them
alive when a collection runs (in flight), so every collection walks them again: in a controller
converging 2,000 deployments, ~600 young collections and 5 full ones took 0.5-0.9 s of its ~3.3 s of CPU
(`bench/RESULTS.md`). Refcounting frees nearly everything these components drop; the collector is only
for cycles, which are rare here. So the youngest generation is collected every GEN0 allocations
instead, and what start-up allocated (modules, classes, the registry) is frozen: never garbage, never
walked again by a full collection; so is whatever survives a young collection (`_freeze_survivors`), and a
sweep every SWEEP_SECONDS looks at everything once. Memory: at most GEN0 more young objects before a
collection, a few MB at worst, and a cycle that outlives its first young collection lives until the sweep.
"""
from __future__ import annotations

import gc
import threading
import time
from typing import Any

GEN0 = 10_000
"""Net container allocations between two collections of the youngest generation (Python's default: 700)."""
OLDER = 10
"""Collections of a generation between two of the next (Python's default, kept)."""


SWEEP_SECONDS = 900.0
"""Between two full collections of everything (`_sweep`): the safety net for cycles that outlived their first
young collection."""

_tuned = False


def tune() -> None:
    """Call once a component has started up: freeze what exists, collect young objects less often, and freeze
    what survives each young collection."""
    global _tuned
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0, OLDER, OLDER)
    if _tuned:
        return
    _tuned = True
    gc.callbacks.append(_freeze_survivors)
    threading.Thread(target=_sweep, name="gc-sweep", daemon=True).start()


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    """What a young collection leaves is long-lived state (actors, read models) or still in flight, and
    refcounting frees it when dropped. Left in the older generations, it was walked again and again: a
    controller holding 48,000 deployments paused 20-45 ms per middle collection and 380-490 ms per full
    one, finding nothing (`bench/RESULTS.md`). Frozen, the older generations stay empty."""
    if phase == "stop":
        gc.freeze()


def _sweep() -> None:
    while True:
        time.sleep(SWEEP_SECONDS)
        sweep()


def sweep() -> None:
    """Everything looked at once (one pause of a full collection every `SWEEP_SECONDS`): a cycle that was
    frozen while still referenced is freed here."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
