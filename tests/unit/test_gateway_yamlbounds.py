"""YAML expansion bounded on the node graph (`gateway/yamlbounds.py`) and the off-loop parse (`gateway/offload.py`).

The bounds are the documented ones (values, text, depth with aliases expanded); what changed is where they
are counted, so the answers must be the ones `yaml.safe_load_all` + `bounds.check` gave, bombs refused
before any object is built, and the off-loop parse indistinguishable from the inline one.
"""
from __future__ import annotations

import threading
from typing import Any

import pytest
import yaml

from corpus import bad_inputs as corpus
from gateway import bounds, manifests, offload, yamlbounds
from gateway.errors import ApiError


def laughs(levels: int, fan: int = 9) -> bytes:
    """A billion-laughs document: `fan`^`levels` strings once expanded, a few hundred bytes written."""
    lines = [f"a: &a [{','.join(['lol'] * fan)}]\n"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * fan)}]\n" for i in range(levels - 1)]
    return "".join(lines).encode()


@pytest.mark.parametrize("data", [corpus.ALIAS_BOMB, corpus.LIST_BOMB, corpus.RECURSIVE_YAML, laughs(7)])
def test_bombs_are_refused_too_complex_before_construction(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    monkeypatch.setattr(yaml.constructor.SafeConstructor, "construct_document",
                        lambda self, node: built.append(node))
    with pytest.raises(ApiError) as e:
        yamlbounds.load_all(data)
    assert (e.value.status, e.value.code) == (400, "TooComplex")
    assert built == []


@pytest.mark.parametrize("data", [
    b"", b"---\n", b"a: 1\n---\nb: [1, 2]\n", b"x: &a {b: 1}\ny: {<<: *a, c: 2}\n", laughs(3),
    b"kind: ModelDeployment\nmetadata: {name: a, labels: {team: x}}\nspec: {replicas: 1}\n",
])
def test_within_the_bounds_documents_load_as_safe_load_all(data: bytes) -> None:
    assert yamlbounds.load_all(data) == list(yaml.safe_load_all(data))


def test_expansion_past_the_value_budget_is_refused_even_when_every_node_is_shared() -> None:
    fan = 10  # 10^5 leaves + the lists: just past MAX_NODES (100,000)
    assert fan ** 5 <= bounds.MAX_NODES < sum(fan ** k for k in range(1, 6))
    with pytest.raises(ApiError) as e:
        yamlbounds.load_all(laughs(5, fan))
    assert e.value.code == "TooComplex"


def test_heavy_expansion_is_signalled_to_the_caller_not_constructed() -> None:
    with pytest.raises(yamlbounds.Heavy):
        yamlbounds.load_all(laughs(4), heavy=1000)  # 9^4 = 6,561 strings
    assert len(yamlbounds.load_all(laughs(4))) == 1


def _big_yaml() -> bytes:
    labels = {f"k{i}": f"v{i}" for i in range(3000)}
    doc = {"kind": "ModelDeployment", "metadata": {"name": "a", "namespace": "n", "labels": labels},
           "spec": {"replicas": 1}}
    data = yaml.safe_dump(doc).encode()
    assert len(data) > offload.INLINE_BYTES
    return data


@pytest.mark.parametrize("data", [_big_yaml(), laughs(4), b"kind: [\n" + b"x" * (offload.INLINE_BYTES + 1)])
async def test_off_loop_parse_answers_as_the_inline_one(data: bytes) -> None:
    try:
        expected: Any = manifests.parse(data, "application/yaml")
    except ApiError as e:
        expected = (e.status, e.code, e.message)
    try:
        got: Any = await offload.parse(data, "application/yaml")
    except ApiError as e:
        got = (e.status, e.code, e.message)
    assert got == expected


async def test_a_large_body_is_parsed_in_the_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    parse = manifests.parse

    def spy(data: bytes, content_type: str | None = None, heavy: int | None = None) -> list[Any]:
        threads.append(threading.current_thread().name)
        return parse(data, content_type, heavy)

    monkeypatch.setattr(manifests, "parse", spy)
    await offload.parse_one(_big_yaml(), "application/yaml")
    await offload.parse_one(b"kind: ModelDeployment\n", "application/yaml")
    assert threads[0].startswith("bosun-parse") and threads[1] == threading.main_thread().name
