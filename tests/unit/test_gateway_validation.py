"""Manifest validation: the pure half of admission."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.admission.validation import Target, spec_detail, validate
from gateway.errors import ApiError


def md(**spec: Any) -> dict[str, Any]:
    return {"kind": "md", "metadata": {"name": "chat", "labels": {"app": "chat"}},
            "spec": {"model": "m", "replicas": 2, "placement": {"region": "r", "gpu": "g"}, **spec}}


def test_valid_manifest_is_normalized() -> None:
    v = validate(md(gpusPerReplica=1), Target("ModelDeployments", "demo", "chat"))
    assert (v.info.name, v.ref.namespace, v.ref.name) == ("ModelDeployment", "demo", "chat")
    assert v.spec == {"model": "m", "replicas": 2, "placement": {"region": "r", "gpu": "g"}}
    assert v.labels == {"app": "chat"}
    assert validate(md()).ref.namespace == "default"


@pytest.mark.parametrize(("doc", "target", "status", "field"), [
    (md(replicas=-1), Target(), 422, "$.spec.replicas"),
    (md(placement={"region": "r"}), Target(), 422, "$.spec.placement"),
    (md(autoscaling={"min": 3, "max": 1}), Target(), 422, "$.spec.autoscaling.min"),
    (md(), Target(name="other"), 400, "$.metadata.name"),
    (md(), Target(namespace="x"), 422, None),
    ({**md(), "kind": "GpuPool"}, Target(kind="md"), 400, "$.kind"),
    ({**md(), "extra": 1}, Target(), 422, "$.extra"),
])
def test_problems(doc: dict[str, Any], target: Target, status: int, field: str | None) -> None:
    doc = dict(doc)
    if target.namespace == "x":
        doc["metadata"] = {"name": "chat", "namespace": "y"}
    with pytest.raises(ApiError) as e:
        validate(doc, target)
    assert e.value.status == (400 if target.namespace == "x" else status)
    if field:
        assert e.value.details[0].field == field


def test_spec_detail_maps_msgspec_paths() -> None:
    assert spec_detail("Expected `int` >= 0 - at `$.replicas`").field == "$.spec.replicas"
    assert spec_detail("Object contains unknown field `x` - at `$.placement`").field == "$.spec.placement.x"
    assert spec_detail("Object missing required field `model`").field == "$.spec"
