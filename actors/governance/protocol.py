"""The quota protocol between autoscalers and a namespace's Quota: requests on the Quota's inbox, answers
on its ctl slice (`ctl.quotas`), like GpuPool capacity (`actors.capacity`).

The Quota's ledger actor is the one writer of what each autoscaled deployment of the namespace may run,
so two autoscalers can never both take the last GPU. Requests carry absolute targets (idempotent); an
answer may grant less than asked and says which limit bound it. The ledger also re-answers a holder on
its own when the Quota's limits change (a lowered Quota takes replicas back, a raised one gives them).
"""
from __future__ import annotations

import msgspec

from actors.capacity import POOL_KIND
from actors.decisions import Context, Message
from actors.governance.specs import QuotaLimits
from core.events import Event
from core.names import Ref
from core.numbers import NonNegative

QUOTA_KIND = "quota"
"""The kind whose views (`QuotaView`) autoscalers read from their Context."""


class QuotaView(msgspec.Struct, frozen=True, kw_only=True):
    """What an autoscaler may read of a Quota: that it exists, where, and its limits."""

    ref: Ref
    limits: QuotaLimits


class QuotaRequested(Event, frozen=True, tag="quota.requested"):
    request_id: int
    requester: str
    """Ref token of the deployment."""
    quota: str
    """Name of the Quota asked (the requester folds its own request, keyed by it)."""
    replicas: int
    """Absolute target: the replicas the requester wants to run."""
    gpus_per_replica: int = 1
    price_per_gpu_hour: NonNegative = 0.0
    """The dearest matching pool's price, as admission charges it."""
    fixed: bool = False
    """A deployment without autoscaling reporting its spec's replicas (admitted already): held in full, so
    autoscalers are limited by what it uses. Its request ids are its own, apart from its autoscaler's."""

    def summary(self) -> str:
        what = "reports" if self.fixed else "asks for"
        return f"{self.requester} {what} {self.replicas} replicas (request {self.request_id})"


class QuotaGranted(Event, frozen=True, tag="quota.granted"):
    request_id: int
    """The requester's latest request (a re-answer after a limit change repeats it)."""
    requester: str
    quota: str
    """Name of the Quota answering (a namespace may have several)."""
    replicas: int
    wanted: int
    limit: str = ""
    """Empty when `wanted` was granted; else the binding limit (`actors.governance.fit`)."""
    gpus_per_replica: int = 1
    price_per_gpu_hour: NonNegative = 0.0
    """As requested: the ledger re-checks the holding with them when its limits change."""
    fixed: bool = False


class QuotaAnswered(Event, frozen=True, tag="quota.answered"):
    """Every answer of one ledger decision, as one event notifying every requester in it."""

    quota: str
    answers: tuple[QuotaGranted, ...]

    def notify(self) -> str:
        return ",".join(dict.fromkeys(a.requester for a in self.answers))

    def summary(self) -> str:
        parts = [f"{a.requester} {a.replicas}/{a.wanted}" + (f" ({a.limit})" if a.limit else "") for a in self.answers]
        return f"quota {self.quota} granted " + "; ".join(parts)


PROTOCOL: tuple[type[Event], ...] = (QuotaRequested, QuotaAnswered)


class Ask(msgspec.Struct, frozen=True):
    request_id: int
    replicas: int
    gpus_per_replica: int
    price_per_gpu_hour: float


class Asked(msgspec.Struct, frozen=True):
    """What one requester asked each Quota (by name) and was last granted (replicas, limit)."""

    asks: dict[str, Ask] = {}
    grants: dict[str, tuple[int, int, str]] = {}
    """Quota name -> (request id answered, replicas granted, binding limit or "")."""
    last_request: int = 0


def fold_request(q: Asked, event: QuotaRequested) -> Asked:
    ask = Ask(event.request_id, event.replicas, event.gpus_per_replica, event.price_per_gpu_hour)
    return Asked({**q.asks, event.quota: ask}, q.grants, max(q.last_request, event.request_id))


def quotas_of(ctx: Context, namespace: str) -> list[QuotaView]:
    return sorted((v for v in ctx.of(QUOTA_KIND) if v.ref.namespace == namespace), key=lambda v: v.ref.name)


def price_of(ctx: Context, region: str, gpu: str, namespace: str) -> float:
    """The dearest matching pool's price among those admitting `namespace`: what admission charges, so
    placement cannot pass the budget (and a pool the namespace may not use cannot price it)."""
    return max((p.price_per_gpu_hour for p in ctx.of(POOL_KIND)
                if (p.region, p.gpu) == (region, gpu) and p.admits(namespace)), default=0.0)


def ask(ref: Ref, view: QuotaView, rid: int, replicas: int, gpus_per_replica: int, price: float,
        fixed: bool) -> Message:
    req = QuotaRequested(request_id=rid, requester=ref.token, quota=view.ref.name, replicas=replicas,
                         gpus_per_replica=gpus_per_replica, price_per_gpu_hour=price, fixed=fixed)
    who = "reports" if fixed else "autoscaler"
    return Message(to=view.ref, event=req, key=f"{ref.token}.{who}/quota/{view.ref.name}/{rid}")
