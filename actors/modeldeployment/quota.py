"""A deployment without autoscaling tells its namespace's Quotas what it runs (pure), so the Quota's ledger
(`actors.governance.ledger`) counts it when autoscalers ask: "never beyond quota" given every other
deployment, not only the autoscaled ones. Admission admitted the spec's replicas already, so the report
is held in full; only a change (replicas, GPUs per replica, price, or deletion: 0) is reported again.
Autoscaled deployments are reported by their autoscaler's asks instead.
"""
from __future__ import annotations

from actors.decisions import Context, Message
from actors.governance.protocol import ask, price_of, quotas_of
from actors.modeldeployment.state import Deployment


def reports(state: Deployment, ctx: Context) -> tuple[Message, ...]:
    spec = state.spec
    if spec is None or spec.autoscaling is not None:
        return ()
    replicas = 0 if state.deleting else spec.replicas
    price = price_of(ctx, spec.placement.region, spec.placement.gpu, state.ref.namespace)
    out: list[Message] = []
    rid = state.reported.last_request
    for view in quotas_of(ctx, state.ref.namespace):
        last = state.reported.asks.get(view.ref.name)
        if (last is None and replicas == 0) or (last is not None and (
                last.replicas, last.gpus_per_replica, last.price_per_gpu_hour) == (replicas, spec.gpus_per_replica,
                                                                                  price)):
            continue
        rid += 1
        out.append(ask(state.ref, view, rid, replicas, spec.gpus_per_replica, price, fixed=True))
    return tuple(out)
