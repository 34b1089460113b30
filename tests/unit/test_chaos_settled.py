"""`chaos.verify.settled`: waiting for capacity counts as converged only while the pools, as they show now,
are as full as the deployment says.

The objects are those of a failing cluster chaos run (seq 181 and 205 of its log): w0-r1 waited, its
status saying "chaos-pool: 0 free"; a deletion then released the pool (4 of 4 free); the read model caught
up with w0-r1 still showing its old reason, `converge` called that settled, and the deployment's next
look at the pool (its requeue timer, 0.4 s later) scaled it up after the live listing — "projection ≠
rebuild" in the report, though the projection was right.
"""
from __future__ import annotations

from typing import Any

from chaos.verify import free_gpus, settled


def waiting(free: int, needs: int = 1, more: int = 3, names: tuple[str, ...] = ("chaos-pool",)) -> dict[str, Any]:
    frees = ", ".join(f"{name}: {free} free" for name in names)
    why = f"insufficient capacity for {more} more replica(s) of {needs} a100 GPU in us-west-2 ({frees})"
    return {"metadata": {"name": "w0-r1", "namespace": "chaos", "generation": 9},
            "status": {"phase": "Pending", "observedGeneration": 9, "desiredReplicas": 3, "readyReplicas": 0,
                       "replicasByPool": {}, "gpusByPool": {},
                       "conditions": [{"type": "Ready", "status": "False", "reason": "Unschedulable", "message": why,
                                       "lastTransitionSeq": 181},
                                      {"type": "Scheduled", "status": "False", "reason": "InsufficientCapacity",
                                       "message": why, "lastTransitionSeq": 181}]}}


def pool(free: int, capacity: int = 4, generation: int = 2, observed: int = 2, name: str = "chaos-pool",
         ns: str = "infra", phase: str = "Ready") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "generation": generation},
            "status": {"phase": phase, "observedGeneration": observed, "capacity": capacity,
                       "allocatedGpus": capacity - free, "freeGpus": free}}


def test_waiting_on_a_pool_that_is_full_now_is_settled() -> None:
    assert settled(waiting(0), free_gpus([pool(0)]))
    assert settled(waiting(1, needs=2), free_gpus([pool(1)])), "one free GPU is too few for a 2-GPU replica"


def test_waiting_on_a_pool_freed_since_is_not_settled() -> None:
    assert not settled(waiting(0), free_gpus([pool(4)])), "the failing run: the next look scales it up"
    assert not settled(waiting(0, needs=2), free_gpus([pool(1)])), "its next look rewrites the message"


def test_every_pool_it_names_must_be_full_now() -> None:
    both = waiting(0, names=("pool-a", "pool-b"))
    assert settled(both, free_gpus([pool(0, name="pool-a"), pool(0, name="pool-b")]))
    assert not settled(both, free_gpus([pool(0, name="pool-a"), pool(2, name="pool-b")]))


def test_waiting_is_not_settled_when_the_pools_cannot_tell() -> None:
    assert not settled(waiting(0)), "no pools given: only Ready counts"
    assert not settled(waiting(0), free_gpus([])), "the pool it names is not listed"
    assert not settled(waiting(0), free_gpus([pool(0, generation=3)])), "the pool's status lags its spec"
    assert not settled(waiting(0), free_gpus([pool(0, phase="Deleting")]))
    assert not settled(waiting(0), free_gpus([pool(0), pool(0, ns="other")])), "two pools of that name"


def test_ready_is_settled_whatever_the_pools() -> None:
    ready = waiting(0)
    ready["status"]["conditions"] = [{"type": "Ready", "status": "True", "reason": "Converged", "message": "",
                                      "lastTransitionSeq": 228}]
    assert settled(ready) and settled(ready, free_gpus([pool(4)]))
