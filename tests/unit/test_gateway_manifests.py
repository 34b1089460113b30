"""Manifest parsing shared by HTTP, NATS and CLI: formats, multi-doc, lists, files, dirs, stdin."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from gateway.errors import ApiError
from gateway.manifests import MAX_BODY, format_of, load, parse, parse_one

A = {"kind": "ModelDeployment", "metadata": {"name": "a"}, "spec": {"replicas": 1}}
B = {"kind": "GpuPool", "metadata": {"name": "b"}, "spec": {"capacity": 8}}


@pytest.mark.parametrize(("content_type", "expected"), [
    (None, None), ("", None), ("application/json", "json"), ("application/json; charset=utf-8", "json"),
    ("application/yaml", "yaml"), ("text/yaml", "yaml"), ("application/x-yaml", "yaml"),
    ("application/merge-patch+json", "json"),
])
def test_format_of(content_type: str | None, expected: str | None) -> None:
    assert format_of(content_type) == expected


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(ApiError) as e:
        parse(b"{}", content_type)
    assert e.value.status == 415


@pytest.mark.parametrize("data", [
    b'{"kind": "ModelDeployment", "metadata": {"name": "a"}, "spec": {"replicas": 1}}\n',
    b"kind: ModelDeployment\nmetadata: {name: a}\nspec: {replicas: 1}\n",
])
def test_sniffs_json_and_yaml(data: bytes) -> None:
    assert parse(data) == [A]


def test_multi_doc_lists_and_items_flatten() -> None:
    yaml_docs = b"kind: ModelDeployment\nmetadata: {name: a}\nspec: {replicas: 1}\n---\n---\n" \
                b"items:\n- kind: GpuPool\n  metadata: {name: b}\n  spec: {capacity: 8}\n"
    assert parse(yaml_docs) == [A, B]
    import json

    assert parse(json.dumps([A, B]).encode()) == [A, B]
    assert parse(json.dumps({"kind": "List", "items": [A, B]}).encode()) == [A, B]


@pytest.mark.parametrize(("data", "content_type"), [(b'{"a": ', None), (b"a: [1", "application/yaml"),
                                                    (b"a: \x80\x81", "application/yaml")])
def test_malformed_is_400(data: bytes, content_type: str | None) -> None:
    with pytest.raises(ApiError) as e:
        parse(data, content_type)
    assert e.value.status == 400 and e.value.code == "Malformed"


def test_parse_one_and_size_limit() -> None:
    with pytest.raises(ApiError) as e:
        parse_one(b"a: 1\n---\nb: 2\n")
    assert e.value.status == 400
    with pytest.raises(ApiError) as e:
        parse(b" " * (MAX_BODY + 1))
    assert e.value.status == 413


def test_load_file_dir_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "b.json").write_text('{"kind": "GpuPool", "metadata": {"name": "b"}, "spec": {"capacity": 8}}')
    (tmp_path / "a.yaml").write_text("kind: ModelDeployment\nmetadata: {name: a}\nspec: {replicas: 1}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    assert load(str(tmp_path)) == [A, B]
    assert load(str(tmp_path / "a.yaml")) == [A]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"kind: GpuPool\nmetadata: {name: b}\n"
                                                                  b"spec: {capacity: 8}\n")))
    assert load("-") == [B]
    with pytest.raises(ApiError):
        load(str(tmp_path / "missing.yaml"))
