"""A linearizability checker for a compare-and-set register (Wing & Gong's search, Lowe's memoization).

Why our own: no maintained one exists on PyPI. The register is one resource's spec; a write carries
`If-Match: <resourceVersion>` and either succeeds (202, with the new version) or fails (409). A history is
linearizable when the operations can be put in one order, each at an instant between its invocation and
its response, that a sequential register would have produced. The search linearizes, one at a time, an
operation that is minimal (invoked before every pending operation's response); the cache of (set of
linearized operations, register state) cuts the exponential search down to what P-compositionality and
real histories need. An operation without a response (`ok is None`) may have taken effect or not, at any
time after its invocation.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

State = tuple[object, "int | None"]
"""(value, version); version None = written by an operation whose answer was lost (matches any)."""


@dataclass(frozen=True)
class Cas:
    """`If-Match: expect` write of `value`; `ok` True (202, `version` the new one), False (409) or None."""

    call: float
    ret: float
    expect: int
    value: object
    ok: bool | None
    version: int | None = None
    client: int = 0


@dataclass(frozen=True)
class Result:
    ok: bool
    order: tuple[int, ...] = ()
    """A witness order (indexes into the history) when linearizable."""
    stuck_at: int = 0
    """When not: how many operations the longest linearizable prefix held."""


def _step(state: State, op: Cas) -> list[State]:
    """The states the register may move to when `op` takes effect now (empty list: impossible now)."""
    _value, version = state
    matches = version is None or version == op.expect
    if op.ok is True:
        return [(op.value, op.version)] if matches else []
    if op.ok is False:
        return [state] if version is None or version != op.expect else []
    return [(op.value, None), state] if matches else [state]


def check(history: Sequence[Cas], initial: State) -> Result:
    """Is `history` linearizable from `initial`? Depth-first over minimal operations, memoized."""
    n = len(history)
    inf = float("inf")
    rets = [inf if op.ok is None else op.ret for op in history]
    seen: set[tuple[int, State]] = set()
    best = 0
    stack: list[tuple[int, State, tuple[int, ...]]] = [(0, initial, ())]
    while stack:
        done, state, order = stack.pop()
        if done == (1 << n) - 1:
            return Result(True, order)
        best = max(best, len(order))
        pending = [i for i in range(n) if not done >> i & 1]
        horizon = min(rets[i] for i in pending)
        for i in pending:
            if history[i].call > horizon:
                continue  # someone else must respond before this one can start
            for nxt in _step(state, history[i]):
                key = (done | 1 << i, nxt)
                if key not in seen:
                    seen.add(key)
                    stack.append((done | 1 << i, nxt, (*order, i)))
    return Result(False, stuck_at=best)
