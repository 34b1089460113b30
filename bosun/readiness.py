"""When is a resource done? The pure rules behind `Client.wait`, `bosun wait` and `bosun apply --wait`.

Ready means converged on the latest spec (docs/design.md, "Status convention"): `status.observedGeneration`
has reached `metadata.generation` (and at least the generation the apply answered), and the phase is
Ready with a Ready condition that is not False. A resource has failed when its phase is Failed, when
its Progressing condition is False for `ProgressDeadlineExceeded`, or when it is deleted while awaited
Ready. Anything else is still waiting, with the Ready condition's reason and message saying why.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

Want = Literal["Ready", "delete"]
State = Literal["ready", "waiting", "failed", "gone"]


class Target(NamedTuple):
    """A resource to wait for; `generation`: at least this one (what an apply answered; 0: any)."""

    kind: str
    name: str
    namespace: str = "default"
    generation: int = 0
    want: Want = "Ready"

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} ({self.namespace})"


class Verdict(NamedTuple):
    state: State
    reason: str = ""
    message: str = ""
    phase: str = ""
    replicas: str = ""
    """`ready/desired` when the status says so (deployments), else empty."""

    @property
    def done(self) -> bool:
        return self.state != "waiting"


def judge(target: Target, obj: dict[str, Any] | None, deleted: bool = False) -> Verdict:
    """Where `target` stands given its object now (None: absent; `deleted`: a DELETED event said so)."""
    if target.want == "delete":
        if obj is None:
            return Verdict("gone", "Deleted", "gone")
        status = obj.get("status") or {}
        return Verdict("waiting", "Deleting", "finalizers still running", str(status.get("phase", "")),
                       _replicas(status))
    if obj is None:
        if deleted:
            return Verdict("failed", "Deleted", "deleted while waiting for it to be Ready")
        return Verdict("waiting", "NotFound", "not in the read model yet")
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    phase, replicas = str(status.get("phase", "")), _replicas(status)
    conditions = {c.get("type"): c for c in status.get("conditions") or () if isinstance(c, dict)}
    generation = max(target.generation, int(meta.get("generation") or 0))
    if int(meta.get("generation") or 0) < target.generation:
        return Verdict("waiting", "Stale", f"the read model is not at generation {target.generation} yet",
                       phase, replicas)
    if int(status.get("observedGeneration") or 0) < generation:
        return Verdict("waiting", "NotObserved", f"generation {generation} not yet observed by its controller",
                       phase, replicas)
    progressing = conditions.get("Progressing") or {}
    if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Verdict("failed", "ProgressDeadlineExceeded", str(progressing.get("message", "")), phase, replicas)
    ready = conditions.get("Ready") or {}
    if phase == "Failed":
        failing = ready or next((c for c in conditions.values() if c.get("status") == "False"), {})
        return Verdict("failed", str(failing.get("reason") or "Failed"), str(failing.get("message", "")),
                       phase, replicas)
    if phase == "Ready" and ready.get("status", "True") == "True":
        return Verdict("ready", str(ready.get("reason", "")), str(ready.get("message", "")), phase, replicas)
    return Verdict("waiting", str(ready.get("reason") or phase or "Pending"), str(ready.get("message", "")),
                   phase, replicas)


def _replicas(status: dict[str, Any]) -> str:
    ready, desired = status.get("readyReplicas"), status.get("desiredReplicas")
    return f"{ready}/{desired}" if isinstance(ready, int) and isinstance(desired, int) else ""


def line(target: Target, verdict: Verdict) -> str:
    """One line a person reads: `modeldeployment/chat (team-a): Pending 0/5 Unschedulable: insufficient …`."""
    what = " ".join(x for x in (verdict.phase or "-", verdict.replicas) if x)
    why = f"{verdict.reason}: {verdict.message}" if verdict.message else verdict.reason
    return f"{target}: {what} {why}".rstrip()


def summary(results: Sequence[tuple[Target, Verdict]]) -> list[str]:
    """What is not done, failures first: the lines an exit with an error prints."""
    pending = [(t, v) for t, v in results if v.state in ("failed", "waiting")]
    pending.sort(key=lambda tv: tv[1].state != "failed")
    return [f"{'failed' if v.state == 'failed' else 'not ready'}: {line(t, v)}" for t, v in pending]
