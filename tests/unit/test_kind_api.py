"""The Kind API's promises (pure): the runtime owns the envelope — typed spec, incarnations, finalizers,
status deduplication, fixed usage reported to Quotas — and snapshots of the layout before it still load."""
from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

import bosun
from actors.capacity import PoolView
from actors.quotas import QuotaLimits, QuotaRequested, QuotaView
from bosun.testing import Actor, context
from core import codec
from core.events import StatusUpdated
from core.names import Ref
from examples.kinds.notebook import NOTEBOOK
from tests.conftest import REGISTRY
from tests.simworld import World, deployment_spec, pool_spec

ROOT = Path(__file__).parents[2]
KIND_NAMES = re.compile(r"modeldeployment|gpupool|notebook", re.IGNORECASE)


class Spec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    size: int


class Count(msgspec.Struct, frozen=True):
    seen: int = 0


def _count(r: bosun.Resource[Spec, Count], e: bosun.Event) -> Count:
    return msgspec.structs.replace(r.state, seen=r.state.seen + 1)


def _ready(r: bosun.Resource[Spec, Count], now: float, ctx: bosun.Context) -> bosun.Decision:
    return bosun.Decision(events=(r.status_update("Ready", fields={"size": r.spec.size}),))


COUNTER = bosun.Kind(name="Counter", spec=Spec, state=Count, evolve=_count, decide=_ready,
                     finalizers=("counters.test/held",), reborn=lambda s: Count(seen=s.seen))


def test_no_kind_name_in_the_generic_layers() -> None:
    """Quota, cost, what-if's admission side and the read model work through the kinds' hooks: they never
    name a kind."""
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for top in ("gateway", "projections") for p in sorted((ROOT / top).rglob("*.py"))
             if "whatif" not in p.parts
             for n, line in enumerate(p.read_text().splitlines(), 1) if KIND_NAMES.search(line)]
    assert found == []


def test_an_unchanged_status_is_never_appended_twice() -> None:
    counter = Actor(COUNTER, "default/c").spec({"size": 2})
    first = counter.decide()
    assert [type(e) for e in first.events] == [StatusUpdated]
    assert counter.decide().events == ()  # decide returned the same status again: the runtime drops it
    assert counter.spec({"size": 3}).decide().events[0].fields == {"size": 3}


def test_the_spec_is_decoded_once_as_the_kinds_type() -> None:
    counter = Actor(COUNTER, "default/c").spec({"size": 2})
    assert counter.resource.spec == Spec(size=2) and counter.resource.generation == 1
    with pytest.raises(msgspec.ValidationError):
        counter.spec({"size": "two"})


def test_finalizers_are_held_until_released_and_a_new_incarnation_starts_afresh() -> None:
    counter = Actor(COUNTER, "default/c").spec({"size": 1})
    assert counter.resource.finalizers == ("counters.test/held",)
    counter.delete()
    assert counter.resource.deleting and not counter.resource.gone
    counter.given(*counter.resource.release())
    assert counter.resource.gone and counter.decide().empty  # nothing is decided for a resource gone
    seen = counter.state.seen
    counter.spec({"size": 5})  # re-created: a new incarnation, keeping what `reborn` keeps
    assert counter.resource.finalizers == ("counters.test/held",) and not counter.resource.deleting
    assert counter.status is None and counter.state.seen == seen + 1


def test_fixed_usage_is_reported_to_the_namespaces_quotas_whatever_the_kind() -> None:
    pool = PoolView(ref=Ref("gpupool", "infra", "p"), region="r", gpu="a100", capacity=4, allocated=0,
                    price_per_gpu_hour=2.5)
    quota = QuotaView(ref=Ref("quota", "team-a", "q"), limits=QuotaLimits(gpus=4))
    nb = Actor(NOTEBOOK, "team-a/nb").spec({"image": "jupyter", "pool": "infra/p", "gpus": 2})
    reports = [m.event for m in nb.decide(views=[pool, quota]).messages if isinstance(m.event, QuotaRequested)]
    assert reports == [QuotaRequested(request_id=1, requester="notebook.team-a.nb", quota="q", replicas=1,
                                      gpus_per_replica=2, price_per_gpu_hour=2.5, fixed=True)]
    assert not [m for m in nb.decide(views=[pool, quota]).messages if isinstance(m.event, QuotaRequested)]
    nb.delete()
    [release] = [m.event for m in nb.decide(views=[pool, quota]).messages if isinstance(m.event, QuotaRequested)]
    assert release.replicas == 0 and release.request_id == 2


def test_snapshots_written_before_the_envelope_decode_as_todays_state() -> None:
    """Snapshots written by the kinds that kept their lifecycle fields inline (a pool, a deployment, one
    deleted, a Quota's ledger, an autoscaler) load as the very state today's code folds from the same log."""
    legacy = json.loads((Path(__file__).parent / "legacy_snapshots.json").read_text())
    w = World(behaviours={"modeldeployment": 1})  # the deployments' decisions as the Bosun that wrote them
    pool, chat = Ref("gpupool", "infra", "p"), Ref("modeldeployment", "team-a", "chat")
    quota, gone = Ref("quota", "team-a", "q"), Ref("modeldeployment", "team-a", "gone")
    w.apply(pool, {**pool_spec(4), "pricePerGpuHour": 2.0}, 1, created=True)
    w.apply(quota, {"limits": {"gpus": 8, "costPerHour": 100}}, 1, created=True)
    w.apply(chat, deployment_spec(2), 1, created=True)
    w.apply(gone, deployment_spec(1), 1, created=True)
    w.run()
    w.delete(gone, 1)
    w.run()
    for key, ref in (("gpupool/p", pool), ("modeldeployment/chat", chat), ("quota/q", quota),
                     ("modeldeployment/gone", gone)):
        ctrl = REGISTRY.controller_for(ref.kind)
        assert ctrl is not None
        assert codec.decode_state(legacy[key].encode(), ctrl.state_type) == w.states[ref], key
    [scaler] = REGISTRY.companions("modeldeployment")
    old = codec.decode_state(legacy["autoscaler"].encode(), scaler.state_type)
    assert old.state.bounds is not None and old.state.region == "us-west-2" and not old.deleting


def test_replay_shows_a_resource_as_kinds_always_kept_it() -> None:
    nb = Actor(NOTEBOOK, "team-a/nb").spec({"image": "jupyter", "pool": "infra/p"})
    shown = codec.state_to_builtins(nb.resource)
    assert shown["spec"] == {"image": "jupyter", "pool": "infra/p", "gpus": 1} and shown["generation"] == 1
    assert shown["started"] == 0 and "state" not in shown


def test_context_keys_views_by_their_kind() -> None:
    view = PoolView(ref=Ref("gpupool", "infra", "p"), region="r", gpu="g", capacity=1, allocated=0)
    assert context(view).of("gpupool") == (view,)
