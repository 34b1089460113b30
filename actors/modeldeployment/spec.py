"""The ModelDeployment manifest's spec: the schema is the type (msgspec Meta runs at decode)."""
from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from actors.placement import Spread
from core.kinds import FieldError
from core.nodes import Labels

Replicas = Annotated[int, Meta(ge=0, le=10_000)]
Token = Annotated[str, Meta(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]


Seconds = Annotated[float, Meta(ge=0, le=86_400)]
Arg = Annotated[str, Meta(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]
"""One argv word (never a NUL byte: exec cannot carry one)."""
EnvName = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Path = Annotated[str, Meta(min_length=1, max_length=1024, pattern=r"^/[^\s]*$")]


class Autoscaling(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    min: Replicas
    max: Replicas
    target_load_per_replica: Annotated[float, Meta(gt=0, le=1e9)] = 50.0
    # UNSET (not a default value): a stored spec that does not set them stays exactly as it was.
    scale_down_stabilization_seconds: Seconds | UnsetType = UNSET
    """Default 300: the highest recommendation of this window wins on the way down."""
    scale_up_stabilization_seconds: Seconds | UnsetType = UNSET
    """Default 0: the lowest recommendation of this window wins on the way up."""
    load_path: Path | UnsetType = UNSET
    """Process replicas (default "/load"): the GET path on BOSUN_PORT answering the replica's load (rps)."""

    @property
    def down_window(self) -> float:
        return 300.0 if isinstance(self.scale_down_stabilization_seconds, UnsetType) else \
            self.scale_down_stabilization_seconds

    @property
    def up_window(self) -> float:
        return 0.0 if isinstance(self.scale_up_stabilization_seconds, UnsetType) else \
            self.scale_up_stabilization_seconds

    @property
    def load_get(self) -> str:
        return "/load" if isinstance(self.load_path, UnsetType) else self.load_path


class HttpGet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: Path = "/healthz"


class Readiness(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True,
                forbid_unknown_fields=True):
    http_get: HttpGet
    period_seconds: Annotated[float, Meta(gt=0, le=3600)] = 2.0
    failure_threshold: Annotated[int, Meta(ge=1, le=1000)] = 3


class Placement(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True,
                forbid_unknown_fields=True):
    region: Token
    gpu: Token
    spread: Spread = "node"
    """On a `node` pool: spread replicas over nodes (`node`), over the nodes' `zone` label (`zone`), or pack
    them (`none`)."""
    max_per_node: Annotated[int, Meta(ge=1, le=10_000)] | None = None
    """On a `node` pool: at most this many of its replicas on one node."""
    node_selector: Labels = msgspec.field(default_factory=dict)
    """Only on nodes carrying these labels (besides the pool's own `nodeSelector`): only `node` pools."""


class ModelDeploymentSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True,
                          forbid_unknown_fields=True):
    model: Annotated[str, Meta(min_length=1, max_length=253)]
    replicas: Replicas
    placement: Placement
    gpus_per_replica: Annotated[int, Meta(ge=1, le=64)] = 1
    autoscaling: Autoscaling | None = None
    command: Annotated[tuple[Arg, ...], Meta(min_length=1, max_length=256)] | None = None
    """Process pools: the argv each replica runs (one process per replica)."""
    env: dict[EnvName, Annotated[str, Meta(max_length=32_768, pattern=r"^[^\x00]*$")]] = {}
    """Added to the replica's clean environment; names that steer a loader or an interpreter are refused."""
    readiness: Readiness | None = None
    startup_seconds: Seconds = 1.0
    """Without `readiness`: a replica is ready once it has stayed up this long."""
    termination_grace_period_seconds: Seconds = 10.0
    progress_deadline_seconds: Annotated[float, Meta(gt=0, le=86_400)] | None = None
    """Seconds a rollout may go without progress before Progressing=False, ProgressDeadlineExceeded."""

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


RESERVED_ENV = ("BOSUN_", "CUDA_VISIBLE_DEVICES", "LD_", "DYLD_")
"""Prefixes a spec's `env` may not set: Bosun's own variables and the dynamic loader's."""
HIJACKING_ENV = frozenset({
    "PATH", "HOME", "SHELL", "IFS", "ENV", "BASH_ENV", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES",
    "MALLOC_CHECK_", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONEXECUTABLE",
    "PYTHONBREAKPOINT", "PYTHONINSPECT", "PYTHONWARNINGS", "PYTHONPLATLIBDIR", "PERL5LIB", "PERL5OPT",
    "PERLLIB", "RUBYLIB", "RUBYOPT", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS", "CLASSPATH"})
"""Variables that make an interpreter or the C library load or run something other than the command (HOME
too: user site-packages, shell rc files): with them a pool's command allow-list would mean nothing."""


def env_problem(name: str) -> str | None:
    """Why a spec may not set `name` in a replica's environment, or None."""
    if name.startswith(RESERVED_ENV):
        return "reserved: Bosun and the dynamic loader set these"
    if name in HIJACKING_ENV:
        return "refused: it steers which code a process loads (the replica gets a clean environment)"
    return None


def validate(spec: ModelDeploymentSpec) -> list[FieldError]:
    errors = [FieldError(f"$.spec.env.{name}", why) for name in spec.env if (why := env_problem(name))]
    if spec.autoscaling is not None and spec.autoscaling.min > spec.autoscaling.max:
        errors.append(FieldError("$.spec.autoscaling.min", "must be less than or equal to autoscaling.max"))
    return errors
