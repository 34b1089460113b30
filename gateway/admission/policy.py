"""The gateway's view of policy: Principals, Roles and RoleBindings folded from the log, kept current.

Start: ONE consistent snapshot of the last spec of every cluster-scoped resource (`Log.last_per_subject`),
then an ordered JetStream consumer from the sequence right after it, so no change is missed or applied
out of order — in every gateway process, after every restart. Each gateway converges within
milliseconds of a policy write; `wait_for(seq)` lets a caller (or a test) wait for a given write.

`Rbac` and `PolicyAuthenticator` plug this index into admission's Authorizer and Authenticator seams.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from typing import Any

import msgspec
import structlog
from nats.js import api

from actors.controller import DEFAULT, Registry
from actors.governance.kinds import PRINCIPAL, ROLE, ROLEBINDING
from actors.governance.specs import PrincipalSpec, RoleBindingSpec, RoleSpec, Rule
from core import codec, nodes
from core.events import DeletionRequested, SpecApplied
from core.log import Log, StoredMessage, stored_from_msg
from core.names import CLUSTER_NS, Ref
from gateway.admission.auth import ADMIN, Authenticator, Principal, Verb
from gateway.errors import unauthorized

FILTER = f"bosun.ev.*.{CLUSTER_NS}.*.spec"
"""Spec subjects of every cluster-scoped resource: Principals, Roles and RoleBindings among them."""
WRITES = frozenset({"apply", "delete", "exec"})
"""Verbs that write: on a namespaced governance kind (`Kind(governance=True)`: the quotas, the pools), only a
rule covering every namespace, through a binding not limited to one, grants them (their writes reach other
namespaces: limits, capacity, prices)."""
BUILTIN_ROLES = {ADMIN: RoleSpec(rules=[Rule(verbs=["*"], kinds=["*"], namespaces=["*"])]),
                 nodes.ROLE: RoleSpec(rules=[])}
"""The admin role grants everything, the governance kinds included (`Rbac` names them in its rule). The node
role grants nothing over HTTP: bound to a node's principal (`node-<NAME>`), it gives that principal its own
node's NATS subjects only (`gateway.intents.permissions`)."""
_SPECS: dict[str, type[msgspec.Struct]] = {PRINCIPAL.info.key: PrincipalSpec, ROLE.info.key: RoleSpec,
                                           ROLEBINDING.info.key: RoleBindingSpec}
_INFOS = {k.info.key: k.info for k in (PRINCIPAL, ROLE, ROLEBINDING)}
_log = structlog.get_logger("bosun.policy")


class PolicyIndex:
    def __init__(self) -> None:
        self.principals: dict[str, PrincipalSpec] = {}
        self.roles: dict[str, RoleSpec] = {}
        self.bindings: dict[str, RoleBindingSpec] = {}
        self._by_digest: dict[str, str] = {}
        self._seqs: dict[str, int] = {}
        self.seq = 0
        """Highest stream sequence folded in (the snapshot's, then each change's)."""
        self._changed = asyncio.Condition()
        self._sub: Any = None

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def start(self, log: Log) -> None:
        messages, upto = await log.last_per_subject([FILTER])
        for m in sorted(messages, key=lambda m: m.seq):
            self.fold(m)
        self.seq = max(self.seq, upto)
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=upto + 1) \
            if upto else api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL)
        self._sub = await log.js.subscribe(FILTER, stream=log.stream, ordered_consumer=True, config=config,
                                           cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _on_message(self, msg: Any) -> None:
        self.fold(stored_from_msg(msg))
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, seq: int, timeout: float = 10.0) -> bool:
        """True once every policy change up to stream sequence `seq` is folded in."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.seq >= seq), timeout)
            except TimeoutError:
                return False
        return True

    # ---- folding (pure) -----------------------------------------------------------------------------

    def fold(self, m: StoredMessage) -> None:
        parts = m.subject.split(".")
        kind, name = parts[2], parts[4]
        self.seq = max(self.seq, m.seq)
        spec_type = _SPECS.get(kind)
        if spec_type is None or m.seq <= self._seqs.get(m.subject, 0):
            return
        self._seqs[m.subject] = m.seq
        try:
            event = codec.decode(_INFOS[kind], m.data, m.headers)
            spec = msgspec.convert(event.spec, spec_type) if isinstance(event, SpecApplied) else None
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            _log.error("undecodable policy event skipped", seq=m.seq, subject=m.subject, error=str(e))
            return
        if not isinstance(event, (SpecApplied, DeletionRequested)):
            return
        table: dict[str, Any] = {PRINCIPAL.info.key: self.principals, ROLE.info.key: self.roles,
                                 ROLEBINDING.info.key: self.bindings}[kind]
        if spec is None:
            table.pop(name, None)
        else:
            table[name] = spec
        if kind == PRINCIPAL.info.key:
            self._by_digest = {p.token_sha256: n for n, p in self.principals.items() if n != ADMIN}

    # ---- queries ------------------------------------------------------------------------------------

    def principal_of(self, digest_hex: str) -> str | None:
        return self._by_digest.get(digest_hex)

    def role(self, name: str) -> RoleSpec | None:
        return BUILTIN_ROLES.get(name) or self.roles.get(name)

    def bindings_of(self, principal: str) -> list[RoleBindingSpec]:
        return [b for b in self.bindings.values() if b.principal == principal]


class PolicyAuthenticator(Authenticator):
    """The admin token file's principal, plus every Principal resource (looked up by token digest)."""

    def __init__(self, admin_token: str, index: PolicyIndex) -> None:
        super().__init__(admin_token)
        self.index = index

    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        digest = hashlib.sha256(token.strip().encode()).digest()
        if hmac.compare_digest(digest, self._admin):
            return Principal(ADMIN, admin=True)
        name = self.index.principal_of(digest.hex())
        if name is None:
            raise unauthorized("invalid bearer token")
        return Principal(name)


