"""The governance manifests' specs (pure; msgspec Meta runs at decode).

Scopes: Principal, Role and RoleBinding are cluster-scoped (subject namespace token `_cluster`); a Role's
rules name the namespaces they cover and a RoleBinding may be limited to one namespace. Quota is
namespaced: its limits apply to the namespace it lives in.
"""
from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from actors.quotas import QuotaLimits
from core.kinds import FieldError

VERBS = ("get", "list", "watch", "apply", "delete", "history", "audit", "exec", "logs")
Verb = Literal["get", "list", "watch", "apply", "delete", "history", "audit", "exec", "logs", "*"]
"""`exec`: set or change what a resource runs (a ModelDeployment's `command` and `env`); `apply` does not imply it.
`logs`: read a replica's log tail (a process's output may hold what its spec does not)."""
Name = Annotated[str, Meta(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
Pattern = Annotated[str, Meta(min_length=1, max_length=63, pattern=r"^(\*|[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?)$")]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]


class _Spec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True,
            forbid_unknown_fields=True):
    pass


class PrincipalSpec(_Spec, frozen=True):
    token_sha256: Sha256
    """Lowercase hex SHA-256 of the bearer token: the token itself is never stored."""


class Rule(_Spec, frozen=True):
    verbs: Annotated[list[Verb], Meta(min_length=1)]
    kinds: Annotated[list[Pattern], Meta(min_length=1)]
    namespaces: Annotated[list[Pattern], Meta(min_length=1)] = msgspec.field(default_factory=lambda: ["*"])


class RoleSpec(_Spec, frozen=True):
    rules: list[Rule]


class RoleBindingSpec(_Spec, frozen=True):
    principal: Name
    role: Name
    namespace: Name | None = None
    """Limit the role to this namespace; None binds it wherever its rules reach."""


class QuotaSpec(_Spec, frozen=True):
    limits: QuotaLimits


def validate_quota(spec: QuotaSpec) -> list[FieldError]:
    limits = spec.limits
    if limits.gpus is None and limits.replicas is None and limits.deployments is None and limits.cost_per_hour is None:
        return [FieldError("$.spec.limits", "set at least one of gpus, replicas, deployments, costPerHour")]
    return []
