"""The ModelDeployment manifest's spec: the schema is the type (msgspec Meta runs at decode)."""
from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from core.kinds import FieldError

Replicas = Annotated[int, Meta(ge=0, le=10_000)]
Token = Annotated[str, Meta(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]


class Autoscaling(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    min: Replicas
    max: Replicas
    target_load_per_replica: Annotated[float, Meta(gt=0)] = 50.0


class Placement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    region: Token
    gpu: Token


class ModelDeploymentSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True,
                          forbid_unknown_fields=True):
    model: Annotated[str, Meta(min_length=1, max_length=253)]
    replicas: Replicas
    placement: Placement
    gpus_per_replica: Annotated[int, Meta(ge=1, le=64)] = 1
    autoscaling: Autoscaling | None = None

    @property
    def desired(self) -> int:
        """Replicas to run: `replicas`, kept inside the autoscaling bounds when they are set."""
        if self.autoscaling is None:
            return self.replicas
        return min(max(self.replicas, self.autoscaling.min), self.autoscaling.max)

    @property
    def max_replicas(self) -> int:
        """What this deployment may grow to: the figure quotas are charged for."""
        return max(self.replicas, self.autoscaling.max if self.autoscaling else 0)


def validate(spec: ModelDeploymentSpec) -> list[FieldError]:
    if spec.autoscaling is not None and spec.autoscaling.min > spec.autoscaling.max:
        return [FieldError("$.spec.autoscaling.min", "must be less than or equal to autoscaling.max")]
    return []
