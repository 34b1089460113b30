"""A resource's claim on GPUs of one pool (pure): ask, wait for the answer, retry a refusal with backoff, and
give everything back. A kind that needs GPUs keeps a `Claim` in its state and folds its events into it.

The pool (`actors.capacity`) is the one writer of its allocations; a claim only asks (absolute targets, ids
growing across incarnations) and remembers the answers addressed to it. A pool answers a request in log
order once it is provisioned, even one sent before it existed. A refused request is asked again after a
jittered exponential backoff; each retry is narrated (`ClaimRetrying`) with why and when, so a status can
say it rather than stay Progressing forever.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import msgspec
from msgspec.structs import replace

from actors.capacity import CapacityGranted, CapacityRequested, answers_for, request
from actors.decisions import Decision, backoff
from core.events import Event
from core.names import Ref
from core.numbers import Finite

RETRY_CAP = 10.0
"""Longest wait between two requests of a refused claim (seconds)."""


class ClaimRetrying(Event, frozen=True, tag="claim.retrying"):
    pool: str
    attempt: int
    at: Finite
    reason: str

    def summary(self) -> str:
        return f"no GPU from {self.pool}: {self.reason}; retry {self.attempt} at {_clock(self.at)}"


class Waiting(NamedTuple):
    """What a claim that does not hold its GPUs yet does now, and what its resource's status says."""

    decision: Decision
    phase: str
    """"Progressing" while a request is answered, "Pending" while a refused one waits for its retry."""
    message: str


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    asked: int = 0
    """Id of the latest request (ids grow across incarnations: the pool answers each once)."""
    wants: int = 0
    answered: int = 0
    held: int = 0
    """GPUs the pool granted."""
    refused: str = ""
    """Why it has none yet: the pool's refusal, or no such pool; cleared by the next request."""
    attempt: int = 0
    retry_at: float = 0.0
    """When the next request of a refused claim is due (0: none is)."""

    def fold(self, token: str, e: Event) -> Claim:
        """The claim of `token` after `e` (its own requests and retries, the answers addressed to it)."""
        if isinstance(e, CapacityRequested) and e.requester == token:
            return replace(self, asked=e.request_id, wants=e.gpus, refused="", retry_at=0.0)
        if isinstance(e, ClaimRetrying):
            return replace(self, attempt=e.attempt, retry_at=e.at, refused=e.reason)
        c = self
        for a in answers_for(e, token):
            c = replace(c, answered=max(c.answered, a.request_id), held=a.gpus, attempt=0) if isinstance(
                a, CapacityGranted) else replace(c, answered=max(c.answered, a.request_id), refused=a.reason)
        return c

    @property
    def pending(self) -> bool:
        """A request is unanswered."""
        return self.asked > self.answered

    def renewed(self) -> Claim:
        """What a new incarnation keeps: the request ids."""
        return Claim(asked=self.asked, answered=self.answered)

    def hold(self, ref: Ref, pool: str, gpus: int, now: float) -> Waiting | None:
        """What `ref` does to hold `gpus` GPUs of `pool`: None once it holds them; else a request, a retry
        scheduled after a refusal (with a wake-up), or waiting (for the answer, or the retry time)."""
        if self.held >= gpus:
            return None
        asking = Waiting(Decision(), "Progressing", f"asking {pool} for {gpus} GPU")
        if self.pending:
            return asking
        if self.retry_at and now < self.retry_at:
            retry = f"{self.refused}; retry {self.attempt} at {_clock(self.retry_at)}"
            return Waiting(Decision(wake_at=self.retry_at), "Pending", retry)
        if self.refused and not self.retry_at:  # refused: ask again after a backoff
            at = now + backoff(self.attempt + 1, ref.token, base=1.0, cap=RETRY_CAP)
            event = ClaimRetrying(pool=pool, attempt=self.attempt + 1, at=at, reason=self.refused)
            return Waiting(Decision(events=(event,), wake_at=at), "Pending",
                           f"{self.refused}; retry {event.attempt} at {_clock(at)}")
        return asking._replace(decision=Decision(messages=(request(ref, pool, gpus, self.asked + 1),)))

    def give_back(self, ref: Ref, pool: str) -> Decision | None:
        """What `ref` does to hold nothing: None once it holds nothing and waits for no answer."""
        if not (self.held or (self.pending and self.wants)):
            return None
        return Decision(messages=() if self.pending else (request(ref, pool, 0, self.asked + 1),))


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(t))
