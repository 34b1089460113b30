"""Registration of the governance kinds (no controller, no finalizers: deletion is immediate)."""
from __future__ import annotations

from actors.controller import register_kind as register
from actors.governance.specs import PrincipalSpec, QuotaSpec, RoleBindingSpec, RoleSpec, validate_quota
from core.kinds import Column, KindInfo

PRINCIPAL = register(KindInfo(name="Principal", plural="principals", spec_type=PrincipalSpec, cluster_scoped=True))
ROLE = register(KindInfo(
    name="Role", plural="roles", spec_type=RoleSpec, cluster_scoped=True,
    columns=(Column("RULES", lambda o: len(o["spec"].get("rules", []))),)))
ROLEBINDING = register(KindInfo(
    name="RoleBinding", plural="rolebindings", spec_type=RoleBindingSpec, cluster_scoped=True,
    short_names=("binding", "bindings"),
    columns=(Column("PRINCIPAL", lambda o: o["spec"].get("principal", "")),
             Column("ROLE", lambda o: o["spec"].get("role", "")),
             Column("NAMESPACE", lambda o: o["spec"].get("namespace", "*")))))
QUOTA = register(KindInfo(
    name="Quota", plural="quotas", spec_type=QuotaSpec, validate=validate_quota,
    columns=(Column("GPUS", lambda o: o["spec"]["limits"].get("gpus", "")),
             Column("REPLICAS", lambda o: o["spec"]["limits"].get("replicas", "")),
             Column("DEPLOYMENTS", lambda o: o["spec"]["limits"].get("deployments", "")))))
