"""`bosun.testing` as a kind author uses it (its module doc and docs/kinds.md show these): by hand, and
against the simulated data plane."""
from __future__ import annotations

from actors.capacity import CapacityRefused, CapacityRequested, PoolView
from actors.claims import ClaimRetrying
from bosun.testing import Actor, World
from core.names import Ref
from examples.kinds.notebook import NOTEBOOK

POOL = {"region": "us-west-2", "gpu": "a100", "capacity": 1, "namespaces": ["*"]}
NB = {"image": "jupyter", "pool": "infra/p"}


def test_by_hand_given_events_when_decide_then_a_decision() -> None:
    pool = PoolView(ref=Ref("gpupool", "infra", "p"), region="us-west-2", gpu="a100", capacity=1, allocated=0)
    nb = Actor(NOTEBOOK, "team-a/nb").spec(NB)
    d = nb.decide(now=0.0, views=[pool])
    assert d.messages[0].event == CapacityRequested(request_id=1, requester=nb.ref.token, pool="infra/p", gpus=1)
    assert nb.status is not None and nb.status.phase == "Progressing"
    assert nb.decide(now=1.0, views=[pool]).empty  # its request is out: nothing more until the answer


def test_by_hand_a_refusal_is_retried_after_a_backoff() -> None:
    nb = Actor(NOTEBOOK, "team-a/nb").spec(NB)
    nb.decide(now=0.0)
    nb.given(CapacityRefused(request_id=1, requester=nb.ref.token, pool="infra/p", gpus=1, available=0,
                             reason="needs 1 more GPU, 0 free"))
    d = nb.decide(now=10.0)
    [retry] = [e for e in d.events if isinstance(e, ClaimRetrying)]
    assert retry.attempt == 1 and 10.0 <= retry.at <= 11.0 and d.wake_at == retry.at and not d.messages
    assert nb.status is not None and nb.status.phase == "Pending" and "retry 1" in nb.status.conditions[0].message
    assert nb.decide(now=retry.at - 0.001).empty  # not before its time
    [again] = nb.decide(now=retry.at).messages
    assert again.event == CapacityRequested(request_id=2, requester=nb.ref.token, pool="infra/p", gpus=1)


def test_against_the_sim_a_notebook_holds_retries_and_gives_back() -> None:
    w = World(NOTEBOOK)
    w.apply("GpuPool", "infra/p", POOL)
    w.apply("Notebook", "team-a/one", NB)
    w.run()
    one = w.status("Notebook", "team-a/one")
    assert one is not None and one.phase == "Ready" and w.view("GpuPool", "infra/p").allocated == 1
    w.apply("Notebook", "team-a/two", NB)
    w.run(until=lambda w: w.resource("Notebook", "team-a/two") is not None
          and w.resource("Notebook", "team-a/two").claim.attempt >= 3)
    waits = [e.at for ref, e in w.log if ref.name == "two" and isinstance(e, ClaimRetrying)]
    assert len(waits) == 3 and waits == sorted(waits)
    two = w.status("Notebook", "team-a/two")
    assert two is not None and two.phase == "Pending" and "needs 1 more GPU, 0 free" in two.conditions[0].message
    w.delete("Notebook", "team-a/one")
    w.run(until=lambda w: w.status("Notebook", "team-a/two").phase == "Ready")  # type: ignore[union-attr]
    assert w.resource("Notebook", "team-a/one").gone
    w.delete("Notebook", "team-a/two")
    w.run()
    assert w.view("GpuPool", "infra/p").allocated == 0 and not w.replicas


def test_against_the_sim_the_shipped_kinds_run_too() -> None:
    w = World()
    w.apply("GpuPool", "infra/p", {**POOL, "capacity": 4})
    w.apply("ModelDeployment", "team-a/chat", {"model": "m", "replicas": 3,
                                                "placement": {"region": "us-west-2", "gpu": "a100"}})
    w.run()
    chat = w.status("md", "team-a/chat")
    assert chat is not None and chat.phase == "Ready" and chat.fields["readyReplicas"] == 3


def test_against_the_sim_a_pool_grants_no_kind_of_a_namespace_it_does_not_admit() -> None:
    """Pool admission (`spec.namespaces`) holds for every kind that claims GPUs through the capacity protocol,
    not only for the deployments whose placement filters pools: the pool itself refuses to grow the others."""
    w = World(NOTEBOOK)
    w.apply("GpuPool", "infra/p", {"region": "us-west-2", "gpu": "a100", "capacity": 1, "namespaces": []})  # infra only
    w.apply("Notebook", "team-a/one", NB)
    w.run(until=lambda w: w.resource("Notebook", "team-a/one") is not None
          and w.resource("Notebook", "team-a/one").claim.attempt >= 1)
    one = w.status("Notebook", "team-a/one")
    assert one is not None and one.phase == "Pending" and "does not admit namespace team-a" in str(one.conditions)
    assert w.view("GpuPool", "infra/p").allocated == 0
    w.apply("GpuPool", "infra/p", {**POOL, "namespaces": ["team-a"]})
    w.run(until=lambda w: w.status("Notebook", "team-a/one").phase == "Ready")  # type: ignore[union-attr]
    assert w.view("GpuPool", "infra/p").allocated == 1


def test_against_the_sim_a_deployment_a_pool_does_not_admit_waits_and_says_why() -> None:
    """Unschedulable for a long while (simulated): its requeue backs off to the cap, never overflows."""
    w = World()
    w.apply("GpuPool", "infra/p", {"region": "us-west-2", "gpu": "a100", "capacity": 4, "namespaces": []})
    w.apply("ModelDeployment", "team-a/chat", {"model": "m", "replicas": 1,
                                                "placement": {"region": "us-west-2", "gpu": "a100"}})
    w.run(until=lambda w: w.now > 10_000.0)
    chat = w.status("md", "team-a/chat")
    assert chat is not None and chat.phase == "Pending"
    assert "GpuPool infra/p does not admit namespace team-a" in str(chat.conditions)


def test_against_the_sim_a_sim_pool_that_lists_no_namespace_serves_every_one() -> None:
    """The contract's example domain: team-a's deployment on infra's sim pool, no `namespaces` written (a sim
    pool runs no tenant code; a process pool that lists none serves only its own namespace)."""
    w = World()
    w.apply("GpuPool", "infra/p", {"region": "us-west-2", "gpu": "a100", "capacity": 4})
    w.apply("ModelDeployment", "team-a/chat", {"model": "m", "replicas": 2,
                                                "placement": {"region": "us-west-2", "gpu": "a100"}})
    w.run()
    chat = w.status("md", "team-a/chat")
    assert chat is not None and chat.phase == "Ready" and w.view("GpuPool", "infra/p").namespaces == ("*",)
