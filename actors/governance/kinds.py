"""Registration of the governance kinds (no finalizers: deletion is immediate).

Quota alone has an actor, its ledger (`actors.governance.ledger`): admission still reads its spec, and the
ledger answers autoscalers at run time. The others are policy only, read by admission.
"""
from __future__ import annotations

from actors.controller import Controller
from actors.controller import register as register_controller
from actors.controller import register_kind as register
from actors.governance import ledger
from actors.governance.protocol import PROTOCOL, QuotaView
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
QUOTA = register_controller(Controller(
    info=KindInfo(
        name="Quota", plural="quotas", spec_type=QuotaSpec, validate=validate_quota, events=PROTOCOL,
        controller=ledger.CONTROLLER_NAME,
        columns=(Column("GPUS", lambda o: o["spec"]["limits"].get("gpus", "")),
                 Column("REPLICAS", lambda o: o["spec"]["limits"].get("replicas", "")),
                 Column("DEPLOYMENTS", lambda o: o["spec"]["limits"].get("deployments", "")))),
    state_type=ledger.Ledger, initial=ledger.initial, evolve=ledger.evolve, decide=ledger.decide,
    status_of=ledger.status_of, view=ledger.view, view_type=QuotaView, publishes_view=True,
    finished=ledger.finished,
)).info
