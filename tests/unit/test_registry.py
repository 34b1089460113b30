"""The registry is a value: built by `load()` from the shipped kinds and BOSUN_KINDS, or by a test."""
from __future__ import annotations

import msgspec
import pytest

from actors import registry as registries
from actors.controller import DEFAULT, Registry
from actors.decisions import Decision
from bosun import Kind


class _Spec(msgspec.Struct, frozen=True):
    size: int = 0


class _State(msgspec.Struct, frozen=True):
    pass


def _toy(name: str) -> Kind[_Spec, _State]:
    return Kind(name=name, spec=_Spec, state=_State, decide=lambda _r, _now, _ctx: Decision(), controller="toys")


def test_load_returns_the_shipped_kinds_with_their_controllers() -> None:
    loaded = registries.load([])
    assert loaded is DEFAULT
    assert {"gpupool", "modeldeployment", "principal", "role", "rolebinding", "quota"} <= {
        info.key for info in loaded.kinds()}
    assert loaded.hosted("modeldeployment") and not loaded.hosted("role")
    assert loaded.hosted("quota")  # its ledger answers autoscalers (actors.governance.ledger)
    assert loaded.resolve("ModelDeployments") is loaded.kind("modeldeployment")
    assert set(loaded.view_types()) == {"gpupool", "quota", "node"}


def test_bosun_kinds_names_more_kind_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_KINDS", " examples.kinds.notebook , ")
    assert registries.extra_modules() == ["examples.kinds.notebook"]
    assert registries.load().resolve("notebooks") is DEFAULT.kind("notebook")


def test_a_test_may_build_its_own_registry() -> None:
    mine = Registry()
    kind = _toy("RegistryToy")
    kind.add_to(mine)
    toy = kind.compiled
    assert mine.controller_for("registrytoy") is toy
    assert mine.controllers() == [toy] and mine.hosted("registrytoy")
    assert DEFAULT.controller_for("registrytoy") is None  # the default registry never saw it
    assert DEFAULT.resolve("registrytoys") is None  # nor does any table beside it
