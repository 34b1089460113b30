"""ModelDeployment: the kind's API facts, its actor and its usage (what Quotas charge and cost prices)."""
from __future__ import annotations

from typing import Any

from actors.capacity import PROTOCOL
from actors.kind import Kind
from actors.modeldeployment import model
from actors.modeldeployment.events import EVENTS
from actors.modeldeployment.spec import ModelDeploymentSpec, validate
from actors.modeldeployment.state import Deployment
from core.kinds import Column
from core.scale import ScaleSet
from core.usage import Usage


def usage(spec: ModelDeploymentSpec) -> Usage:
    """What it may grow to (max(replicas, autoscaling.max)), priced at the dearest pool its placement matches;
    elastic when it autoscales (the autoscaler asks the Quotas' ledger for what it runs)."""
    return Usage(replicas=spec.max_replicas, gpus_per_replica=spec.gpus_per_replica, region=spec.placement.region,
                 gpu=spec.placement.gpu, elastic=spec.autoscaling is not None)


def _ready(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    return f"{status.get('readyReplicas', 0)}/{status.get('desiredReplicas', obj['spec'].get('replicas', 0))}"


MODELDEPLOYMENT = Kind(
    name="ModelDeployment", plural="modeldeployments", spec=ModelDeploymentSpec, state=Deployment,
    evolve=model.evolve, decide=model.decide, reborn=model.reborn, usage=usage,
    events=(*EVENTS, *PROTOCOL, ScaleSet),  # ScaleSet: the scale input any scaler writes (core.scale)
    validate=validate, controller=model.CONTROLLER_NAME, finalizers=(model.FINALIZER,),
    short_names=("md", "deployment", "deployments"), exec_fields=("command", "env"),
    behaviour=model.BEHAVIOUR,  # 3: a fast rollout tells Pending -> Ready (`status.COMPACT`, `status.QUIET`)
    columns=(
        Column("MODEL", lambda o: o["spec"].get("model", "")),
        Column("READY", _ready),
        Column("POOLS", lambda o: ",".join(f"{k}={v}" for k, v in
                                           sorted(((o.get("status") or {}).get("replicasByPool") or {}).items()))),
    ),
)