class Rbac:
    """Role-based authorization over the policy index; the admin principal may do everything."""

    def __init__(self, index: PolicyIndex, registry: Registry = DEFAULT) -> None:
        self.index = index
        self.registry = registry

    def denial(self, principal: Principal, verb: Verb | str, kind: str, ref: Ref | None) -> str | None:
        if principal.admin:
            return None
        wanted = "get" if verb == "diff" else verb
        namespace = ref.namespace if ref is not None else None
        info = self.registry.resolve(kind)
        everywhere = wanted in WRITES and info is not None and info.governance and not info.cluster_scoped
        for binding in self.index.bindings_of(principal.name):
            rules = self.rules_of(binding.role)
            if rules is None or (binding.namespace is not None and (binding.namespace != namespace or everywhere)):
                continue
            if any(allows(rule, wanted, kind, None if everywhere else namespace, self.registry) for rule in rules):
                return None
        where = "in every namespace" if namespace is None else (
            "(cluster-scoped)" if namespace == CLUSTER_NS else f"in namespace {namespace}")
        needs = " (it takes a rule naming the kind that covers every namespace)" if everywhere else ""
        return f"{principal.name} may not {verb} {kind} {where}{needs}"

    def rules_of(self, role: str) -> list[Rule] | None:
        """The rules of role `role` (None: no such role); the built-in admin's names every governance kind."""
        if role == ADMIN:
            return [Rule(verbs=["*"], kinds=["*", *(k.name for k in self.registry.kinds() if k.governance)],
                         namespaces=["*"])]
        spec = self.index.role(role)
        return None if spec is None else spec.rules

    def grants_any(self, principal: Principal) -> bool:
        """Has `principal` any bound role at all (the admin always)."""
        return principal.admin or any(self.index.role(b.role) is not None
                                      for b in self.index.bindings_of(principal.name))


def allows(rule: Rule, verb: str, kind: str, namespace: str | None, registry: Registry = DEFAULT) -> bool:
    """`namespace` None means every namespace; cluster-scoped resources are matched only by `*`."""
    if verb == "rebuild":  # a cluster operation: only an all-powerful rule grants it
        return rule.verbs == ["*"] and "*" in rule.kinds and "*" in rule.namespaces
    if "*" not in rule.verbs and verb not in rule.verbs:
        return False
    info = registry.resolve(kind)
    wildcard = "*" in rule.kinds and not (info is not None and info.governance)  # governance kinds are named
    if not wildcard and not any(_same_kind(k, kind, registry) for k in rule.kinds):
        return False
    return "*" in rule.namespaces or (namespace is not None and namespace in rule.namespaces)


def _same_kind(pattern: str, kind: str, registry: Registry) -> bool:
    info = registry.resolve(pattern)
    return info is not None and kind != "*" and info is registry.resolve(kind)
