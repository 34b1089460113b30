"""Resource identity and the name rules that keep identities from ever injecting NATS subject tokens."""
from __future__ import annotations

import re

import msgspec

# DNS-1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric.
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 63
CLUSTER_NS = "_cluster"
"""Namespace token of cluster-scoped resources: never a valid user namespace, so it cannot collide."""


def name_problem(value: str) -> str | None:
    """Why `value` is not a valid resource name or namespace, or None when it is."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    if not _LABEL.match(value):
        return "must consist of lowercase letters, digits and '-', and start and end with a letter or digit"
    return None


class Ref(msgspec.Struct, frozen=True, order=True):
    """One resource instance: the unit of ordering, ownership and identity everywhere in Bosun."""

    kind: str  # canonical lowercase singular, e.g. "modeldeployment"
    namespace: str
    name: str

    @property
    def token(self) -> str:
        """`kind.ns.name`: the subject tokens of this resource, also its key in KV buckets."""
        return f"{self.kind}.{self.namespace}.{self.name}"

    @classmethod
    def parse(cls, token: str) -> Ref:
        kind, ns, name = token.split(".")
        return cls(kind, ns, name)

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"
