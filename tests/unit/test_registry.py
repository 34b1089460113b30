"""The registry is a value: built by `load()` from the shipped kinds and BOSUN_KINDS, or by a test."""
from __future__ import annotations

import msgspec
import pytest

from actors import registry as registries
from actors.controller import DEFAULT, Controller, Registry, register
from actors.decisions import Context, Decision
from core import kinds
from core.events import Event, StatusUpdated
from core.kinds import KindInfo
from core.names import Ref


class _Spec(msgspec.Struct, frozen=True):
    size: int = 0


class _State(msgspec.Struct, frozen=True):
    ref: Ref


def _toy(name: str) -> Controller[_State]:
    def decide(_s: _State, _now: float, _ctx: Context) -> Decision:
        return Decision()

    def evolve(s: _State, _e: Event) -> _State:
        return s

    def status_of(_s: _State) -> StatusUpdated | None:
        return None

    return Controller(info=KindInfo(name=name, plural=f"{name.lower()}s", spec_type=_Spec, controller="toys"),
                      state_type=_State, initial=lambda ref: _State(ref=ref), evolve=evolve, decide=decide,
                      status_of=status_of)


def test_load_returns_the_shipped_kinds_with_their_controllers() -> None:
    loaded = registries.load([])
    assert loaded is DEFAULT
    assert {"gpupool", "modeldeployment", "principal", "role", "rolebinding", "quota"} <= {
        info.key for info in loaded.kinds()}
    assert loaded.hosted("modeldeployment") and not loaded.hosted("role")
    assert loaded.hosted("quota")  # its ledger answers autoscalers (actors.governance.ledger)
    assert loaded.resolve("ModelDeployments") is loaded.kind("modeldeployment")
    assert set(loaded.view_types()) == {"gpupool", "quota"}


def test_bosun_kinds_names_more_kind_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_KINDS", " examples.kinds.notebook , ")
    assert registries.extra_modules() == ["examples.kinds.notebook"]
    assert registries.load().resolve("notebooks") is DEFAULT.kind("notebook")


def test_a_test_may_build_its_own_registry() -> None:
    mine = Registry()
    toy = register(_toy("RegistryToy"), registry=mine)
    try:
        assert mine.controller_for("registrytoy") is toy
        assert mine.controllers() == [toy] and mine.hosted("registrytoy")
        assert DEFAULT.controller_for("registrytoy") is None  # the default registry never saw it
    finally:
        kinds._KINDS.pop("registrytoy", None)
        for alias in ("registrytoy", "registrytoys"):
            kinds._ALIASES.pop(alias, None)
