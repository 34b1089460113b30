"""The CAS-register linearizability checker on hand-built histories: accepted ones and rejected ones."""
from __future__ import annotations

import random

from chaos.linearizable import Cas, check

INIT = (0, 1)


def test_a_sequential_chain_is_linearizable() -> None:
    h = [Cas(0, 1, 1, "a", True, 5), Cas(2, 3, 5, "b", True, 9), Cas(4, 5, 5, "c", False)]
    result = check(h, INIT)
    assert result.ok and result.order == (0, 1, 2)


def test_overlapping_writes_may_be_reordered() -> None:
    # B (expects 5) is invoked before A (which makes 5) returns: A then B is a valid order.
    h = [Cas(0, 3, 1, "a", True, 5), Cas(1, 4, 5, "b", True, 9), Cas(0.5, 2, 1, "c", False)]
    result = check(h, INIT)
    assert result.ok and result.order.index(0) < result.order.index(1)


def test_two_successes_from_the_same_version_are_rejected() -> None:
    # Both expected version 1 and both were told they won: a lost update.
    h = [Cas(0, 2, 1, "a", True, 5), Cas(0, 2, 1, "b", True, 6)]
    assert not check(h, INIT).ok


def test_a_coalesced_duplicate_is_rejected_by_the_strict_model() -> None:
    # What Bosun's dedup did with two *identical* writes (same If-Match, same content) before each request
    # had its own msg id: both 202, one version. The chaos suite's writers send identical content.
    h = [Cas(0, 2, 1, "same", True, 5), Cas(0, 2, 1, "same", True, 5)]
    assert not check(h, INIT).ok


def test_a_success_against_a_superseded_version_is_rejected() -> None:
    h = [Cas(0, 1, 1, "a", True, 5), Cas(2, 3, 1, "b", True, 9)]  # b starts after a returned
    assert not check(h, INIT).ok


def test_a_refusal_with_nothing_in_the_way_is_rejected() -> None:
    assert not check([Cas(0, 1, 1, "a", False)], INIT).ok


def test_a_success_must_not_precede_its_cause_in_real_time() -> None:
    # B expects the version A produces, but B returned before A was even invoked.
    h = [Cas(5, 6, 1, "a", True, 5), Cas(0, 1, 5, "b", True, 9)]
    assert not check(h, INIT).ok


def test_an_unknown_outcome_may_have_applied_or_not() -> None:
    took = [Cas(0, 9, 1, "a", None), Cas(2, 3, 1, "b", False)]  # b refused: only if a applied
    left = [Cas(0, 9, 1, "a", None), Cas(2, 3, 1, "b", True, 7)]  # b won: only if a did not
    assert check(took, INIT).ok and check(left, INIT).ok


def simulated(clients: int, ops: int, seed: int) -> list[Cas]:
    """A real register driven by overlapping clients: each op takes effect at one instant in its window."""
    rng = random.Random(seed)
    version, history, t = 1, [], 0.0
    reads = dict.fromkeys(range(clients), 1)
    for _ in range(clients * ops):
        c = rng.randrange(clients)
        t += rng.uniform(0.0, 1.0)
        call, ret = t - rng.uniform(0, 3), t + rng.uniform(0, 3)
        if reads[c] == version:
            version += 1
            history.append(Cas(call, ret, reads[c], f"{c}-{version}", True, version, c))
        else:
            history.append(Cas(call, ret, reads[c], f"{c}-x", False, None, c))
        reads[c] = version if rng.random() < 0.6 else reads[c]
    return history


def test_a_real_register_with_eight_clients_is_accepted_quickly() -> None:
    for seed in range(3):
        assert check(simulated(8, 25, seed), INIT).ok


def test_one_forged_success_in_a_long_history_is_found() -> None:
    h = simulated(8, 25, 7)
    i = next(i for i, c in enumerate(h) if c.ok is False)
    h[i] = Cas(h[i].call, h[i].ret, h[i].expect, "forged", True, 10_000, h[i].client)
    assert not check(h, INIT).ok
