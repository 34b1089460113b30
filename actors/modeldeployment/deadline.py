"""`spec.progressDeadlineSeconds`: a rollout that makes no progress for that long says so.

Pure. Progress is a new generation or more ready replicas than the last status of the same generation
said; its time is kept in the status itself (`lastProgressAt`, written only when progress happens, so
the status changes no more often than before). Until the deadline the `Progressing` condition is True
and the actor asks to be woken at it; past it, `Progressing=False` with reason `ProgressDeadlineExceeded`
(the rollout goes on: capacity may still come; `bosun wait` and `apply --wait` stop there). A spec
without the field gets no condition and no field: its history replays exactly as before.
"""
from __future__ import annotations

import datetime as dt

from msgspec.structs import replace

from actors.modeldeployment.spec import ModelDeploymentSpec
from core.events import Condition, StatusUpdated

EXCEEDED = "ProgressDeadlineExceeded"


def progress(status: StatusUpdated, previous: StatusUpdated | None, spec: ModelDeploymentSpec,
             now: float) -> tuple[StatusUpdated, float | None]:
    """`status` with its Progressing condition and `lastProgressAt`, and when to look again (None: never)."""
    deadline = spec.progress_deadline_seconds
    if deadline is None or status.phase == "Deleting":
        return status, None
    before = previous.fields if previous is not None and \
        previous.observed_generation == status.observed_generation else {}
    since, ready = _epoch(before.get("lastProgressAt")), status.fields.get("readyReplicas", 0)
    if since is None or ready > before.get("readyReplicas", 0):
        since = now
    due = since + deadline
    if status.phase == "Ready":
        condition, wake = Condition(type="Progressing", status="True", reason="Converged",
                                    message="rollout complete"), None
    elif now >= due:
        condition, wake = Condition(type="Progressing", status="False", reason=EXCEEDED,
                                    message=f"no progress for {deadline:g}s"), None
    else:
        condition, wake = Condition(type="Progressing", status="True", reason="RollingOut",
                                    message=f"progress deadline {deadline:g}s"), due
    return replace(status, conditions=(*status.conditions, condition),
                   fields={**status.fields, "lastProgressAt": _stamp(since)}), wake


def _stamp(epoch: float) -> str:
    """RFC 3339 with milliseconds, as people (and `metadata.createdAt`) read times."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
