"""Governance kinds: Role, RoleBinding, Quota and Principal — policy as resources in the same log.

No controllers: policy takes effect when admission reads it, and deletion is immediate.
"""
from actors.governance.kinds import PRINCIPAL, QUOTA, ROLE, ROLEBINDING

__all__ = ["PRINCIPAL", "QUOTA", "ROLE", "ROLEBINDING"]
