"""JSON Schemas of every kind's manifest, generated from its msgspec types: `/v1/kinds`, OpenAPI, `explain`.

A kind declares only its spec type (`KindInfo.spec_type`); the object around it (metadata, the status
convention of docs/design.md) is the same for every kind and is declared here once, as Structs too. Field
docstrings (a string right under an annotated field, as the spec modules write them) become the
schema's `description`, so `bosun explain` says what a field is for, not only its type.
"""
from __future__ import annotations

import ast
import functools
import inspect
import itertools
import textwrap
from typing import Any, Literal

import msgspec

from core.kinds import KindInfo


class StatusCondition(msgspec.Struct, frozen=True, rename="camel"):
    """One observation about the object: `Ready` says whether it is converged on its latest spec."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    """One CamelCase word a program can switch on (e.g. `Unschedulable`, `ProgressDeadlineExceeded`)."""
    message: str = ""
    last_transition_seq: int = 0
    """Stream sequence at which `status` or `reason` last changed."""


class ObjectStatus(msgspec.Struct, frozen=True, rename="camel"):
    """Written by the kind's controller: phase, conditions, and the kind's own fields beside them."""

    phase: str
    """Pending, Progressing, Ready, Degraded, Failed or Deleting."""
    observed_generation: int = 0
    """The generation the status describes: converged means Ready=True at metadata.generation."""
    conditions: list[StatusCondition] = []


class ObjectMetadata(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """Who the object is; the server sets everything but name, namespace and labels."""

    name: str
    namespace: str | None = None
    """Absent for cluster-scoped kinds."""
    labels: dict[str, str] = {}
    generation: int | None = None
    """Bumped by every spec change."""
    resource_version: int | None = None
    """Stream sequence of the last spec write; send it back as `If-Match` for compare-and-set."""
    created_at: str | None = None
    deletion_requested: bool | None = None
    finalizers: list[str] = []


def kind_schema(info: KindInfo) -> dict[str, Any]:
    """`{spec, status}` JSON Schemas of one kind, each self-contained (`$defs` inside)."""
    return {"spec": _described(msgspec.json.schema(info.spec_type), info.spec_type),
            "status": _described(msgspec.json.schema(ObjectStatus), ObjectStatus)}


def components(kinds: list[KindInfo]) -> dict[str, Any]:
    """OpenAPI component schemas: `<Kind>` (the object), `<Kind>Manifest` (what PUT takes) and every Struct
    they use, by name."""
    _, defs = msgspec.json.schema_components(
        [info.spec_type for info in kinds] + [ObjectStatus, ObjectMetadata], ref_template="#/components/schemas/{name}")
    for info in kinds:
        _describe_defs(defs, info.spec_type)
    _describe_defs(defs, ObjectStatus)
    _describe_defs(defs, ObjectMetadata)
    for info in kinds:
        spec = {"$ref": f"#/components/schemas/{info.spec_type.__name__}"}
        kind = {"type": "string", "enum": sorted({info.name, info.key, info.plural, *info.short_names})}
        meta = {"$ref": "#/components/schemas/ObjectMetadata"}
        defs[f"{info.name}Manifest"] = {
            "type": "object", "required": ["kind", "metadata", "spec"],
            "properties": {"apiVersion": {"type": "string"}, "kind": kind, "metadata": meta, "spec": spec,
                           "status": {"type": "object", "description": "ignored on write"}}}
        defs[info.name] = {
            "type": "object", "required": ["kind", "metadata", "spec", "status"],
            "properties": {"kind": {"type": "string", "enum": [info.name]}, "metadata": meta, "spec": spec,
                           "status": {"$ref": "#/components/schemas/ObjectStatus"}}}
    return defs


def _described(schema: dict[str, Any], root: type) -> dict[str, Any]:
    _describe_defs(schema.get("$defs", {}), root)
    return schema


def _describe_defs(defs: dict[str, Any], root: type) -> None:
    """Add field docstrings to the `properties` of `root` and of every Struct it reaches."""
    for struct in _structs(root):
        found = defs.get(struct.__name__)
        if not isinstance(found, dict):
            continue
        props = found.get("properties", {})
        for encoded, doc in field_docs(struct).items():
            if encoded in props and "description" not in props[encoded]:
                props[encoded]["description"] = doc


def _structs(root: type) -> list[type[msgspec.Struct]]:
    seen: dict[type, None] = {}

    def visit(t: Any) -> None:
        if isinstance(t, msgspec.inspect.StructType):
            if t.cls in seen:
                return
            seen[t.cls] = None
            for f in t.fields:
                visit(f.type)
        for attr in ("item_type", "key_type", "value_type"):
            if hasattr(t, attr):
                visit(getattr(t, attr))
        for attr in ("types", "item_types"):
            for sub in getattr(t, attr, ()):
                visit(sub)

    visit(msgspec.inspect.type_info(root))
    return list(seen)


@functools.cache
def field_docs(struct: type[msgspec.Struct]) -> dict[str, str]:
    """{encoded field name: the docstring written under it} of one Struct ({} when its source is unknown)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(struct)))
    except (OSError, TypeError, SyntaxError):
        return {}
    names = {f.name: f.encode_name for f in msgspec.structs.fields(struct)}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for field, after in itertools.pairwise(body):
        if (isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name) and field.target.id in names
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[names[field.target.id]] = " ".join(after.value.value.split())
    return docs
