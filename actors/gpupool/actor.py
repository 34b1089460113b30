"""GpuPool's registration: the kind's API facts and its controller."""
from __future__ import annotations

from actors.capacity import PROTOCOL, PoolView
from actors.controller import Controller, register
from actors.gpupool import model
from actors.gpupool.spec import GpuPoolSpec, validate
from core.kinds import Column, KindInfo

INFO = KindInfo(
    name="GpuPool", plural="gpupools", spec_type=GpuPoolSpec, events=PROTOCOL, validate=validate,
    controller=model.CONTROLLER_NAME, finalizers=(model.FINALIZER,), short_names=("pool", "pools"),
    columns=(
        Column("REGION", lambda o: o["spec"].get("region", "")),
        Column("GPU", lambda o: o["spec"].get("gpu", "")),
        Column("DRIVER", lambda o: o["spec"].get("driver", "sim")),
        Column("CAPACITY", lambda o: o["spec"].get("capacity", len(o["spec"].get("devices", ())))),
        Column("FREE", lambda o: (o.get("status") or {}).get("freeGpus", "")),
    ),
)

CONTROLLER = register(Controller(
    info=INFO, state_type=model.Pool, initial=model.initial, evolve=model.evolve, decide=model.decide,
    status_of=model.status_of, view=model.view, view_type=PoolView, publishes_view=True, finished=model.finished,
))
