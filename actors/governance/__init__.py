"""Governance kinds: Role, RoleBinding, Quota and Principal — policy as resources in the same log.

Policy takes effect when admission reads it, and deletion is immediate; a Quota also has a ledger actor
(`actors.governance.ledger`) that autoscalers ask for replicas at run time. Declared in
`actors.governance.kinds`; this package imports nothing itself.
"""
