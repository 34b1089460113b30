"""GpuPool: the kind's API facts, its actor and what it supplies (GPUs at a price)."""
from __future__ import annotations

from typing import Any

from actors.capacity import PROTOCOL, PoolView
from actors.gpupool import model
from actors.gpupool.spec import GpuPoolSpec, validate
from actors.kind import Kind
from actors.placement import PoolNodesChanged
from core.kinds import Column
from core.usage import Supply


def supply(spec: GpuPoolSpec) -> Supply:
    return Supply(region=spec.region, gpu=spec.gpu, price_per_gpu_hour=spec.price_per_gpu_hour,
                  namespaces=spec.admitted)


def _capacity(o: dict[str, Any]) -> Any:
    """The spec's figure, or its devices; a node pool's is its nodes' GPUs (its status)."""
    spec = o["spec"]
    if spec.get("driver") == "node":
        return (o.get("status") or {}).get("capacity", 0)
    return spec.get("capacity", len(spec.get("devices", ())))


GPUPOOL = Kind(
    name="GpuPool", plural="gpupools", spec=GpuPoolSpec, state=model.Pool, evolve=model.evolve, decide=model.decide,
    events=(*PROTOCOL, PoolNodesChanged), validate=validate, controller=model.CONTROLLER_NAME,
    finalizers=(model.FINALIZER,),
    view=model.view, view_type=PoolView, supply=supply, governance=True, short_names=("pool", "pools"),
    columns=(
        Column("REGION", lambda o: o["spec"].get("region", "")),
        Column("GPU", lambda o: o["spec"].get("gpu", "")),
        Column("DRIVER", lambda o: o["spec"].get("driver", "sim")),
        Column("CAPACITY", _capacity),
        Column("FREE", lambda o: (o.get("status") or {}).get("freeGpus", "")),
    ),
)
