"""Decision replay against a real recorded history: today's decide reproduces it exactly, a deliberate
behaviour change is caught, and an incident bundle replays with no NATS at all."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from actors.controller import Controller
from actors.decisions import Context, Decision
from analysis import replay, replaysource
from cli.main import main
from core import bundles
from core.log import Log
from core.names import Ref
from core.replicas import StartReplica
from tests.conftest import REGISTRY, eventually
from tests.integration.test_controller import POOL, Running, apply, plane, ready  # noqa: F401
from tests.simworld import deployment_spec, pool_spec

DEP = Ref("modeldeployment", "team-a", "chat")


async def _recorded(plane: Running, log: Log) -> tuple[int, list[Any]]:
    await apply(log, POOL, pool_spec(8), 1)
    await apply(log, DEP, deployment_spec(3), 1)
    await eventually(lambda: ready(log, DEP, 1, 3))
    await apply(log, DEP, deployment_spec(1), 2)
    await eventually(lambda: ready(log, DEP, 2, 1))
    await plane.stop_all()  # nothing live may run the patched code below
    return await replaysource.collect(log, [DEP])


def _forgets_commands(ctrl: Controller[Any]) -> Controller[Any]:
    """A deliberate regression: the reconciler no longer orders replicas to start or stop."""

    def decide(state: Any, now: float, ctx: Context) -> Decision:
        d = ctrl.decide(state, now, ctx)
        return Decision(events=d.events, messages=d.messages, wake_at=d.wake_at)

    return dataclasses.replace(ctrl, decide=decide)


def _swap(monkeypatch: pytest.MonkeyPatch, ctrl: Controller[Any]) -> None:
    """Replace the kind's controller for this test (and the registry's per-kind actor lists built from it)."""
    monkeypatch.setitem(REGISTRY._controllers, ctrl.info.key, ctrl)
    monkeypatch.setattr(REGISTRY, "_actors", {})


def _doubles_gpus(ctrl: Controller[Any]) -> Controller[Any]:
    """A subtler regression: every replica is started with twice the GPUs the spec asks for."""

    def decide(state: Any, now: float, ctx: Context) -> Decision:
        d = ctrl.decide(state, now, ctx)
        orders = tuple(msgspec.structs.replace(o, command=msgspec.structs.replace(o.command, gpus=o.command.gpus * 2))
                       if isinstance(o.command, StartReplica) else o for o in d.commands)
        return msgspec.structs.replace(d, commands=orders)

    return dataclasses.replace(ctrl, decide=decide)


async def test_replay_check_reproduces_history_and_catches_a_changed_decide(
        plane: Running, log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    last, messages = await _recorded(plane, log)
    routed = replay.route(replay.decode(m) for m in messages)
    checked, divergences = replay.check(DEP, routed[DEP])
    assert checked >= 4 and divergences == [], [str(d) for d in divergences]
    pool_checked, pool_divergences = replay.check(POOL, routed[POOL])
    assert pool_checked >= 2 and pool_divergences == []
    assert any(r.message.headers.get("Bosun-Context") for r in routed[DEP])  # placement read the pool view

    bundle = tmp_path / "incident.jsonl"
    bundles.save(bundle, bundles.header([DEP], last), messages)
    ok = CliRunner().invoke(main, ["--server", "http://127.0.0.1:9", "replay", "--check", "--from-file",
                                   str(bundle)])
    assert ok.exit_code == 0, ok.output
    assert "0 divergences" in ok.output

    ctrl = REGISTRY.controller_for("modeldeployment")
    assert ctrl is not None
    _swap(monkeypatch, _forgets_commands(ctrl))
    caught, found = replay.check(DEP, routed[DEP])
    assert found and all(d.ref == DEP for d in found)
    bad = CliRunner().invoke(main, ["--server", "http://127.0.0.1:9", "replay", "--check", "--from-file",
                                    str(bundle)])
    assert bad.exit_code == 1, bad.output
    assert f"DIVERGENCE {DEP} at seq {found[0].seq}" in bad.output
    assert "only recorded" in bad.output and "cmd.sim" in bad.output
    assert replay.check(DEP, routed[DEP]) == (caught, found)  # deterministic: no clock, no randomness

    _swap(monkeypatch, _doubles_gpus(ctrl))
    subtle = CliRunner().invoke(main, ["--server", "http://127.0.0.1:9", "replay", "--check", "--from-file",
                                       str(bundle)])
    assert subtle.exit_code == 1, subtle.output
    assert "(replica.start):" in subtle.output and "$.gpus: 1 -> 2" in subtle.output
    print(bad.output, subtle.output)


async def test_replay_folds_history_from_a_bundle_without_nats(
        plane: Running, log: Log, tmp_path: Path) -> None:
    last, messages = await _recorded(plane, log)
    bundle = tmp_path / "incident.jsonl"
    bundles.save(bundle, bundles.header([DEP], last), messages)
    head, loaded = bundles.load(bundle)
    assert head.refs == ("modeldeployment/team-a/chat",) and loaded == messages
    assert any(m.subject.startswith("bosun.ev.gpupool.") for m in loaded)  # the pool it was placed on

    shown = CliRunner().invoke(main, ["--server", "http://127.0.0.1:9", "replay", "--from-file", str(bundle)])
    assert shown.exit_code == 0, shown.output
    assert "spec.applied" in shown.output and "$.spec" in shown.output
    routed = replay.route(replay.decode(m) for m in loaded)
    first_spec = next(m.seq for m in loaded if m.subject.endswith(".spec") and "modeldeployment" in m.subject)
    early = replay.state_at(DEP, routed[DEP], at=first_spec)
    assert early.generation == 1 and early.spec.replicas == 3
    assert replay.state_at(DEP, routed[DEP]).spec.replicas == 1
    as_json = CliRunner().invoke(main, ["--server", "http://127.0.0.1:9", "replay", "--from-file",
                                        str(bundle), "--at", str(first_spec), "-o", "json"])
    assert as_json.exit_code == 0 and '"replicas": 3' in as_json.output
