"""Decode + validate one manifest against its kind: the schema half of admission.

Pure (no I/O): HTTP PUT, NATS intents and `POST /v1/diff` all call `validate`, so a manifest is
judged identically whichever door it came through. The result carries the NORMALIZED spec
(the typed spec as JSON data), which is what the log stores and what "unchanged" compares.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from actors.controller import DEFAULT, Registry
from core.kinds import KindInfo
from core.names import CLUSTER_NS, Ref, name_problem
from gateway import suggestions
from gateway.errors import ErrorDetail, invalid, malformed, mismatch, unknown_kind

DEFAULT_NAMESPACE = "default"
TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
"""`status` is accepted and ignored, so `bosun get -o yaml | bosun apply -f -` round-trips."""
METADATA = frozenset({"name", "namespace", "labels", "annotations", "generation", "resourceVersion",
                      "createdAt", "deletionRequested", "finalizers", "updatedAt", "uid"})
"""Server-set fields are accepted and ignored for the same reason; anything else is a typo."""
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`$")
_AT = re.compile(r"^(?P<msg>.*?) - at `\$(?P<path>[^`]*)`$", re.S)


@dataclass(frozen=True)
class Target:
    """Where a request points (path or subject): each part may be None when only the body names it."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Valid:
    info: KindInfo
    ref: Ref
    spec: dict[str, Any]
    labels: dict[str, str]


def resolve_kind(name: str, registry: Registry = DEFAULT) -> KindInfo:
    info = registry.resolve(name)
    if info is None:
        raise unknown_kind(name)
    return info


def validate(doc: Any, target: Target = Target(), default_namespace: str = DEFAULT_NAMESPACE,
             registry: Registry = DEFAULT) -> Valid:
    """The admitted form of `doc`, or ApiError: 400 shape/mismatch, 404 unknown kind, 422 invalid."""
    if not isinstance(doc, dict):
        raise malformed(f"a manifest must be an object, not {type(doc).__name__}")
    unknown = sorted(str(k) for k in doc if k not in TOP_LEVEL)
    if unknown:
        raise invalid([ErrorDetail(f"$.{k}", suggestions.hint(k, TOP_LEVEL)) for k in unknown])
    info = _kind(doc.get("kind"), target.kind, registry)
    meta = doc.get("metadata", {})
    if not isinstance(meta, dict):
        raise invalid([ErrorDetail("$.metadata", "must be an object")])
    ref = Ref(info.key, _namespace(info, meta, target, default_namespace), _name(meta, target))
    labels = _labels(meta.get("labels"))
    spec = _spec(info, doc.get("spec"))
    return Valid(info, ref, spec, labels)


def ref_of(kind: str, namespace: str, name: str, registry: Registry = DEFAULT) -> tuple[KindInfo, Ref]:
    """A path/subject reference checked like a manifest's (404 unknown kind, 422 bad names)."""
    info = resolve_kind(kind, registry)
    ns = CLUSTER_NS if info.cluster_scoped else _checked("$.metadata.namespace", namespace)
    return info, Ref(info.key, ns, _checked("$.metadata.name", name))


def _kind(body_kind: Any, path_kind: str | None, registry: Registry) -> KindInfo:
    if body_kind is not None and not isinstance(body_kind, str):
        raise invalid([ErrorDetail("$.kind", "must be a string")])
    if path_kind is None:
        if not body_kind:
            raise invalid([ErrorDetail("$.kind", "is required")])
        return resolve_kind(body_kind, registry)
    info = resolve_kind(path_kind, registry)
    if body_kind and registry.resolve(body_kind) is not info:
        raise mismatch("$.kind", f"body kind {body_kind!r} does not match the path's {info.name!r}")
    return info


def _namespace(info: KindInfo, meta: dict[str, Any], target: Target, default: str) -> str:
    if info.cluster_scoped:
        return CLUSTER_NS
    return _consistent("namespace", meta.get("namespace"), target.namespace, default)


def _name(meta: dict[str, Any], target: Target) -> str:
    return _consistent("name", meta.get("name"), target.name, None)


def _consistent(key: str, body: Any, path: str | None, default: str | None) -> str:
    field = f"$.metadata.{key}"
    if body is not None and not isinstance(body, str):
        raise invalid([ErrorDetail(field, "must be a string")])
    if body and path is not None and body != path:
        raise mismatch(field, f"metadata.{key} {body!r} does not match {path!r} in the request path")
    value = path if path is not None else body or default
    if value is None:
        raise invalid([ErrorDetail(field, "is required")])
    return _checked(field, value)


def _checked(field: str, value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise invalid([ErrorDetail(field, problem)], f"invalid {field.rsplit('.', 1)[-1]} {value!r}: {problem}")
    return value


def _labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid([ErrorDetail("$.metadata.labels", "must be an object of strings")])
    problems = [ErrorDetail(f"$.metadata.labels.{k}", problem) for k, v in raw.items()
                if (problem := _label_problem(k, v))]
    if problems:
        raise invalid(problems, "invalid labels")
    return {str(k): str(v) for k, v in sorted(raw.items())}


def _label_problem(key: Any, value: Any) -> str | None:
    if not isinstance(key, str) or not _LABEL_KEY.match(key):
        return "label keys are [prefix/]name: alphanumerics, '-', '_', '.', at most 63 characters"
    if not isinstance(value, str) or not _LABEL_VALUE.match(value):
        return "label values are strings of alphanumerics, '-', '_', '.', at most 63 characters"
    return None


def _spec(info: KindInfo, raw: Any) -> dict[str, Any]:
    if raw is None:
        raise invalid([ErrorDetail("$.spec", "is required")])
    try:
        typed = msgspec.convert(raw, info.spec_type)
    except msgspec.ValidationError as e:
        raise invalid([spec_detail(str(e), info.spec_type)]) from e
    problems = info.validate(typed)
    if problems:
        raise invalid(problems)
    # As the log will hold it (JSON: tuples become lists), so "unchanged" and "does it set new code?" compare
    # like with like: a re-applied command was a tuple here and a list in the log, never equal.
    return msgspec.json.decode(msgspec.json.encode(typed))  # type: ignore[no-any-return]


def spec_detail(error: str, spec_type: type | None = None) -> ErrorDetail:
    """msgspec's "Expected `int` >= 0 - at `$.replicas`" as `{field: $.spec.replicas, message}`; an unknown
    field names the closest valid one (`$.spec.placment: unknown field (did you mean placement?)`)."""
    m = _AT.match(error)
    message, where = (m["msg"], f"$.spec{m['path']}") if m else (error, "$.spec")
    unknown = _UNKNOWN.match(message)
    if unknown:  # point at the offending field itself
        valid = suggestions.fields_at(spec_type, where.removeprefix("$.spec")) if spec_type else []
        return ErrorDetail(f"{where}.{unknown['field']}", suggestions.hint(unknown["field"], valid))
    return ErrorDetail(where, message)

