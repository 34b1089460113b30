"""The GpuPool manifest's spec."""
from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from actors.modeldeployment.spec import Arg, Token
from core.kinds import FieldError
from core.nodes import Labels

Admitted = Annotated[str, Meta(min_length=1, max_length=63, pattern=r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")]
"""A namespace a pool admits, or `*` for every namespace."""
MAX_PRICE = 1e6
"""Per GPU-hour: far above any real price, and low enough that quota sums stay finite."""
DeviceId = Annotated[str, Meta(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")]
"""A device id as CUDA_VISIBLE_DEVICES takes it (an index or a UUID-ish token; never a comma)."""


class GpuPoolSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True,
                  forbid_unknown_fields=True):
    region: Token
    gpu: Token
    capacity: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None
    """GPUs in the pool; for a `process` pool it defaults to the number of `devices`; a `node` pool has its
    nodes' GPUs (no `capacity`)."""
    driver: Literal["sim", "process", "node"] = "sim"
    """Which data-plane driver actuates the pool's replicas (`node`: the agents of its nodes)."""
    node_selector: Labels = msgspec.field(default_factory=dict)
    """`node` pools: the labels a node must carry to lend its GPUs (empty: every node)."""
    devices: tuple[DeviceId, ...] = ()
    """`process` pools: the host's GPU ids handed out to replicas (CUDA_VISIBLE_DEVICES)."""
    price_per_gpu_hour: Annotated[float, Meta(ge=0, le=MAX_PRICE)] = 0.0
    namespaces: tuple[Admitted, ...] | None = None
    """Namespaces whose workloads may use the pool (`*`: every one); its own always may. Unset (`admitted`): a
    pool that runs tenants' code (`process`, later `node`) admits only its own namespace; a `sim` pool, which
    runs none, every namespace (the contract's example places team-a on an infra pool that lists none)."""
    commands: tuple[Arg, ...] = ()
    """`process` pools: the executables (a replica's `command[0]`, exactly) it runs; empty: any."""

    @property
    def admitted(self) -> tuple[str, ...]:
        """The namespaces it admits besides its own: `namespaces`, else its driver's default."""
        if self.namespaces is not None:
            return self.namespaces
        return ("*",) if self.driver == "sim" else ()

    @property
    def gpus(self) -> int:
        return self.capacity if self.capacity is not None else len(self.devices)


def validate(spec: GpuPoolSpec) -> list[FieldError]:
    errors = []
    if spec.driver == "node":
        if spec.capacity is not None:
            errors.append(FieldError("$.spec.capacity", "a node pool has its nodes' GPUs: leave it out"))
    elif spec.node_selector:
        errors.append(FieldError("$.spec.nodeSelector", "only a node pool selects nodes"))
    if spec.capacity is None and not spec.devices and spec.driver != "node":
        errors.append(FieldError("$.spec.capacity", "required unless devices are listed"))
    if spec.devices and spec.driver != "process":
        errors.append(FieldError("$.spec.devices", "only a process pool has devices"))
    if len(set(spec.devices)) != len(spec.devices):
        errors.append(FieldError("$.spec.devices", "device ids must be unique"))
    if spec.commands and spec.driver == "sim":
        errors.append(FieldError("$.spec.commands", "only a process pool runs commands"))
    if spec.devices and spec.capacity is not None and spec.capacity > len(spec.devices):
        errors.append(FieldError("$.spec.capacity", f"exceeds the {len(spec.devices)} listed devices"))
    return errors
