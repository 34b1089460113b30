"""Pure: label selectors (`app=chat,tier!=gpu,canary,!legacy`), parsed once and applied as SQL.

Terms are AND-ed. `k=v` / `k==v` equal, `k!=v` not equal (also true when the label is absent, as in
Kubernetes), `k` present, `!k` absent.
"""
from __future__ import annotations

import re
from typing import Literal, NamedTuple

Op = Literal["=", "!=", "exists", "!exists"]
_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")


class BadSelector(ValueError):
    """The selector text does not parse (the gateway answers 400)."""


class Requirement(NamedTuple):
    key: str
    op: Op
    value: str = ""

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "=":
            return labels.get(self.key) == self.value
        if self.op == "!=":
            return labels.get(self.key) != self.value
        return (self.key in labels) == (self.op == "exists")


def parse(text: str | None) -> tuple[Requirement, ...]:
    if not text or not text.strip():
        return ()
    return tuple(_term(term.strip()) for term in text.split(","))


def _term(term: str) -> Requirement:
    req: Requirement
    if "!=" in term:
        key, value = term.split("!=", 1)
        req = Requirement(key.strip(), "!=", value.strip())
    elif "=" in term:
        key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
        req = Requirement(key.strip(), "=", value.strip())
    elif term.startswith("!"):
        req = Requirement(term[1:].strip(), "!exists")
    else:
        req = Requirement(term, "exists")
    if not _KEY.match(req.key) or not _VALUE.match(req.value):
        raise BadSelector(f"invalid label selector term {term!r}")
    return req


def matches(requirements: tuple[Requirement, ...], labels: dict[str, str]) -> bool:
    return all(r.matches(labels) for r in requirements)


def sql_over_labels_table(requirements: tuple[Requirement, ...], owner: str) -> tuple[str, list[str]]:
    """A WHERE fragment over the `labels` table for rows aliased `owner` (kind, namespace, name columns)."""
    clauses: list[str] = []
    params: list[str] = []
    same = (f"l.kind = {owner}.kind AND l.namespace = {owner}.namespace AND l.name = {owner}.name "
            "AND l.key = ?")
    for r in requirements:
        if r.op == "=":
            clauses.append(f"EXISTS (SELECT 1 FROM labels l WHERE {same} AND l.value = ?)")
            params += [r.key, r.value]
        elif r.op == "!=":
            clauses.append(f"NOT EXISTS (SELECT 1 FROM labels l WHERE {same} AND l.value = ?)")
            params += [r.key, r.value]
        else:
            clauses.append(f"{'' if r.op == 'exists' else 'NOT '}EXISTS (SELECT 1 FROM labels l WHERE {same})")
            params.append(r.key)
    return " AND ".join(clauses), params


def sql_over_json(requirements: tuple[Requirement, ...], column: str) -> tuple[str, list[str]]:
    """A WHERE fragment over an API object stored as JSON in `column` (used for the changes feed)."""
    clauses: list[str] = []
    params: list[str] = []
    for r in requirements:
        path = f'$.metadata.labels."{r.key}"'
        if r.op == "=":
            clauses.append(f"json_extract({column}, ?) IS ?")
            params += [path, r.value]
        elif r.op == "!=":
            clauses.append(f"json_extract({column}, ?) IS NOT ?")
            params += [path, r.value]
        else:
            clauses.append(f"json_type({column}, ?) IS {'NOT ' if r.op == 'exists' else ''}NULL")
            params.append(path)
    return " AND ".join(clauses), params
