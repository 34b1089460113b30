"""ModelDeployment's registration: the kind's API facts and its controller."""
from __future__ import annotations

from typing import Any

from actors.capacity import PROTOCOL
from actors.controller import Controller, register
from actors.modeldeployment import model
from actors.modeldeployment.events import EVENTS
from actors.modeldeployment.spec import ModelDeploymentSpec, validate
from core.kinds import Column, KindInfo
from core.scale import ScaleSet


def _ready(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    return f"{status.get('readyReplicas', 0)}/{status.get('desiredReplicas', obj['spec'].get('replicas', 0))}"


INFO = KindInfo(
    name="ModelDeployment", plural="modeldeployments", spec_type=ModelDeploymentSpec,
    events=(*EVENTS, *PROTOCOL, ScaleSet),  # ScaleSet: the scale input any scaler writes (core.scale)
    validate=validate, controller=model.CONTROLLER_NAME, finalizers=(model.FINALIZER,),
    short_names=("md", "deployment", "deployments"), exec_fields=("command", "env"),
    columns=(
        Column("MODEL", lambda o: o["spec"].get("model", "")),
        Column("READY", _ready),
        Column("POOLS", lambda o: ",".join(f"{k}={v}" for k, v in
                                           sorted(((o.get("status") or {}).get("replicasByPool") or {}).items()))),
    ),
)

CONTROLLER = register(Controller(
    info=INFO, state_type=model.Deployment, initial=model.initial, evolve=model.evolve, decide=model.decide,
    status_of=model.status_of, finished=model.finished,
))
