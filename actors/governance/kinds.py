"""The governance kinds (no finalizers: deletion is immediate).

Quota alone has an actor, its ledger (`actors.governance.ledger`): admission still reads its spec, and the
ledger answers autoscalers at run time. The others are policy only, read by admission.
"""
from __future__ import annotations

from typing import Any

from actors.governance import ledger
from actors.governance.specs import PrincipalSpec, QuotaSpec, RoleBindingSpec, RoleSpec, validate_quota
from actors.kind import Kind
from actors.quotas import PROTOCOL, QuotaView
from core.kinds import Column

PRINCIPAL: Kind[PrincipalSpec, Any] = Kind(name="Principal", spec=PrincipalSpec, cluster_scoped=True,
                                           governance=True)
ROLE: Kind[RoleSpec, Any] = Kind(name="Role", spec=RoleSpec, cluster_scoped=True, governance=True,
            columns=(Column("RULES", lambda o: len(o["spec"].get("rules", []))),))
ROLEBINDING: Kind[RoleBindingSpec, Any] = Kind(
    name="RoleBinding", spec=RoleBindingSpec, cluster_scoped=True, governance=True, short_names=("binding", "bindings"),
    columns=(Column("PRINCIPAL", lambda o: o["spec"].get("principal", "")),
             Column("ROLE", lambda o: o["spec"].get("role", "")),
             Column("NAMESPACE", lambda o: o["spec"].get("namespace", "*"))))
QUOTA = Kind(
    name="Quota", spec=QuotaSpec, state=ledger.Ledger, evolve=ledger.evolve, decide=ledger.decide,
    validate=validate_quota, events=PROTOCOL, controller=ledger.CONTROLLER_NAME, view=ledger.view,
    view_type=QuotaView, legacy=ledger.legacy, governance=True,
    columns=(Column("GPUS", lambda o: o["spec"]["limits"].get("gpus", "")),
             Column("REPLICAS", lambda o: o["spec"]["limits"].get("replicas", "")),
             Column("DEPLOYMENTS", lambda o: o["spec"]["limits"].get("deployments", ""))))
