"""A principal's NATS permissions, from the same Roles and RoleBindings HTTP admission uses.

- publish `bosun.intent.<Kind>.<ns>.*` only where it may `apply` or `delete` (every spelling admission
  accepts for the kind token: its name, key, plural and short names);
- subscribe `bosun.ev.<kind>.<ns>.>` only where it may `watch`; Principal events never (token digests);
- a node's agent (principal `node-<NAME>` bound to the built-in role `node`): its own node's subjects
  only (`core.natsusers.node_publish`);
- replies only under its own inbox `_INBOX.<principal>.>`; nothing else at all (no `$JS`, `$KV`, `$SYS`,
  commands, audit, other inboxes): whatever is not allowed is refused by nats-server itself.

`grant` also names the connection `<principal>#<tag>`: the tag changes whenever these permissions or the
principal's token do, which is how revocation finds the connections to close (`revocation.py`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from actors.controller import DEFAULT, Registry
from actors.governance.kinds import PRINCIPAL
from actors.governance.specs import Rule
from core import natsusers, nodes
from gateway.admission.auth import Principal
from gateway.admission.policy import PolicyIndex
from gateway.intents.claims import Permissions

WRITE_VERBS = ("apply", "delete")
READ_VERB = "watch"
SEP = "#"


@dataclass(frozen=True)
class Grant:
    principal: str
    permissions: Permissions
    tag: str

    @property
    def name(self) -> str:
        """The connection's user name on the server (`connz`'s `authorized_user`)."""
        return f"{self.principal}{SEP}{self.tag}"


def grant(principal: Principal, index: PolicyIndex | None, token_digest: str, registry: Registry = DEFAULT) -> Grant:
    perms = permissions(principal, index, registry)
    tag = hashlib.sha256(f"{perms.digest()}/{token_digest}".encode()).hexdigest()[:12]
    return Grant(principal.name, perms, tag)


def permissions(principal: Principal, index: PolicyIndex | None, registry: Registry = DEFAULT) -> Permissions:
    """`registry` resolves the kinds a rule names (the process's one registry, `actors.registry.load`)."""
    inbox = natsusers.client_inbox(principal.name) + ".>"
    deny = (f"bosun.ev.{PRINCIPAL.info.key}.>",)
    if principal.admin:
        return Permissions(("bosun.intent.>",), ("bosun.ev.>", inbox), deny)
    publish: set[str] = set()
    subscribe: set[str] = set()
    node = nodes.node_of(principal.name)
    for binding in index.bindings_of(principal.name) if index is not None else []:
        if binding.role == nodes.ROLE:
            if node is not None and binding.namespace is None:
                publish.update(natsusers.node_publish(node))
            continue
        role = index.role(binding.role) if index is not None else None
        if role is None:
            continue
        for rule in role.rules:
            for ns in _namespaces(rule, binding.namespace):
                if _grants(rule, WRITE_VERBS):
                    publish.update(f"bosun.intent.{k}.{ns}.*" for k in _spellings(rule, registry))
                if _grants(rule, (READ_VERB,)):
                    subscribe.update(f"bosun.ev.{k}.{ns}.>" for k in _keys(rule, registry))
    return Permissions(tuple(sorted(publish)), (*sorted(subscribe), inbox), deny)


def _grants(rule: Rule, verbs: tuple[str, ...]) -> bool:
    return "*" in rule.verbs or any(v in rule.verbs for v in verbs)


def _namespaces(rule: Rule, bound: str | None) -> list[str]:
    """Subject tokens of the namespaces a rule reaches under its binding (`*`: every one)."""
    if bound is not None:
        return [bound] if "*" in rule.namespaces or bound in rule.namespaces else []
    return ["*"] if "*" in rule.namespaces else sorted(set(rule.namespaces))


def _spellings(rule: Rule, registry: Registry) -> list[str]:
    if "*" in rule.kinds:
        return ["*"]
    out: set[str] = set()
    for pattern in rule.kinds:
        info = registry.resolve(pattern)
        if info is not None:
            out.update((info.name, info.key, info.plural, info.plural.lower(), *info.short_names))
    return sorted(out)


def _keys(rule: Rule, registry: Registry) -> list[str]:
    if "*" in rule.kinds:
        return ["*"]
    return sorted({info.key for info in map(registry.resolve, rule.kinds) if info is not None})
