"""Wiring of governance into a gateway: the policy index, RBAC, token principals, policy bootstrap."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from actors.controller import DEFAULT, Registry
from core.log import Log
from gateway.admission.admit import Admission
from gateway.admission.bootstrap import apply_policy
from gateway.admission.elections import DEADLINE
from gateway.admission.policy import PolicyAuthenticator, PolicyIndex, Rbac


@dataclass
class Governed:
    admission: Admission
    index: PolicyIndex

    async def close(self) -> None:
        await self.admission.drain(timeout=5.0)
        await self.index.stop()


async def governed_admission(log: Log, admin_token: str, policy: Path | None = None,
                             append_deadline: float = DEADLINE, registry: Registry = DEFAULT) -> Governed:
    """Admission that authenticates Principal resources and authorizes by Roles and RoleBindings.

    The index is loaded (and `policy` applied, then folded in) before this returns: a gateway never
    serves a request with a policy older than its start.
    """
    index = PolicyIndex()
    await index.start(log)
    try:
        admission = Admission(log, PolicyAuthenticator(admin_token, index), Rbac(index, registry),
                              append_deadline=append_deadline, registry=registry)
        if policy is not None:
            results = await apply_policy(admission, policy, admin_token)
            await index.wait_for(max((r.resource_version for kind, r in results if kind != "Quota"), default=0))
    except BaseException:
        await index.stop()
        raise
    return Governed(admission, index)
