"""Properties of the pure actor core that must hold for any interleaving the log can produce."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core import codec
from core.events import Event
from core.names import Ref
from tests.conftest import REGISTRY
from tests.simworld import World, deployment_spec, pool_spec

POOLS = [Ref("gpupool", "infra", f"pool-{i}") for i in range(3)]


@st.composite
def scenarios(draw: Any) -> tuple[list[int], list[tuple[int, int]], int]:
    capacities = draw(st.lists(st.integers(0, 12), min_size=1, max_size=3))
    deployments = draw(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 3)), min_size=1, max_size=8))
    seed = draw(st.integers(0, 2**16))
    return capacities, deployments, seed


def _world(capacities: list[int], deployments: list[tuple[int, int]], seed: int) -> World:
    w = World(seed)
    for ref, cap in zip(POOLS, capacities, strict=False):
        w.apply(ref, pool_spec(cap), 1, created=True)
    for i, (replicas, gpus) in enumerate(deployments):
        w.apply(Ref("modeldeployment", "team-a", f"d{i}"), deployment_spec(replicas, gpus), 1, created=True)
    return w


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_placement_never_exceeds_capacity_and_never_starts_twice(scenario: Any) -> None:
    w = _world(*scenario)
    w.run(shuffle=True)  # World asserts capacity on every start
    for pool_ref in POOLS[: len(scenario[0])]:
        pool = w.states[pool_ref]
        assert pool.allocated <= pool.spec.capacity
    assert all(n == 1 for n in w.starts.values())
    for ref, state in w.states.items():
        if ref.kind == "modeldeployment":
            ready = sum(1 for r in state.replicas.values() if r.phase == "ready")
            assert ready <= state.spec.replicas


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 2)), min_size=1, max_size=6), st.integers(0, 999))
def test_everything_fits_so_everything_converges(deployments: list[tuple[int, int]], seed: int) -> None:
    need = sum(r * g for r, g in deployments)
    w = _world([need], deployments, seed)
    w.run(shuffle=True)
    for ref, state in w.states.items():
        if ref.kind == "modeldeployment":
            assert state.status.phase == "Ready", (ref, state.status)


def _recorded_history(seed: int) -> list[tuple[Ref, Event]]:
    w = World(seed)
    w.apply(POOLS[0], pool_spec(6), 1, created=True)
    for i in range(3):
        w.apply(Ref("modeldeployment", "team-a", f"d{i}"), deployment_spec(2), 1, created=True)
    w.run(shuffle=True)
    w.delete(Ref("modeldeployment", "team-a", "d0"), 1)
    w.run(shuffle=True)
    return w.history  # every fold into a resource's actor, delivered or its own write


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 1000), st.data())
def test_folding_a_redelivered_event_changes_nothing(seed: int, data: Any) -> None:
    history = _recorded_history(seed)
    cut = data.draw(st.integers(1, len(history)))
    states: dict[Ref, Any] = {}
    for ref, ev in history[:cut]:
        ctrl = REGISTRY.controller_for(ref.kind)
        assert ctrl is not None
        states[ref] = ctrl.evolve(states.get(ref, ctrl.initial(ref)), ev)
    ref, ev = history[cut - 1]
    ctrl = REGISTRY.controller_for(ref.kind)
    assert ctrl is not None
    assert ctrl.evolve(states[ref], ev) == states[ref]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 1000))
def test_snapshot_round_trips_and_events_round_trip(seed: int) -> None:
    history = _recorded_history(seed)
    states: dict[Ref, Any] = {}
    for ref, ev in history:
        ctrl = REGISTRY.controller_for(ref.kind)
        assert ctrl is not None
        states[ref] = ctrl.evolve(states.get(ref, ctrl.initial(ref)), ev)
        info = REGISTRY.kind(ref.kind)
        assert codec.decode(info, codec.encode(ev)) == ev
    for ref, state in states.items():
        ctrl = REGISTRY.controller_for(ref.kind)
        assert ctrl is not None
        assert codec.decode_state(codec.state_encoder.encode(state), ctrl.state_type) == state
